import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { SecurityEventType } from '../../domain/events.ts';
import { AUDIT_PAGE_SIZE, listOrgAudit } from '../../services/admin.ts';
import type { ServiceDeps } from '../../services/context.ts';
import type { AuditEventRow } from '../../store/audit.ts';
import { enterAdmin, formatUtc, queryValue, sendAdminPage } from './admin-common.ts';
import { html, type SafeHtml } from './html.ts';

/** /admin/audit: the organisation's security events, newest first, paged backwards with ?before=. */

/** Typed by the event list, so a new event type cannot go without a label. */
const EVENT_LABELS: Record<SecurityEventType, string> = {
  'sign_in.succeeded': 'Signed in',
  'sign_in.password_verified': 'Right password, second step pending',
  'sign_in.password_failed': 'Wrong password',
  'sign_in.code_failed': 'Wrong code',
  'sign_in.code_replayed': 'Used code sent again',
  'sign_in.sso_refused': 'Password sign-in refused (SSO user)',
  'account.locked': 'Account locked',
  'account.unlocked': 'Account unlocked',
  'mfa.enabled': '2FA turned on',
  'mfa.setup_code_failed': 'Wrong code at 2FA set-up',
  'mfa.disabled': '2FA turned off',
  'mfa.replaced': 'Authenticator app replaced',
  'mfa.reset_requested': '2FA reset requested',
  'mfa.reset_completed': '2FA reset',
  'backup_code.used': 'Backup code used',
  'backup_code.regenerated': 'Backup code regenerated',
  'password.changed': 'Password changed',
  'session.ended': 'Signed out',
  'policy.changed': '2FA policy changed',
  'user.created': 'Person added',
  'org.created': 'Organisation created',
  'keys.rotated': 'Encryption keys rotated',
};

function describeDetails(raw: string): string {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return '';
  }
  return Object.entries(details)
    .map(([k, v]) => `${k}: ${v === null ? '—' : String(v)}`)
    .join(', ');
}

function eventRow(e: AuditEventRow): SafeHtml {
  return html`<tr data-event-id="${e.id}">
  <td class="nowrap" data-label="Time"><time datetime="${new Date(e.at).toISOString()}">${formatUtc(e.at, true)}</time></td>
  <td data-label="Event">${(EVENT_LABELS as Record<string, string | undefined>)[e.type] ?? e.type} <span class="muted mono small">${e.type}</span></td>
  <td data-label="By">${e.actor}</td>
  <td data-label="Person">${e.subject_email ?? '—'}</td>
  <td class="mono" data-label="IP address">${e.ip ?? '—'}</td>
  <td class="ua" data-label="Device">${e.user_agent ?? '—'}</td>
  <td class="small" data-label="Details">${describeDetails(e.details)}</td>
</tr>`;
}

function parseBefore(raw: unknown): number | null {
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) {
    throw new TesseraError('invalid_request', { field: 'before' }, 'That page of the audit log does not exist.');
  }
  return Number(raw);
}

export async function adminAuditPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin/audit', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const before = parseBefore(queryValue(request, 'before'));
    const { events, nextBefore } = await listOrgAudit(deps, ctx.admin, { beforeId: before, limit: AUDIT_PAGE_SIZE });
    const table = events.length === 0
      ? html`<p id="no-events">No ${before === null ? '' : 'older '}events.</p>`
      : html`<div class="table-scroll">
<table class="audit" id="audit">
<caption>Security events, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">By</th><th scope="col">Person</th><th scope="col">IP address</th><th scope="col">Device</th><th scope="col">Details</th></tr></thead>
<tbody>
${events.map(eventRow)}
</tbody>
</table>
</div>`;
    const pager = html`<nav class="pager" aria-label="Audit log pages">
${before !== null ? html`<a href="/admin/audit" id="newest">Newest events</a>` : ''}
${nextBefore !== null ? html`<a href="/admin/audit?before=${nextBefore}" rel="next" id="older">Older events</a>` : ''}
</nav>`;
    const body = html`<h1>Audit log</h1>
<p class="muted">Every security event in ${ctx.admin.org.name}: sign-ins, failures, locks, 2FA changes, resets and policy changes.
Entries are never changed or deleted.</p>
${table}
${pager}`;
    return sendAdminPage(reply, ctx, { title: 'Audit log', section: 'audit', body });
  });
}
