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
// in the benchmark). A young generation kept at its initial size and an old one that grows by 20 %
// per collection hold it to ~130 MB. --optimize-for-size held it there too, but its compacting
// "reduce" collections stopped the event loop for ~20 ms every few seconds under load, and its
// leaner code cost ~30 % of the code step's throughput (bench/RESULTS.md, issue 5's notes).
// Set before the app's modules load, while the young generation is still at its initial size.
if (process.argv[2] === 'serve') setFlagsFromString('--semi-space-growth-factor=1 --heap-growing-percent=20');
await import('../src/cli/main.ts');
