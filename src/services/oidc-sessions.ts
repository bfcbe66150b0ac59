import type { Kysely } from 'kysely';
import type { SecurityEventType } from '../domain/events.ts';
import type { Database } from '../store/schema.ts';
import { enqueueBackchannel } from '../store/backchannel-queue.ts';
import { findOidcClient } from '../store/oidc-clients.ts';
import { destroyModel, listAccountModels, revokeGrant } from '../store/oidc-models.ts';
import type { ServiceDeps } from './context.ts';
import type { EventSink } from './security-events.ts';

/**
 * Ends a person's sessions at the OpenID provider and revokes everything issued under their
 * grants (refresh tokens included): Tessera's own session is the truth, and when it ends, or the
 * person is locked out or loses a factor, applications must not keep them signed in.
 */
export async function endProviderSessions(db: Kysely<Database>, now: number, accountId: string): Promise<void> {
  for (const model of ['Session', 'RefreshToken', 'AccessToken', 'AuthorizationCode', 'Grant']) {
    for (const { id, payload } of await listAccountModels(db, accountId, model)) {
      if (model === 'Session') await queueBackchannelLogouts(db, now, accountId, payload);
      if (model === 'Grant') await revokeGrant(db, id, now);
      else if (typeof payload.grantId === 'string') await revokeGrant(db, payload.grantId, now);
      await destroyModel(db, model, id);
    }
  }
}

/**
 * Every application the session signed in to that asked for back-channel logout gets a notice,
 * queued in the caller's transaction and sent with retries (an application that is down for a
 * while still gets it).
 */
async function queueBackchannelLogouts(db: Kysely<Database>, now: number, accountId: string, session: Record<string, unknown>): Promise<void> {
  const authorizations = (session.authorizations ?? {}) as Record<string, { sid?: string }>;
  for (const [clientId, { sid }] of Object.entries(authorizations)) {
    const client = await findOidcClient(db, clientId);
    if (!client || typeof sid !== 'string' || !(JSON.parse(client.metadata) as { backchannel_logout_uri?: string }).backchannel_logout_uri) continue;
    await enqueueBackchannel(db, { client_id: clientId, account_id: accountId, sid }, now);
  }
}

/** Events after which a person's applications must sign them in again. */
const ENDS_PROVIDER_SESSIONS: ReadonlySet<SecurityEventType> = new Set<SecurityEventType>([
  'account.locked',
  'mfa.disabled',
  'mfa.reset_completed',
  'password.changed',
]);

/**
 * Subscribes to security events: the provider sessions end in the same transaction as the lockout,
 * factor removal or password change that caused it, so neither can exist without the other.
 */
export function endingProviderSessions(inner: EventSink, deps: Pick<ServiceDeps, 'clock'>): EventSink {
  return {
    async record(db, event, writes) {
      await inner.record(db, event, writes);
      if (ENDS_PROVIDER_SESSIONS.has(event.type) && event.subject?.userId) await endProviderSessions(db, deps.clock.now().getTime(), event.subject.userId);
    },
  };
}
