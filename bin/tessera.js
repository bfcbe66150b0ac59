#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively): no build step, so
// `npx tessera` works right after `npm ci`.
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

/** Set on the process `serve` starts afresh as (see startAgainCompiled), so that happens once. */
const STARTED_AGAIN = 'TESSERA_STARTED_AGAIN';
const startedAgain = process.env[STARTED_AGAIN] === '1';
delete process.env[STARTED_AGAIN];

// Node keeps the compiled (and type-stripped) modules on disk between runs: the first answer after
// start comes in ~600 ms instead of ~900 ms on the benchmark machine (bench/RESULTS.md). The cache
// lives beside the installed modules, not in a shared /tmp where another local user could plant
// one; where it cannot be written, Node simply runs without it.
module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/tessera-compile', import.meta.url)));
const serve = process.argv[2] === 'serve';
// `serve` runs for days, so memory comes before a little speed: left alone, V8 grows the young
// generation to 128 MB under load and lets the old one swell before collecting (server RSS ~300 MB
// in the benchmark, ~130 MB with these flags, for about the same CPU per request; bench/RESULTS.md).
// Tried instead: --heap-growing-percent=20 without --optimize-for-size spared the ~20 ms compacting
// pauses every few seconds and ~8 % of the code step's CPU, but cost 8–10 MB of RSS under load
// (anonymous memory, mostly optimised code), which the 150 MB target has no room for.
// Set before the app's modules load, while the young generation is still at its initial size.
if (serve) setFlagsFromString('--semi-space-growth-factor=1 --optimize-for-size');
const { main } = await import('../src/cli/main.ts');
if (serve && !startedAgain) await startAgainCompiled();
await main(process.argv.slice(2));

/**
 * Node strips the types of a module missing from the compile cache with amaro (swc built to
 * WebAssembly) and keeps amaro loaded: after an install or an upgrade, the first `serve` would hold
 * its ~18 MB for as long as it runs (bench/RESULTS.md). So a `serve` that had to compile also
 * compiles what loads on first use (the OpenID provider), writes the cache, and starts afresh as
 * the same process (execve: same pid, same open files) with everything compiled. Once only: where
 * the cache cannot be written, it runs on with amaro loaded, as before.
 */
async function startAgainCompiled() {
  const loadList = /** @type {{ moduleLoadList?: string[] }} */ (process).moduleLoadList;
  if (!loadList?.some((m) => m.includes('amaro')) || typeof process.execve !== 'function' || !module.getCompileCacheDir?.()) return;
  await import('../src/oidc/provider.ts');
  module.flushCompileCache();
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [STARTED_AGAIN]: '1' });
}
