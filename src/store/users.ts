import { type Kysely, PostgresAdapter, type Selectable, type SqlBool, sql } from 'kysely';
import type { OrgRow } from './orgs.ts';
import type { Database, UserTable } from './schema.ts';
import { preparedQuery } from './prepared.ts';
import type { SessionRow } from './sessions.ts';
import type { TotpCredentialRow } from './totp.ts';
import { likePrefix } from './like.ts';

export type UserRow = Selectable<UserTable>;
type Db = Kysely<Database>;

const ORG_COLUMNS = [
  'orgs.name as org__name',
  'orgs.edition as org__edition',
  'orgs.require_2fa as org__require_2fa',
  'orgs.grace_days as org__grace_days',
  'orgs.require_2fa_since as org__require_2fa_since',
  'orgs.created_at as org__created_at',
  'orgs.require_phishing_resistant as org__require_phishing_resistant',
  'orgs.require_phishing_resistant_since as org__require_phishing_resistant_since',
] as const;

export async function insertUser(db: Db, row: UserRow): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

const userByEmail = preparedQuery((db, p: { email: string }) => db.selectFrom('users').selectAll().where('email', '=', p.email));
export async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
  return (await userByEmail(db, { email })).rows[0] ?? null;
}

const userById = preparedQuery((db, p: { id: string }) => db.selectFrom('users').selectAll().where('id', '=', p.id));
export async function findUserById(db: Db, id: string): Promise<UserRow | null> {
  return (await userById(db, { id })).rows[0] ?? null;
}

/**
 * A user and their organisation in one statement: every request with a session needs both, and
 * one query instead of two was a measurable share of a sign-in step (bench/RESULTS.md).
 */
export async function findUserWithOrg(db: Db, id: string): Promise<{ user: UserRow; org: OrgRow } | null> {
  const row = await db
    .selectFrom('users')
    .innerJoin('orgs', 'orgs.id', 'users.org_id')
    .selectAll('users')
    .select(ORG_COLUMNS)
    .where('users.id', '=', id)
    .executeTakeFirst();
  return row ? splitOrg(row) : null;
}

/**
 * The session behind a cookie with its user and organisation, in one statement: every signed-in
 * request starts here, and this was two queries (~10 % of the CPU of GET /me, bench/profile.ts).
 */
const sessionWithAccount = preparedQuery((db, p: { idHash: string }) =>
  db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .innerJoin('orgs', 'orgs.id', 'users.org_id')
    .selectAll('users')
    .select(ORG_COLUMNS)
    // Whether the person has an authenticator: GET /me shows it, and a statement of its own was a
    // second round trip on every such request (one index probe here).
    .select((eb) => eb.exists(eb.selectFrom('totp_credentials').select('totp_credentials.user_id').whereRef('totp_credentials.user_id', '=', 'users.id')).as('totp__enabled'))
    // And how many passkeys: GET /me shows the count, which was a second statement (one more index probe here).
    .select((eb) => eb.selectFrom('passkeys').select((p) => p.fn.countAll<number>().as('n')).whereRef('passkeys.user_id', '=', 'users.id').as('passkeys__count'))
    .select([
      'sessions.id_hash as session__id_hash',
      'sessions.level as session__level',
      'sessions.next_step as session__next_step',
      'sessions.created_at as session__created_at',
      'sessions.last_seen_at as session__last_seen_at',
      'sessions.password_verified_at as session__password_verified_at',
      'sessions.ip as session__ip',
      'sessions.user_agent as session__user_agent',
      'sessions.sign_in_method as session__sign_in_method',
      'sessions.authenticated_at as session__authenticated_at',
    ])
    .where('sessions.id_hash', '=', p.idHash),
);

/** The person's second factors as the session lookup read them. */
export interface SessionFactors {
  totpEnabled: boolean;
  passkeyCount: number;
}

export async function findSessionWithAccount(db: Db, idHash: string): Promise<{ session: SessionRow; user: UserRow; org: OrgRow; factors: SessionFactors } | null> {
  const row = (await sessionWithAccount(db, { idHash })).rows[0];
  if (!row) return null;
  const session: SessionRow = {
    id_hash: row.session__id_hash,
    user_id: row.id,
    level: row.session__level,
    next_step: row.session__next_step,
    created_at: row.session__created_at,
    last_seen_at: row.session__last_seen_at,
    password_verified_at: row.session__password_verified_at,
    ip: row.session__ip,
    user_agent: row.session__user_agent,
    sign_in_method: row.session__sign_in_method,
    authenticated_at: row.session__authenticated_at,
  };
  // SQLite answers 1 or 0, PostgreSQL true or false; PostgreSQL's count is a bigint, handed over as a string.
  return { session, ...splitOrg(row), factors: { totpEnabled: Boolean(row.totp__enabled), passkeyCount: Number(row.passkeys__count ?? 0) } };
}

type WithOrgColumns = UserRow & {
  org__name: string;
  org__edition: OrgRow['edition'];
  org__require_2fa: number;
  org__grace_days: number;
  org__require_2fa_since: number | null;
  org__created_at: number;
  org__require_phishing_resistant: number;
  org__require_phishing_resistant_since: number | null;
};

/**
 * The person and the organisation out of one joined row. Field by field, not by rest-destructuring:
 * every signed-in request comes through here, and copying the row's other properties generically
 * (V8's slow path) was a measurable share of GET /me (bench:api-callgrind).
 */
function splitOrg(row: WithOrgColumns): { user: UserRow; org: OrgRow } {
  const user: UserRow = {
    id: row.id,
    org_id: row.org_id,
    email: row.email,
    password_hash: row.password_hash,
    role: row.role,
    licensed: row.licensed,
    sso: row.sso,
    recovery_email: row.recovery_email,
    failed_code_attempts: row.failed_code_attempts,
    locked_at: row.locked_at,
    weak_password_hash: row.weak_password_hash,
    created_at: row.created_at,
    name: row.name,
  };
  const org: OrgRow = {
    id: row.org_id,
    name: row.org__name,
    edition: row.org__edition,
    require_2fa: row.org__require_2fa,
    grace_days: row.org__grace_days,
    require_2fa_since: row.org__require_2fa_since,
    created_at: row.org__created_at,
    require_phishing_resistant: row.org__require_phishing_resistant,
    require_phishing_resistant_since: row.org__require_phishing_resistant_since,
  };
  return { user, org };
}

/**
 * Locks the person's row for the rest of the transaction (PostgreSQL: FOR NO KEY UPDATE, which
 * still lets other transactions insert rows that refer to the person; SQLite: BEGIN IMMEDIATE
 * already runs one writer at a time) and reads their wrong codes in a row and lock.
 * Every transaction that checks an app code or changes a person's second factor starts here, so
 * checks for one person, from any process, run one after another, each seeing the count the one
 * before left; and all of them lock in one order (this row first), so none can deadlock another.
 */
const lockedStandingOf = preparedQuery((db, p: { userId: string }) =>
  db
    .selectFrom('users')
    .select(['failed_code_attempts', 'locked_at'])
    .where('id', '=', p.userId)
    .$if(db.getExecutor().adapter instanceof PostgresAdapter, (q) => q.forNoKeyUpdate()),
);
export async function lockPerson(db: Db, userId: string): Promise<{ failed_code_attempts: number; locked_at: number | null } | null> {
  return (await lockedStandingOf(db, { userId })).rows[0] ?? null;
}

/**
 * lockPerson and the person's authenticator in one statement: a code check needs both, and on
 * PostgreSQL each statement is a round trip. The credential's row is locked too, so that a check
 * that waited for the person reads the credential as the check before it left it (a locked row
 * is re-read at its newest version; an unlocked one in a join would be read as the statement's
 * snapshot saw it, before the wait). Null when there is no such person or no authenticator; the
 * caller then asks again the long way (lockPerson, findTotpCredential) to tell which.
 */
const lockedWithTotpOf = preparedQuery((db, p: { userId: string }) =>
  db
    .selectFrom('users')
    .innerJoin('totp_credentials', 'totp_credentials.user_id', 'users.id')
    .select(['users.failed_code_attempts', 'users.locked_at'])
    .select(['totp_credentials.key_id', 'totp_credentials.secret_ciphertext', 'totp_credentials.last_used_step', 'totp_credentials.confirmed_at'])
    .where('users.id', '=', p.userId)
    .$if(db.getExecutor().adapter instanceof PostgresAdapter, (q) => q.forNoKeyUpdate('users').forNoKeyUpdate('totp_credentials')),
);
export async function lockPersonWithTotp(db: Db, userId: string): Promise<{ failed_code_attempts: number; locked_at: number | null; credential: TotpCredentialRow } | null> {
  const row = (await lockedWithTotpOf(db, { userId })).rows[0];
  if (!row) return null;
  const { failed_code_attempts, locked_at, ...rest } = row;
  return { failed_code_attempts, locked_at, credential: { user_id: userId, ...rest } };
}

/** lockPerson, reading the whole row: for a caller that needs the person as well (one statement, not two). */
const lockedRowOf = preparedQuery((db, p: { userId: string }) =>
  db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', p.userId)
    .$if(db.getExecutor().adapter instanceof PostgresAdapter, (q) => q.forNoKeyUpdate()),
);
export async function lockPersonRow(db: Db, userId: string): Promise<UserRow | null> {
  return (await lockedRowOf(db, { userId })).rows[0] ?? null;
}

/** One more wrong code in a row; the caller holds the row (lockPerson). */
const countWrong = preparedQuery((db, p: { userId: string }) =>
  db
    .updateTable('users')
    .set((eb) => ({ failed_code_attempts: eb('failed_code_attempts', '+', 1) }))
    .where('id', '=', p.userId),
);
export async function countWrongCode(db: Db, userId: string): Promise<void> {
  await countWrong(db, { userId });
}

/**
 * Takes one code attempt before the code is even looked at, in its own committed statement: of
 * any number of concurrent guesses, across processes, at most `maxAttempts` in a row are ever
 * checked. Returns the attempt's number, or null when the account is locked or out of attempts.
 */
const takeAttempt = preparedQuery((db, p: { userId: string; maxAttempts: number }) =>
  db
    .updateTable('users')
    .set((eb) => ({ failed_code_attempts: eb('failed_code_attempts', '+', 1) }))
    .where('id', '=', p.userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '<', p.maxAttempts)
    .returning('failed_code_attempts'),
);
export async function takeCodeAttempt(db: Db, userId: string, maxAttempts: number): Promise<number | null> {
  return (await takeAttempt(db, { userId, maxAttempts })).rows[0]?.failed_code_attempts ?? null;
}

/** Gives back an attempt that was not a guess (a double submit, a replay, bad input). */
export async function returnCodeAttempt(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set((eb) => ({ failed_code_attempts: eb('failed_code_attempts', '-', 1) }))
    .where('id', '=', userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '>', 0)
    .execute();
}

/**
 * Locks the account if the wrong guesses in a row have reached the limit. Decided on the stored
 * count, not on the caller's attempt number, so a correct code that reset the count in the
 * meantime wins. True only for the one request that locked it (so one lock email).
 */
export async function lockIfAttemptsExhausted(db: Db, userId: string, maxAttempts: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ locked_at: now })
    .where('id', '=', userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '>=', maxAttempts)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

const clearFailures = preparedQuery((db, p: { userId: string }) =>
  db.updateTable('users').set({ failed_code_attempts: 0 }).where('id', '=', p.userId).where('failed_code_attempts', '>', 0),
);
export async function clearCodeFailures(db: Db, userId: string): Promise<void> {
  await clearFailures(db, { userId });
}

/** Returns whether the user was locked. */
export async function unlockUser(db: Db, userId: string): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ failed_code_attempts: 0, locked_at: null })
    .where('id', '=', userId)
    .where('locked_at', 'is not', null)
    .executeTakeFirst();
  await clearCodeFailures(db, userId);
  return Number(r.numUpdatedRows) > 0;
}

/** 2FA on: the app (joined as totp_credentials) or at least one passkey (migration 014). */
const mfaOn = sql<SqlBool>`(totp_credentials.user_id is not null or exists (select 1 from passkeys where passkeys.user_id = users.id))`;

export interface UserWithMfa extends UserRow {
  mfa_enabled: boolean;
  reset_pending: boolean;
  deactivated: boolean;
}

/** Which people an admin lists. */
export type UserListFilter = 'all' | 'enabled' | 'disabled' | 'unavailable' | 'locked' | 'reset_pending';

/** Which people a list view holds: a filter, and optionally the start of an email address. */
export interface UserView {
  filter: UserListFilter;
  emailPrefix?: string | null;
  /** False on the standard edition: nobody there can have 2FA, so nobody's is "off". */
  mfaOffered?: boolean;
}

function usersInView(db: Db, orgId: string, now: number, view: UserView) {
  const resetPending = sql<SqlBool>`exists (select 1 from link_tokens where link_tokens.user_id = users.id
    and link_tokens.purpose = 'admin_reset' and link_tokens.used_at is null and link_tokens.revoked_at is null
    and link_tokens.expires_at > ${now})`;
  let q = db
    .selectFrom('users')
    .leftJoin('totp_credentials', 'totp_credentials.user_id', 'users.id')
    .selectAll('users')
    .select((eb) => [
      mfaOn.as('mfa_enabled'),
      resetPending.as('reset_pending'),
      eb.exists(eb.selectFrom('user_deactivations').select('user_deactivations.user_id').whereRef('user_deactivations.user_id', '=', 'users.id')).as('deactivated'),
    ])
    .where('users.org_id', '=', orgId);
  if (view.filter === 'enabled') q = q.where(mfaOn);
  // "Off" is for people who could turn it on; the rest without an app are "not available", as counted above.
  const offered = view.mfaOffered ?? true;
  if (view.filter === 'disabled' || view.filter === 'unavailable') q = q.where(sql<SqlBool>`not (${mfaOn})`);
  if (view.filter === 'disabled') q = offered ? q.where('users.licensed', '=', 1).where('users.sso', '=', 0) : q.where(sql<SqlBool>`1 = 0`);
  if (view.filter === 'unavailable' && offered) q = q.where((eb) => eb.or([eb('users.licensed', '!=', 1), eb('users.sso', '!=', 0)]));
  if (view.filter === 'locked') q = q.where('users.locked_at', 'is not', null);
  if (view.filter === 'reset_pending') q = q.where(resetPending);
  if (view.emailPrefix) q = q.where(sql<SqlBool>`users.email like ${likePrefix(view.emailPrefix)} escape '\\'`);
  return q;
}

/**
 * One page of an organisation's people, in email order, starting after `afterEmail`; filtered in
 * the query, so a page costs the same with a hundred people or a million.
 */
export async function listUsersInOrg(
  db: Db,
  orgId: string,
  now: number,
  page: UserView & { afterEmail: string | null; limit: number; beforeEmail?: string | null },
): Promise<UserWithMfa[]> {
  let q = usersInView(db, orgId, now, page);
  if (page.afterEmail !== null) q = q.where('users.email', '>', page.afterEmail);
  // Paging backwards reads the page before `beforeEmail` from the end, then puts it in order again.
  if (page.beforeEmail) q = q.where('users.email', '<', page.beforeEmail);
  const ordered = await q.orderBy('users.email', page.beforeEmail ? 'desc' : 'asc').limit(page.limit).execute();
  const rows = page.beforeEmail ? ordered.reverse() : ordered;
  return rows.map((r) => ({ ...r, mfa_enabled: Boolean(r.mfa_enabled), reset_pending: Boolean(r.reset_pending), deactivated: Boolean(r.deactivated) }));
}

/**
 * How many people of the view there are (before `beforeEmail`, when given), counting at most `cap`:
 * "101–200 of 251" must not cost a scan of a million rows, so past the cap the caller shows no figure.
 */
export async function countUsersInView(db: Db, orgId: string, now: number, view: UserView & { beforeEmail?: string | null }, cap: number): Promise<number> {
  let q = usersInView(db, orgId, now, view).clearSelect().select('users.id');
  if (view.beforeEmail) q = q.where('users.email', '<', view.beforeEmail);
  const row = await db.selectFrom(q.limit(cap + 1).as('v')).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface OrgUserCounts {
  total: number;
  /** Licensed and signing in with a password: the people 2FA can be for. */
  licensedPasswordUsers: number;
  /** Of those, the ones without an app: "2FA off" (everyone else without one cannot have it). */
  licensedPasswordUsersWithout: number;
  /** Admins without an app: one stolen password away from every account's 2FA. */
  adminsWithout: number;
  enabled: number;
  locked: number;
  resetsPending: number;
}

/**
 * People counted per statement on SQLite. Counting a million in one statement took 1.4 s, and
 * SQLite runs a statement on the event loop: every sign-in waited for the admin's page. A slice of
 * 2,000 holds it for ~4 ms (5,000: ~10–20 ms), and other requests run between slices; the million
 * then take ~1.7 s in all. PostgreSQL counts in its own process, so there it is one statement:
 * 0.37 s for a million, against 2.4–3.1 s in slices.
 */
export const COUNT_SLICE_SIZE = 2000;

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The overview's figures, counted by the database rather than by loading everyone; on SQLite a
 * slice of people at a time in email order (the users_org_email index). Someone added or changed
 * while the slices run may be counted as before or after the change: figures for an overview, not
 * a ledger. `sliceSize` null counts in one statement (PostgreSQL's default).
 */
export async function countUsersInOrg(
  db: Db,
  orgId: string,
  now: number,
  sliceSize: number | null = db.getExecutor().adapter instanceof PostgresAdapter ? null : COUNT_SLICE_SIZE,
): Promise<OrgUserCounts> {
  const counts = { total: 0, licensedPasswordUsers: 0, licensedPasswordUsersWithout: 0, adminsWithout: 0, enabled: 0, locked: 0 };
  let after = '';
  for (;;) {
    const slice = await db
      .selectFrom((qb) =>
        qb
          .selectFrom('users')
          .leftJoin('totp_credentials', 'totp_credentials.user_id', 'users.id')
          .select((eb) => [
            'users.email',
            eb.case().when(eb.and([eb('users.licensed', '=', 1), eb('users.sso', '=', 0)])).then(1).else(0).end().as('eligible'),
            eb.case().when(eb.and([eb('users.licensed', '=', 1), eb('users.sso', '=', 0), sql<SqlBool>`not (${mfaOn})`])).then(1).else(0).end().as('off'),
            eb.case().when(eb.and([eb('users.role', '=', 'admin'), sql<SqlBool>`not (${mfaOn})`])).then(1).else(0).end().as('admin_off'),
            eb.case().when(mfaOn).then(1).else(null).end().as('enabled'),
            'users.locked_at',
          ])
          .where('users.org_id', '=', orgId)
          .where('users.email', '>', after)
          .$if(sliceSize !== null, (q) => q.orderBy('users.email').limit(sliceSize!))
          .as('slice'),
      )
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        eb.fn.sum<number>('slice.eligible').as('eligible'),
        eb.fn.sum<number>('slice.off').as('off'),
        eb.fn.sum<number>('slice.admin_off').as('admin_off'),
        eb.fn.count<number>('slice.enabled').as('enabled'),
        eb.fn.count<number>('slice.locked_at').as('locked'),
        eb.fn.max('slice.email').as('last'),
      ])
      .executeTakeFirstOrThrow();
    // PostgreSQL answers counts and sums as strings (bigint, numeric); a sum over no rows is null.
    const total = Number(slice.total);
    counts.total += total;
    counts.licensedPasswordUsers += Number(slice.eligible ?? 0);
    counts.licensedPasswordUsersWithout += Number(slice.off ?? 0);
    counts.adminsWithout += Number(slice.admin_off ?? 0);
    counts.enabled += Number(slice.enabled);
    counts.locked += Number(slice.locked);
    if (sliceSize === null || total < sliceSize || slice.last === null) break;
    after = slice.last;
    await nextMacrotask();
  }
  const resets = await db
    .selectFrom('link_tokens')
    .innerJoin('users', 'users.id', 'link_tokens.user_id')
    .select((eb) => eb.fn.count<number>('link_tokens.user_id').distinct().as('n'))
    .where('users.org_id', '=', orgId)
    .where('link_tokens.purpose', '=', 'admin_reset')
    .where('link_tokens.used_at', 'is', null)
    .where('link_tokens.revoked_at', 'is', null)
    .where('link_tokens.expires_at', '>', now)
    .executeTakeFirstOrThrow();
  return { ...counts, resetsPending: Number(resets.n) };
}

/**
 * A new password hash, only over the one the caller verified (compare-and-swap); a benchmark
 * user's cheap hash becomes a real one with it.
 */
export async function replacePasswordHash(db: Db, userId: string, verified: string | null, passwordHash: string): Promise<boolean> {
  if (verified === null) return false;
  const r = await db
    .updateTable('users')
    .set({ password_hash: passwordHash, weak_password_hash: 0 })
    .where('id', '=', userId)
    .where('password_hash', '=', verified)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A password set through an emailed link, where there is no old password to compare against. */
export async function setPasswordHash(db: Db, userId: string, passwordHash: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, weak_password_hash: 0 }).where('id', '=', userId).execute();
}

/** Of `emails`, those that already have an account (in any organisation: an address signs in to one). */
export async function findTakenEmails(db: Db, emails: string[]): Promise<Set<string>> {
  const taken = new Set<string>();
  for (let i = 0; i < emails.length; i += 500) {
    const rows = await db.selectFrom('users').select('email').where('email', 'in', emails.slice(i, i + 500)).execute();
    for (const r of rows) taken.add(r.email);
  }
  return taken;
}

export async function setRoleAndLicence(db: Db, userId: string, role: UserRow['role'], licensed: number): Promise<void> {
  await db.updateTable('users').set({ role, licensed }).where('id', '=', userId).execute();
}

/** The person's new sign-in address; the unique index on email refuses one taken meanwhile. */
export async function setEmail(db: Db, userId: string, email: string): Promise<void> {
  await db.updateTable('users').set({ email }).where('id', '=', userId).execute();
}

export async function setName(db: Db, userId: string, name: string | null): Promise<void> {
  await db.updateTable('users').set({ name }).where('id', '=', userId).execute();
}

/** Where "Lost your mobile device?" links go; null sends them to the sign-in address. */
export async function setRecoveryEmail(db: Db, userId: string, recoveryEmail: string | null): Promise<void> {
  await db.updateTable('users').set({ recovery_email: recoveryEmail }).where('id', '=', userId).execute();
}
