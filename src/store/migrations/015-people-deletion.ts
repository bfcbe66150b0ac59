import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Deleting a person. `deleted_people` keeps the pseudonym their audit events are shown under
 * ("deleted person #…"). The audit log stays append-only for everyone else: the one change the
 * database now lets through is pseudonymising the rows about or by a deleted person — their address
 * becomes the pseudonym, source address and browser are dropped, details may be scrubbed — while
 * the event itself (id, time, type, organisation, person ids, request id) cannot change, and no row
 * can be removed.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('deleted_people')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('pseudonym', 'text', (c) => c.notNull().unique())
    .addColumn('deleted_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_by', 'text', (c) => c.notNull())
    .execute();
  if (dialect === 'sqlite') {
    await sql`DROP TRIGGER audit_events_no_update`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
      WHEN NOT (
        NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.type = OLD.type AND NEW.org_id IS OLD.org_id
        AND NEW.actor_user_id IS OLD.actor_user_id AND NEW.subject_user_id IS OLD.subject_user_id AND NEW.request_id IS OLD.request_id
        AND EXISTS (SELECT 1 FROM deleted_people d WHERE d.user_id = OLD.subject_user_id OR d.user_id = OLD.actor_user_id)
        AND (NEW.subject_email IS OLD.subject_email OR NEW.subject_email = (SELECT pseudonym FROM deleted_people WHERE user_id = OLD.subject_user_id))
        AND (NEW.actor = OLD.actor OR NEW.actor = (SELECT pseudonym FROM deleted_people WHERE user_id = OLD.actor_user_id))
        AND (NEW.ip IS NULL OR NEW.ip IS OLD.ip) AND (NEW.user_agent IS NULL OR NEW.user_agent IS OLD.user_agent)
      )
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`.execute(db);
  } else {
    await sql`CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
      BEGIN
        IF TG_OP = 'UPDATE'
          AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.type = OLD.type AND NEW.org_id IS NOT DISTINCT FROM OLD.org_id
          AND NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id AND NEW.subject_user_id IS NOT DISTINCT FROM OLD.subject_user_id
          AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
          AND EXISTS (SELECT 1 FROM deleted_people d WHERE d.user_id = OLD.subject_user_id OR d.user_id = OLD.actor_user_id)
          AND (NEW.subject_email IS NOT DISTINCT FROM OLD.subject_email OR NEW.subject_email = (SELECT pseudonym FROM deleted_people WHERE user_id = OLD.subject_user_id))
          AND (NEW.actor = OLD.actor OR NEW.actor = (SELECT pseudonym FROM deleted_people WHERE user_id = OLD.actor_user_id))
          AND (NEW.ip IS NULL OR NEW.ip IS NOT DISTINCT FROM OLD.ip) AND (NEW.user_agent IS NULL OR NEW.user_agent IS NOT DISTINCT FROM OLD.user_agent)
        THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit log is append-only';
      END $$ LANGUAGE plpgsql`.execute(db);
  }
}
