import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import { describeActor, NOTIFICATION_INTERVAL_MS, NOTIFIED_EVENT_TYPES, type SecurityEvent, type SecurityEventType } from '../domain/events.ts';
import { newId, type RandomSource } from '../domain/random.ts';
import type { Keyring } from '../domain/secret-box.ts';
import { sealMailBody } from './sealed-mail.ts';
import { type MailContent, type MailContext, mailTemplates } from '../mail/templates.ts';
import { appendAuditEvent, appendAuditEventQuery } from '../store/audit.ts';
import { enqueueMail } from '../store/mail-queue.ts';
import { hitRateLimit } from '../store/rate-limits.ts';
import type { Database } from '../store/schema.ts';
import type { WriteBatch } from '../store/write-batch.ts';

/**
 * Receives every security event inside the transaction that caused it. Given `writes`, the event's
 * own row joins the step's other writes (one round trip on PostgreSQL), and whatever a wrapper
 * does outside the database waits until those writes have all taken.
 */
export interface EventSink {
  record(db: Kysely<Database>, event: SecurityEvent, writes?: WriteBatch): Promise<void>;
}

const NOTIFICATIONS: Partial<Record<SecurityEventType, (ctx: MailContext) => MailContent>> = {
  'mfa.enabled': mailTemplates.mfaEnabled,
  'mfa.disabled': mailTemplates.mfaDisabled,
  'mfa.replaced': mailTemplates.mfaReplaced,
  'totp.added': mailTemplates.totpAdded,
  'mfa.reset_completed': mailTemplates.mfaResetCompleted,
  'backup_code.used': mailTemplates.backupCodeUsed,
  'backup_code.regenerated': mailTemplates.backupCodeRegenerated,
  'passkey.added': mailTemplates.passkeyAdded,
  'passkey.removed': mailTemplates.passkeyRemoved,
  'passkey.counter_regressed': mailTemplates.passkeyCloned,
  'password.changed': mailTemplates.passwordChanged,
  'password.reset_completed': mailTemplates.passwordResetCompleted,
  'account.locked': mailTemplates.accountLocked,
  'sign_in.code_replayed': mailTemplates.codeReplayed,
};

/**
 * Queues a message in the caller's transaction. A message that carries a secret (a reset link)
 * passes `sealWith`: its bodies are stored encrypted, bound to the row, so a copy of the database
 * does not hand out working links; delivery opens them just before sending.
 */
export async function queueMail(
  db: Kysely<Database>,
  random: RandomSource,
  to: string,
  content: MailContent,
  now: Date,
  opts: { sealWith?: Keyring } = {},
): Promise<void> {
  await queueMails(db, random, [{ to, content }], now, opts);
}

/** Several messages in as few statements as the database takes (a list of invitations). */
export async function queueMails(
  db: Kysely<Database>,
  random: RandomSource,
  messages: { to: string; content: MailContent }[],
  now: Date,
  opts: { sealWith?: Keyring } = {},
): Promise<void> {
  const rows = messages.map(({ to, content }) => {
    const id = newId(random);
    const seal = (body: string): string => (opts.sealWith ? sealMailBody(opts.sealWith, id, body, random) : body);
    return {
      id,
      to_address: to,
      subject: content.subject,
      text_body: seal(content.text),
      html_body: seal(content.html),
      created_at: now.getTime(),
      attempts: 0,
      next_attempt_at: now.getTime(),
      sent_at: null,
      last_error: null,
      given_up_at: null,
    };
  });
  await enqueueMail(db, rows);
}

/**
 * The audit log and the notification emails subscribe here. Both are written through the
 * caller's transaction: if the change rolls back, so do its audit row and its email.
 */
export function createAuditAndNotifySink(config: Config, random: RandomSource): EventSink {
  return {
    async record(db, event, writes) {
      const row = {
        at: event.at.getTime(),
        type: event.type,
        org_id: event.orgId,
        actor: describeActor(event.actor),
        actor_user_id: event.actor.kind === 'user' ? event.actor.userId : null,
        subject_user_id: event.subject?.userId ?? null,
        subject_email: event.subject?.email ?? null,
        ip: event.ip,
        user_agent: event.userAgent ? event.userAgent.slice(0, 300) : null,
        details: JSON.stringify(event.details),
        request_id: event.requestId ?? null,
      };
      if (writes) writes.add(appendAuditEventQuery(db, row), () => new Error('audit row not written'));
      else await appendAuditEvent(db, row);
      const template = NOTIFICATIONS[event.type];
      if (template && event.subject && NOTIFIED_EVENT_TYPES.has(event.type) && (await isNotificationDue(db, event, event.subject.userId ?? event.subject.email))) {
        const content = template({
          email: event.subject.email,
          at: event.at,
          ip: event.ip,
          userAgent: event.userAgent,
          baseUrl: config.baseUrl,
          issuer: config.issuer,
          byOperator: event.actor.kind === 'operator',
        });
        await queueMail(db, random, event.subject.email, content, event.at);
      }
    },
  };
}

/** Counted in the caller's transaction, so a rolled-back event does not use up the person's one email. */
async function isNotificationDue(db: Kysely<Database>, event: SecurityEvent, who: string): Promise<boolean> {
  const interval = NOTIFICATION_INTERVAL_MS[event.type];
  if (interval === undefined) return true;
  const window = await hitRateLimit(db, `notify:${event.type}:${who}`, event.at.getTime(), interval);
  return window.hits === 1;
}

/** Wraps a sink and keeps every event, for tests that assert on what was recorded. */
export function createRecordingSink(inner: EventSink): EventSink & { events: SecurityEvent[] } {
  const events: SecurityEvent[] = [];
  return {
    events,
    async record(db, event, writes) {
      await inner.record(db, event, writes);
      if (writes) writes.afterRun(() => events.push(event));
      else events.push(event);
    },
  };
}
