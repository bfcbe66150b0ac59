import type { Kysely, Selectable } from 'kysely';
import type { Database, OidcBackchannelTable } from './schema.ts';

type Db = Kysely<Database>;
export type BackchannelRow = Selectable<OidcBackchannelTable>;

/** One notice per (client, provider session): queued twice, it is still sent once. */
export async function enqueueBackchannel(db: Db, row: Pick<BackchannelRow, 'client_id' | 'account_id' | 'sid'>, now: number): Promise<void> {
  await db
    .insertInto('oidc_backchannel_queue')
    .values({ id: `${row.client_id}:${row.sid}`, ...row, created_at: now, attempts: 0, next_attempt_at: now, sent_at: null, given_up_at: null, last_error: null })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function listDueBackchannel(db: Db, now: number, limit: number): Promise<BackchannelRow[]> {
  return db.selectFrom('oidc_backchannel_queue').selectAll().where('sent_at', 'is', null).where('given_up_at', 'is', null).where('next_attempt_at', '<=', now).orderBy('created_at').limit(limit).execute();
}

/** Takes the notice for this process unless another moved it first (the mail queue's lease). */
export async function leaseBackchannel(db: Db, row: BackchannelRow, until: number): Promise<boolean> {
  const r = await db.updateTable('oidc_backchannel_queue').set({ next_attempt_at: until }).where('id', '=', row.id).where('sent_at', 'is', null).where('next_attempt_at', '=', row.next_attempt_at).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function finishBackchannel(db: Db, id: string, outcome: { sentAt?: number; givenUpAt?: number; attempts: number; nextAttemptAt?: number; error?: string }): Promise<void> {
  await db
    .updateTable('oidc_backchannel_queue')
    .set({
      attempts: outcome.attempts,
      sent_at: outcome.sentAt ?? null,
      given_up_at: outcome.givenUpAt ?? null,
      ...(outcome.nextAttemptAt !== undefined ? { next_attempt_at: outcome.nextAttemptAt } : {}),
      last_error: outcome.error ?? null,
    })
    .where('id', '=', id)
    .execute();
}

/** The registered back-channel logout URIs: the only private or loopback targets the provider may call. */
export async function listBackchannelUris(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('oidc_clients').select('metadata').execute();
  const uris = rows.map((r) => (JSON.parse(r.metadata) as { backchannel_logout_uri?: string }).backchannel_logout_uri).filter((u): u is string => typeof u === 'string');
  return new Set(uris.map((u) => new URL(u).href));
}

/** Notices not (yet) delivered to the people of one organisation, newest first: what its admins are shown. */
export async function listUndeliveredBackchannelOfOrg(db: Db, orgId: string, limit: number): Promise<BackchannelRow[]> {
  return db
    .selectFrom('oidc_backchannel_queue as q')
    .innerJoin('users as u', 'u.id', 'q.account_id')
    .selectAll('q')
    .where('u.org_id', '=', orgId)
    .where('q.sent_at', 'is', null)
    .orderBy('q.created_at', 'desc')
    .limit(limit)
    .execute();
}
