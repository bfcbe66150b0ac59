// Preloaded into a `tessera serve` child (NODE_OPTIONS=--import) by startup.test.ts: when the process
// exits, writes to LOADED_MODULES_OUT which of Node's own modules and which packages it loaded, so a
// test can hold start-up to loading only what serving needs (each package costs resident memory).
// JavaScript, not TypeScript: stripping its types would itself load amaro, which the test looks for.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

/** @type {Set<string>} */
const packages = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    const name = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)?.[1];
    if (name) packages.add(name);
    return resolved;
  },
});
// Node's list of the built-in modules it loaded (undocumented, in every release since 0.x).
const { moduleLoadList } = /** @type {{ moduleLoadList: string[] }} */ (/** @type {unknown} */ (process));
process.on('exit', () => {
  writeFileSync(String(process.env.LOADED_MODULES_OUT), JSON.stringify({ builtins: moduleLoadList, packages: [...packages].sort() }));
});
