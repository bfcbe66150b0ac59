import { MINUTE_MS } from '../domain/clock.ts';
import { listUndeliveredBackchannelOfOrg } from '../store/backchannel-queue.ts';
import { countOidcClientAuthFailure, findOidcClient, listOidcClients, markOidcClientUsed } from '../store/oidc-clients.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/**
 * What admins see of the applications that sign in through Tessera: when each last used its
 * client credentials, why its client authentication last failed, and logout notices still owed to
 * it. The provider reports the raw facts (src/oidc); this turns them into rows and audit events.
 */

/** `last used` is kept to this precision, so a busy client does not write on every token. */
export const LAST_USED_PRECISION_MS = MINUTE_MS;
const MAX_FIELD = 200;
/** At most this many undelivered notices are read for an organisation's page. */
const MAX_QUEUE_ROWS = 1000;

const lastMarked = new WeakMap<ServiceDeps, Map<string, number>>();

/** A successful code or refresh-token exchange by the client. */
export async function recordClientUse(deps: ServiceDeps, clientId: string): Promise<void> {
  const now = deps.clock.now().getTime();
  let marks = lastMarked.get(deps);
  if (!marks) lastMarked.set(deps, (marks = new Map()));
  const previous = marks.get(clientId);
  if (previous !== undefined && now - previous < LAST_USED_PRECISION_MS && now >= previous) return;
  if (marks.size > 10_000) marks.clear();
  marks.set(clientId, now);
  await markOidcClientUsed(deps.db, clientId, now, LAST_USED_PRECISION_MS);
}

export interface ClientAuthFailure {
  /** As the request named it (may name no client at all). */
  clientId: string | null;
  /** token, revocation, introspection, pushed_authorization_request */
  endpoint: string;
  /** What the request tried: client_secret_basic, client_secret_post, client_assertion or none. */
  methodUsed: string;
  /** The library's fixed phrase ("invalid secret provided", "client not found"…). */
  reason: string;
}

/**
 * Counts the failure on the client's row and audits it, in one transaction. The audit row names the
 * method the request used next to the one registered: the usual cause is a relying party set up for
 * client_secret_post against a client_secret_basic registration, or an old secret. It lands in the
 * organisation's log when the client is limited to exactly one organisation.
 */
export async function recordClientAuthFailure(deps: ServiceDeps, ctx: RequestContext, failure: ClientAuthFailure): Promise<void> {
  const clientId = failure.clientId?.slice(0, MAX_FIELD) ?? null;
  const reason = failure.reason.slice(0, MAX_FIELD);
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (tx) => {
    const row = clientId === null ? null : await findOidcClient(tx, clientId);
    if (row) await countOidcClientAuthFailure(tx, row.id, now.getTime(), reason);
    const orgIds = row ? (JSON.parse(row.org_ids) as string[]) : [];
    const registered = row ? (JSON.parse(row.metadata) as { token_endpoint_auth_method?: string }).token_endpoint_auth_method ?? null : null;
    await deps.events.record(tx, {
      type: 'oidc.client_auth_failed',
      at: now,
      orgId: orgIds.length === 1 ? orgIds[0]! : null,
      actor: { kind: 'anonymous' },
      subject: null,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      requestId: ctx.requestId ?? null,
      details: {
        clientId,
        clientName: row?.name ?? null,
        endpoint: failure.endpoint.slice(0, MAX_FIELD),
        methodUsed: failure.methodUsed.slice(0, MAX_FIELD),
        registeredMethod: registered,
        reason,
      },
    });
  });
}

export interface ClientActivityView {
  clientId: string;
  name: string;
  firstParty: boolean;
  confidential: boolean;
  redirectUris: string[];
  lastUsedAt: number | null;
  authFailures: number;
  lastAuthFailureAt: number | null;
  lastAuthFailureReason: string | null;
  backchannelLogoutUri: string | null;
  /** Logout notices for this organisation's people still being retried, and those given up on. */
  backchannelPending: number;
  backchannelFailed: number;
  backchannelLastError: string | null;
  backchannelNextAttemptAt: number | null;
}

/**
 * The applications people of `orgId` can sign in to (clients limited to other organisations are
 * not shown to this organisation's admins), with their activity.
 */
export async function listClientActivityForOrg(deps: ServiceDeps, orgId: string): Promise<ClientActivityView[]> {
  const clients = (await listOidcClients(deps.db)).filter((c) => {
    const orgIds = JSON.parse(c.org_ids) as string[];
    return orgIds.length === 0 || orgIds.includes(orgId);
  });
  const queue = await listUndeliveredBackchannelOfOrg(deps.db, orgId, MAX_QUEUE_ROWS);
  return clients.map((c) => {
    const metadata = JSON.parse(c.metadata) as { redirect_uris?: string[]; backchannel_logout_uri?: string };
    const owed = queue.filter((q) => q.client_id === c.id);
    const pending = owed.filter((q) => q.given_up_at === null);
    const withError = owed.find((q) => q.last_error !== null);
    return {
      clientId: c.id,
      name: c.name,
      firstParty: c.third_party === 0,
      confidential: c.secret_ciphertext !== null,
      redirectUris: metadata.redirect_uris ?? [],
      lastUsedAt: c.last_used_at === null ? null : Number(c.last_used_at),
      authFailures: Number(c.auth_failures),
      lastAuthFailureAt: c.last_auth_failure_at === null ? null : Number(c.last_auth_failure_at),
      lastAuthFailureReason: c.last_auth_failure_reason,
      backchannelLogoutUri: metadata.backchannel_logout_uri ?? null,
      backchannelPending: pending.length,
      backchannelFailed: owed.length - pending.length,
      backchannelLastError: withError?.last_error ?? null,
      backchannelNextAttemptAt: pending.length > 0 ? Math.min(...pending.map((q) => Number(q.next_attempt_at))) : null,
    };
  });
}
