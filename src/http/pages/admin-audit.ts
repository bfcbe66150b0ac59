import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '../../domain/events.ts';
import { summarizeUserAgent } from '../../domain/user-agent-summary.ts';
import { AUDIT_PAGE_SIZE, listOrgAudit } from '../../services/admin.ts';
import { AUDIT_CSV_MAX_ROWS, auditFilterQueryString, type AuditFilterQuery, exportOrgAuditCsv, parseAuditFilter } from '../../services/audit-log.ts';
import type { ServiceDeps } from '../../services/context.ts';
import type { AuditEventFilter, AuditEventRow } from '../../store/audit.ts';
import { activeSession } from '../guards.ts';
import { enterAdmin, formatUtc, queryValue, sendAdminPage } from './admin-common.ts';
import { html, type SafeHtml, trusted } from './html.ts';

/** /admin/audit: the organisation's security events, newest first, paged backwards with ?before=, filtered, and as CSV. */

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
  'account.unlock_requested': 'Asked the admins to unlock',
  'mfa.enabled': '2FA turned on',
  'mfa.setup_code_failed': 'Wrong code at 2FA set-up',
  'mfa.disabled': '2FA turned off',
  'mfa.replaced': 'Authenticator app replaced',
  'totp.added': 'Authenticator app added',
  'mfa.reset_requested': '2FA reset requested',
  'mfa.reset_cancelled': '2FA reset withdrawn',
  'mfa.reset_completed': '2FA reset',
  'backup_code.used': 'Backup code used',
  'backup_code.regenerated': 'Backup code regenerated',
  'passkey.added': 'Passkey added',
  'passkey.renamed': 'Passkey renamed',
  'passkey.removed': 'Passkey removed',
  'passkey.counter_regressed': 'Passkey refused: it may have been copied',
  'sign_in.passkey_refused': 'Passkey sign-in refused',
  'password.changed': 'Password changed',
  'recovery_email.changed': 'Recovery address changed',
  'password.reset_requested': 'Password reset requested',
  'password.reset_completed': 'Password reset by emailed link',
  'session.ended': 'Signed out',
  'policy.changed': '2FA policy changed',
  'user.created': 'Person added',
  'user.invited': 'Person invited',
  'user.invitation_resent': 'Invitation sent again',
  'user.invitation_revoked': 'Invitation revoked',
  'user.deactivated': 'Person deactivated',
  'user.reactivated': 'Person reactivated',
  'user.role_changed': 'Role or licence changed',
  'user.deleted': 'Person deleted',
  'user.name_changed': 'Name changed',
  'email.change_requested': 'Email address change requested',
  'email.changed': 'Email address changed',
  'api_token.created': 'API token created',
  'api_token.revoked': 'API token revoked',
  'api_token.used': 'API call with a token',
  'org.created': 'Organisation created',
  'org.help_contact_changed': 'Help contact changed',
  'org.links_changed': 'Product and SSO addresses changed',
  'keys.rotated': 'Encryption keys rotated',
  'oidc.client_auth_failed': 'Application failed to authenticate',
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

/** "By" only when someone other than the person did it (an admin, support, the system). */
function eventRow(e: AuditEventRow): SafeHtml {
  const device = summarizeUserAgent(e.user_agent);
  return html`<tr data-event-id="${e.id}">
  <td data-label="Time"><time datetime="${new Date(e.at).toISOString()}">${formatUtc(e.at, true)}</time></td>
  <td data-label="Event">${EVENT_LABELS[e.type as SecurityEventType] ?? e.type} <span class="muted mono small event-type">${e.type}</span></td>
  <td class="person" data-label="Person">${e.subject_email ?? '—'}</td>
  <td class="person" data-label="By">${e.actor === e.subject_email ? '' : e.actor}</td>
  <td class="mono nowrap" data-label="IP address">${e.ip ?? '—'}</td>
  <td class="device" data-label="Device">${device === null
    ? '—'
    : html`<details><summary>${device}</summary><span class="ua mono small">${e.user_agent}</span></details>`}</td>
  <td class="small details" data-label="Details">${describeDetails(e.details)}</td>
</tr>`;
}

/** The log's table, also on a person's page; its scroll container is a named, focusable region. */
export function auditTable(events: AuditEventRow[], caption: string): SafeHtml {
  return html`<div class="table-scroll" role="region" aria-labelledby="audit-caption" tabindex="0">
<table class="audit" id="audit">
<caption id="audit-caption">${caption}</caption>
<colgroup><col class="c-time"><col class="c-event"><col class="c-person"><col class="c-by"><col class="c-ip"><col class="c-device"><col class="c-details"></colgroup>
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Person</th><th scope="col">By (when not the person)</th><th scope="col">IP address</th><th scope="col">Device</th><th scope="col">Details</th></tr></thead>
<tbody>
${events.map(eventRow)}
</tbody>
</table>
</div>`;
}

function parseBefore(raw: unknown): number | null {
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string' || !/^[0-9]{1,15}$/.test(raw)) {
    throw new TesseraError('invalid_request', { field: 'before' }, 'That page of the audit log does not exist.');
  }
  return Number(raw);
}

function filterQuery(request: FastifyRequest): AuditFilterQuery {
  return { person: queryValue(request, 'person'), type: queryValue(request, 'type'), from: queryValue(request, 'from'), to: queryValue(request, 'to') };
}

function shown(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A GET form, so a filtered view is a link an admin can keep or share; works without JavaScript. */
function filterForm(query: AuditFilterQuery, invalidField: string | null): SafeHtml {
  const invalid = (field: string) => trusted(invalidField === field ? ' aria-invalid="true" aria-describedby="filter-error"' : '');
  const options = SECURITY_EVENT_TYPES.map((t) => html`<option value="${t}"${trusted(query.type === t ? ' selected' : '')}>${EVENT_LABELS[t]}</option>`);
  return html`<form method="get" action="/admin/audit" class="audit-filters" role="search" aria-label="Filter the audit log">
  <div class="field"><label for="f-person">Person (email or its start)</label>
    <input id="f-person" name="person" type="search" value="${shown(query.person)}" autocomplete="off" spellcheck="false" maxlength="320"${invalid('person')}></div>
  <div class="field"><label for="f-type">Event</label>
    <select id="f-type" name="type"${invalid('type')}><option value="">All events</option>${options}</select></div>
  <div class="field"><label for="f-from">From (UTC)</label>
    <input id="f-from" name="from" type="date" value="${shown(query.from)}"${invalid('from')}></div>
  <div class="field"><label for="f-to">To (UTC)</label>
    <input id="f-to" name="to" type="date" value="${shown(query.to)}"${invalid('to')}></div>
  <div class="actions"><button type="submit">Filter</button><a href="/admin/audit" id="clear-filters">Clear</a></div>
</form>`;
}

export async function adminAuditPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin/audit', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const before = parseBefore(queryValue(request, 'before'));
    const query = filterQuery(request);
    let filter: AuditEventFilter;
    try {
      filter = parseAuditFilter(query);
    } catch (err) {
      if (!(err instanceof TesseraError)) throw err;
      // A bad filter keeps the page, with the form and the reason next to the field.
      const field = typeof err.details.field === 'string' ? err.details.field : null;
      const body = html`<h1>Audit log</h1>
<p class="field-error" id="filter-error">${err.message}</p>
${filterForm(query, field)}`;
      return sendAdminPage(reply, ctx, { title: 'Audit log', section: 'audit', body, error: err.message, status: err.status });
    }
    const filtered = Object.values(filter).some((v) => v !== undefined);
    const { events, nextBefore } = await listOrgAudit(deps, ctx.admin, { beforeId: before, limit: AUDIT_PAGE_SIZE, filter });
    const table = events.length === 0
      ? html`<p id="no-events">No ${before === null ? '' : 'older '}events${filtered ? ' match these filters' : ''}.</p>`
      : auditTable(events, 'Security events, newest first');
    const pager = html`<nav class="pager" aria-label="Audit log pages">
${before !== null ? html`<a href="/admin/audit${auditFilterQueryString(query)}" id="newest">Newest events</a>` : ''}
${nextBefore !== null ? html`<a href="/admin/audit${auditFilterQueryString(query, { before: String(nextBefore) })}" rel="next" id="older">Older events</a>` : ''}
</nav>`;
    const body = html`<h1>Audit log</h1>
<p class="muted">Every security event in ${ctx.admin.org.name}: sign-ins, failures, locks, 2FA changes, resets and policy changes.
Entries are never changed or deleted.</p>
${filterForm(query, null)}
<p><a class="button secondary" id="csv" href="/admin/audit.csv${auditFilterQueryString(query)}" download>Download as CSV${filtered ? ' (these filters)' : ''}</a></p>
${table}
${pager}`;
    return sendAdminPage(reply, ctx, { title: 'Audit log', section: 'audit', body });
  });

  /** The same filter as the page, as a spreadsheet file (at most AUDIT_CSV_MAX_ROWS rows, newest first). */
  app.get('/admin/audit.csv', { config: { level: 'admin' } }, async (request, reply) => {
    const admin = activeSession(request);
    const filter = parseAuditFilter(filterQuery(request));
    const { csv, truncated } = await exportOrgAuditCsv(deps, admin, filter);
    const day = deps.clock.now().toISOString().slice(0, 10);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-log-${day}.csv"`)
      .header('cache-control', 'no-store')
      .header('x-tessera-truncated', truncated ? `first ${AUDIT_CSV_MAX_ROWS} rows` : 'no')
      .send(csv);
  });
}
