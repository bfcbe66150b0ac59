#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively): no build step, so
// `npx tessera` works right after `npm ci`.
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node keeps the compiled (and type-stripped) modules on disk between runs: the first answer after
// start comes in ~600 ms instead of ~900 ms on the benchmark machine (bench/RESULTS.md). The cache
// lives beside the installed modules, not in a shared /tmp where another local user could plant
// one; where it cannot be written, Node simply runs without it.
module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/tessera-compile', import.meta.url)));
await import('../src/cli/main.ts');
