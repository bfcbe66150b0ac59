import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { RandomSource } from '../domain/random.ts';
import type { Keyring } from '../domain/secret-box.ts';
import type { Dialect } from '../store/database.ts';
import type { Database } from '../store/schema.ts';
import type { AssertionSigner } from './assertion-signer.ts';
import type { EventSink } from './security-events.ts';
import type { PasswordHasher } from './password-hasher.ts';

/** Where a request came from; lands in audit rows and security emails. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  /** The request's id (X-Request-Id), so an audit row leads to the request's log lines; null at the CLI. */
  requestId?: string | null;
}

export const CLI_CONTEXT: RequestContext = { ip: null, userAgent: 'tessera-cli', requestId: null };

export interface KeyProvider {
  keyring(): Keyring;
  /** Re-reads the keyring, e.g. after another process rotated keys. */
  reload(): Keyring;
}

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** Everything a use case may touch. Built once in deps.ts; tests build their own. */
export interface ServiceDeps {
  db: Kysely<Database>;
  dialect: Dialect;
  config: Config;
  clock: Clock;
  random: RandomSource;
  keys: KeyProvider;
  passwords: PasswordHasher;
  events: EventSink;
  /** Signs forward-auth's Tessera-Assertion with the OpenID provider's signing keys. */
  assertions: AssertionSigner;
  log: Logger;
  /** Called after a transaction that queued mail committed, so delivery starts without waiting for the poll. */
  onMailQueued(): void;
}
