import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Passkeys and security keys (WebAuthn credentials), the challenges issued for them, and the
 * organisation's "phishing-resistant 2FA required" policy.
 *  - `passkeys.credential_id` is unique across everyone: the authenticator names the credential,
 *    and a second registration of the same one (or someone else's) must fail, not shadow it.
 *  - A challenge is bound to what asked for it (`binding_hash`: the session, or for a passwordless
 *    sign-in the browser's own short-lived cookie) and deleted by the statement that uses it.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  const millis = 'bigint';
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('credential_id', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', millis, (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('last_used_at', millis)
    .execute();
  await db.schema.createIndex('passkeys_user').on('passkeys').column('user_id').execute();
  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('challenge', 'text', (c) => c.primaryKey())
    .addColumn('binding_hash', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('expires_at', millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webauthn_challenges_binding').on('webauthn_challenges').columns(['binding_hash', 'purpose']).execute();
  await db.schema.createIndex('webauthn_challenges_expiry').on('webauthn_challenges').column('expires_at').execute();
  await db.schema.alterTable('orgs').addColumn('require_phishing_resistant', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('orgs').addColumn('require_phishing_resistant_since', 'bigint').execute();
}
