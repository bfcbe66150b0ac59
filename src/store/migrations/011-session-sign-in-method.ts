import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * How each session was signed in and when its last factor was given, so forward-auth (and the
 * OpenID provider) can state a truthful acr, amr and auth_time and enforce max_age. Sessions that
 * exist when this runs keep null: they are treated as proving nothing beyond being signed in, so
 * a route that needs 2FA asks those people to sign in once more.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('sign_in_method', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('authenticated_at', 'bigint').execute();
}
