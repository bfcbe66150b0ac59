import { TesseraError } from '../domain/errors.ts';
import type { SecurityEvent } from '../domain/events.ts';
import { newId } from '../domain/random.ts';
import { generateToken, hashToken } from '../domain/tokens.ts';
import { mailTemplates } from '../mail/templates.ts';
import { type ApiTokenRow, findApiTokenByHash, insertApiToken, listApiTokens, noteApiTokenUsed, revokeApiToken } from '../store/api-tokens.ts';
import { isUniqueViolation } from '../store/database.ts';
import { findOrgById } from '../store/orgs.ts';
import type { UserRow } from '../store/users.ts';
import { type Account, userActor } from './accounts.ts';
import { requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { queueMail } from './security-events.ts';

/**
 * Organisation API tokens: an admin creates one (shown once, stored as SHA-256) so the product's
 * backend can invite, change and deactivate people through the admin API. A token acts for its
 * organisation only, as an admin who never has a session: it signs nobody in, and routes for a
 * signed-in person do not read it (http/guards.ts).
 */

/** A prefix that says what a leaked string is, for secret scanners and for whoever finds it. */
export const API_TOKEN_PREFIX = 'tessera_at_';
export const API_TOKEN_DEFAULT_DAYS = 90;
export const API_TOKEN_MAX_DAYS = 365;
export const API_TOKEN_NAME_MAX_LENGTH = 64;
const DAY_MS = 86_400_000;

export interface ApiTokenView {
  id: string;
  name: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  state: 'active' | 'expired' | 'revoked';
}

function viewOf(row: ApiTokenRow, now: number): ApiTokenView {
  const state = row.revoked_at !== null ? 'revoked' : row.expires_at <= now ? 'expired' : 'active';
  return {
    id: row.id, name: row.name, createdBy: row.created_by, createdAt: new Date(row.created_at), expiresAt: new Date(row.expires_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at), revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at), state,
  };
}

function parseName(value: unknown): string {
  const name = typeof value === 'string' ? value.trim() : '';
  // Control characters would let a name forge lines in the audit CSV or the email.
  if (name.length === 0 || name.length > API_TOKEN_NAME_MAX_LENGTH || /\p{Cc}/u.test(name)) {
    throw new TesseraError('invalid_request', { field: 'name' }, `Name the token (1 to ${API_TOKEN_NAME_MAX_LENGTH} characters), for example after the system that uses it.`);
  }
  return name;
}

function parseDays(value: unknown): number {
  if (value === undefined || value === '') return API_TOKEN_DEFAULT_DAYS;
  const days = typeof value === 'string' && /^\d{1,4}$/.test(value) ? Number(value) : value;
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > API_TOKEN_MAX_DAYS) {
    throw new TesseraError('invalid_request', { field: 'expiresInDays' }, `A token expires after 1 to ${API_TOKEN_MAX_DAYS} days.`);
  }
  return days;
}

function tokenEvent(deps: ServiceDeps, ctx: RequestContext, type: SecurityEvent['type'], orgId: string, actor: SecurityEvent['actor'], details: SecurityEvent['details']): SecurityEvent {
  return { type, at: deps.clock.now(), orgId, actor, subject: null, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId ?? null, details };
}

async function mailAdmin(deps: ServiceDeps, ctx: RequestContext, tx: ServiceDeps['db'], admin: Account, row: ApiTokenRow, change: 'created' | 'revoked'): Promise<void> {
  const content = mailTemplates.apiTokenChanged({
    email: admin.user.email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer,
    orgName: admin.org.name, name: row.name, change, expiresAt: new Date(row.expires_at),
  });
  await queueMail(tx, deps.random, admin.user.email, content, deps.clock.now());
}

/** The secret is returned here once and never stored. */
export async function createApiToken(deps: ServiceDeps, ctx: RequestContext, admin: Account, input: { name: unknown; expiresInDays?: unknown }): Promise<{ token: string; view: ApiTokenView }> {
  requireAdmin(admin);
  const name = parseName(input.name);
  const days = parseDays(input.expiresInDays);
  const now = deps.clock.now().getTime();
  const token = `${API_TOKEN_PREFIX}${generateToken(deps.random)}`;
  const row: ApiTokenRow = {
    id: newId(deps.random), org_id: admin.org.id, name, token_hash: hashToken(token), created_by: admin.user.email,
    created_at: now, expires_at: now + days * DAY_MS, last_used_at: null, revoked_at: null,
  };
  try {
    await deps.db.transaction().execute(async (tx) => {
      await insertApiToken(tx, row);
      await mailAdmin(deps, ctx, tx, admin, row, 'created');
      await deps.events.record(tx, tokenEvent(deps, ctx, 'api_token.created', admin.org.id, userActor(admin.user), { tokenId: row.id, name, expiresInDays: days }));
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TesseraError('conflict', { field: 'name', reason: 'name_taken' }, `A live token is already named “${name}”: choose another name or revoke that one.`);
    throw err;
  }
  deps.onMailQueued();
  return { token, view: viewOf(row, now) };
}

export async function listOrgApiTokens(deps: ServiceDeps, admin: Account): Promise<ApiTokenView[]> {
  requireAdmin(admin);
  const now = deps.clock.now().getTime();
  return (await listApiTokens(deps.db, admin.org.id)).map((r) => viewOf(r, now));
}

/** Stops the token at once; another organisation's token, or one already revoked, is not found. */
export async function revokeOrgApiToken(deps: ServiceDeps, ctx: RequestContext, admin: Account, id: string): Promise<ApiTokenView> {
  requireAdmin(admin);
  const now = deps.clock.now().getTime();
  const row = await deps.db.transaction().execute(async (tx) => {
    const revoked = typeof id === 'string' && id.length <= 64 ? await revokeApiToken(tx, admin.org.id, id, now) : null;
    if (!revoked) throw new TesseraError('not_found');
    await mailAdmin(deps, ctx, tx, admin, revoked, 'revoked');
    await deps.events.record(tx, tokenEvent(deps, ctx, 'api_token.revoked', admin.org.id, userActor(admin.user), { tokenId: revoked.id, name: revoked.name }));
    return revoked;
  });
  deps.onMailQueued();
  return viewOf(row, now);
}

/**
 * The admin a token acts as: its organisation, and a stand-in person that exists nowhere else. Its
 * id and address name the token, so every event recorded through it reads `api-token:<name>`, and
 * a check for "yourself" never matches anyone.
 */
function tokenAccount(row: ApiTokenRow, org: Account['org']): Account {
  const user: UserRow = {
    id: `api-token:${row.id}`, org_id: row.org_id, email: `api-token:${row.name}`, password_hash: null, role: 'admin', licensed: 0, sso: 0,
    recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 0, created_at: row.created_at, name: row.name,
  };
  return { user, org };
}

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,200})$/;

/**
 * The account an `Authorization: Bearer` header acts as, or null when the header is not a live
 * token. Each admitted call is audited under the token's name and marks it used, before the handler runs.
 */
export async function authenticateApiToken(deps: ServiceDeps, ctx: RequestContext, header: string, call: { method: string; route: string }): Promise<Account | null> {
  const bearer = BEARER.exec(header)?.[1];
  if (!bearer || !bearer.startsWith(API_TOKEN_PREFIX)) return null;
  const row = await findApiTokenByHash(deps.db, hashToken(bearer));
  const now = deps.clock.now().getTime();
  if (!row || row.revoked_at !== null || row.expires_at <= now) return null;
  const org = await findOrgById(deps.db, row.org_id);
  if (!org) return null;
  const account = tokenAccount(row, org);
  await deps.db.transaction().execute(async (tx) => {
    await noteApiTokenUsed(tx, row.id, now);
    await deps.events.record(tx, tokenEvent(deps, ctx, 'api_token.used', org.id, userActor(account.user), { tokenId: row.id, name: row.name, method: call.method, route: call.route }));
  });
  return account;
}
