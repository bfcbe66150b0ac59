#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively): no build step, so
// `npx tessera` works right after `npm ci`.
import '../src/cli/main.ts';
