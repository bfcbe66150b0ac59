import { createSecretKey, type KeyObject } from 'node:crypto';

// Node 24 works out what kind of key it was given by probing a raw Buffer for the KeyObject and
// CryptoKey brands, and every failed probe builds an Error with a stack trace: createCipheriv and
// createHmac with a Buffer key cost 14–16 µs instead of ~3 µs with a KeyObject, ~7 % of a code
// step's CPU (bench/profile.ts). Long-lived keys (the key ring's) get their KeyObject once here.

const keyObjects = new WeakMap<Buffer, KeyObject>();

/** The KeyObject for a raw key, made once per key Buffer. */
export function keyObjectFor(raw: Buffer): KeyObject {
  let key = keyObjects.get(raw);
  if (!key) keyObjects.set(raw, (key = createSecretKey(raw)));
  return key;
}
