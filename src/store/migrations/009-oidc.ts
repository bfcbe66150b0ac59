import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * The OpenID provider's storage: its models (sessions, interactions, codes, grants, tokens) in one
 * table keyed by (model, id) with the lookup columns the library and Tessera need pulled out of the
 * JSON; a tombstone per revoked grant; registered clients with sealed secrets; signing keys sealed
 * with the key ring; the back-channel logout queue.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  const millis = 'bigint';
  await db.schema
    .createTable('oidc_models')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text')
    .addColumn('uid', 'text')
    .addColumn('user_code', 'text')
    .addColumn('account_id', 'text')
    .addColumn('client_id', 'text')
    .addColumn('expires_at', millis)
    .addColumn('consumed_at', millis)
    .addPrimaryKeyConstraint('oidc_models_pk', ['model', 'id'])
    .execute();
  await db.schema.createIndex('oidc_models_grant').on('oidc_models').column('grant_id').execute();
  await db.schema.createIndex('oidc_models_uid').on('oidc_models').columns(['model', 'uid']).execute();
  await db.schema.createIndex('oidc_models_account').on('oidc_models').columns(['account_id', 'model']).execute();
  await db.schema.createIndex('oidc_models_client').on('oidc_models').column('client_id').execute();
  await db.schema.createIndex('oidc_models_expiry').on('oidc_models').column('expires_at').execute();

  await db.schema
    .createTable('oidc_revoked_grants')
    .addColumn('grant_id', 'text', (c) => c.primaryKey())
    .addColumn('revoked_at', millis, (c) => c.notNull())
    .addColumn('expires_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('oidc_clients')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('secret_key_id', 'text')
    .addColumn('secret_ciphertext', 'text')
    .addColumn('third_party', 'integer', (c) => c.notNull())
    .addColumn('org_ids', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('oidc_signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    // The generation makes key creation idempotent across processes starting together.
    .addColumn('generation', 'integer', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('sealed_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('retired_at', millis)
    .addUniqueConstraint('oidc_signing_keys_generation', ['alg', 'generation'])
    .execute();

  // Back-channel logout notices, sent with retries by a loop like the mail queue's.
  await db.schema
    .createTable('oidc_backchannel_queue')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('sid', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', millis, (c) => c.notNull())
    .addColumn('sent_at', millis)
    .addColumn('given_up_at', millis)
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('oidc_backchannel_due').on('oidc_backchannel_queue').columns(['sent_at', 'next_attempt_at']).execute();
}
