#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively): no build step, so
// `npx tessera` works right after `npm ci`.
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// Node keeps the compiled (and type-stripped) modules on disk between runs: the first answer after
// start comes in ~600 ms instead of ~900 ms on the benchmark machine (bench/RESULTS.md). The cache
// lives beside the installed modules, not in a shared /tmp where another local user could plant
// one; where it cannot be written, Node simply runs without it.
module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/tessera-compile', import.meta.url)));
// `serve` runs for days, so memory comes before a little speed: left alone, V8 grows the young
// generation to 128 MB under load and lets the old one swell before collecting (server RSS ~300 MB
// in the benchmark, ~130 MB with these flags, for about the same CPU per request; bench/RESULTS.md).
// Tried instead: --heap-growing-percent=20 without --optimize-for-size spared the ~20 ms compacting
// pauses every few seconds and ~8 % of the code step's CPU, but cost 8–10 MB of RSS under load
// (anonymous memory, mostly optimised code), which the 150 MB target has no room for.
// Set before the app's modules load, while the young generation is still at its initial size.
if (process.argv[2] === 'serve') setFlagsFromString('--semi-space-growth-factor=1 --optimize-for-size');
await import('../src/cli/main.ts');
