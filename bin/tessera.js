#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively): no build step, so
// `npx tessera` works right after `npm ci`.
import { accessSync, constants } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

/** Set on the process `serve` starts afresh as (below), so that happens once. */
const STARTED_AGAIN = 'TESSERA_STARTED_AGAIN';
const startedAgain = process.env[STARTED_AGAIN] === '1';
delete process.env[STARTED_AGAIN];

// Node keeps the compiled (and type-stripped) modules on disk between runs: the first answer after
// start comes in ~600 ms instead of ~900 ms on the benchmark machine (bench/RESULTS.md). The cache
// lives beside the installed modules, not in a shared /tmp where another local user could plant
// one; where it cannot be written, Node simply runs without it. `serve` has a cache of its own: it
// runs with other V8 flags (below), V8 rejects code cached under other flags, and with one cache a
// command after a serve rewrote ~760 entries (0.5 s instead of 0.3 s), and so did the next serve.
const serve = process.argv[2] === 'serve';
const cacheDir = `../node_modules/.cache/tessera-compile/${serve ? 'serve' : 'commands'}`;
module.enableCompileCache?.(fileURLToPath(new URL(cacheDir, import.meta.url)));
// `serve` runs for days, so memory comes before a little speed: left alone, V8 grows the young
// generation to 128 MB under load and lets the old one swell before collecting (server RSS ~300 MB
// in the benchmark, ~130 MB with these flags, for about the same CPU per request; bench/RESULTS.md).
// Tried instead: --heap-growing-percent=20 without --optimize-for-size spared the ~20 ms compacting
// pauses every few seconds and ~8 % of the code step's CPU, but cost 8–10 MB of RSS under load
// (anonymous memory, mostly optimised code), which the 150 MB target has no room for.
// Set before the app's modules load, while the young generation is still at its initial size.
if (serve) setFlagsFromString('--semi-space-growth-factor=1 --optimize-for-size');
const { main } = await import('../src/cli/main.ts');
if (strippedTypes() && module.getCompileCacheDir?.() && cacheKeepsStrippedCode()) {
  if (!serve) await compileWhatLoadsLater();
  else if (!startedAgain && canStartAgain()) {
    await compileWhatLoadsLater();
    module.flushCompileCache();
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [STARTED_AGAIN]: '1' });
  }
}
await main(process.argv.slice(2));

// Node strips the types of a module missing from the compile cache with amaro (swc built to
// WebAssembly) and keeps amaro loaded: the first `serve` after an install or an upgrade would hold
// its ~18 MB for as long as it runs (bench/RESULTS.md), and so would a serve whose first /oidc
// request compiles the OpenID provider, which loads on first use. So a `serve` that had to strip
// types compiles the provider too, writes the cache and starts afresh as the same process (execve:
// same pid and stdio) with every module compiled: once only (the marker), and not where the cache
// cannot be written. Any other command that had to strip compiles the provider as well: where
// NODE_COMPILE_CACHE names one cache for all (Node then ignores the directories above), a serve
// after an upgrade's `migrate` finds its own modules compiled and would not start afresh.

/**
 * Node keeps type-stripped code in the compile cache from 23.7 on (nodejs/node#56629). Before that
 * (22.18 was measured) amaro loads at every start, cache or not, so starting afresh would only
 * double the start and compiling the provider would only slow every CLI command.
 */
function cacheKeepsStrippedCode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 7);
}

/** Whether this process had to strip types: amaro loads for the first module not in the cache. */
function strippedTypes() {
  const loadList = /** @type {{ moduleLoadList?: string[] }} */ (process).moduleLoadList;
  return loadList?.some((m) => m.includes('amaro')) ?? false;
}

async function compileWhatLoadsLater() {
  try {
    await import('../src/oidc/provider.ts');
  } catch {
    // Compiled even so; a provider that cannot load says so on the first /oidc request, as always.
  }
}

/** Not under a debugger (it would attach twice), nor where execve would abort instead of throwing. */
function canStartAgain() {
  if (typeof process.execve !== 'function' || process.execArgv.some((a) => a.startsWith('--inspect'))) return false;
  try {
    accessSync(process.execPath, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
