import { DAY_MS } from '../domain/clock.ts';
import { TesseraError } from '../domain/errors.ts';
import { SECURITY_EVENT_TYPES } from '../domain/events.ts';
import { summarizeUserAgent } from '../domain/user-agent-summary.ts';
import { type AuditEventFilter, type AuditEventRow } from '../store/audit.ts';
import { listOrgAudit } from './admin.ts';
import type { Account } from './accounts.ts';
import type { ServiceDeps } from './context.ts';

/** The most rows one CSV export carries; a narrower filter gets the rest. */
export const AUDIT_CSV_MAX_ROWS = 10_000;
const CSV_BATCH = 200;

/** The filter as the page and the API take it: the same four query parameters, all optional. */
export interface AuditFilterQuery {
  person?: unknown;
  type?: unknown;
  from?: unknown;
  to?: unknown;
}

function text(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max) throw new TesseraError('invalid_request', { field });
  return value.trim() || undefined;
}

/** A calendar day (UTC) as the start of that day in ms, or a clear 400. */
function day(value: unknown, field: 'from' | 'to'): number | undefined {
  const raw = text(value, field, 10);
  if (raw === undefined) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? Date.parse(`${raw}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(at) || new Date(at).toISOString().slice(0, 10) !== raw) {
    throw new TesseraError('invalid_request', { field }, 'Enter dates as YYYY-MM-DD.');
  }
  return at;
}

/** Person by email prefix, one event type, and a range of whole UTC days (both ends included). */
export function parseAuditFilter(query: AuditFilterQuery): AuditEventFilter {
  const person = text(query.person, 'person', 320)?.toLowerCase();
  const type = text(query.type, 'type', 64);
  if (type !== undefined && !(SECURITY_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new TesseraError('invalid_request', { field: 'type' }, 'Choose an event type from the list.');
  }
  const fromAt = day(query.from, 'from');
  const toDay = day(query.to, 'to');
  const toAt = toDay === undefined ? undefined : toDay + DAY_MS;
  if (fromAt !== undefined && toAt !== undefined && fromAt >= toAt) {
    throw new TesseraError('invalid_request', { field: 'to' }, 'The end date is before the start date.');
  }
  return { subjectEmailPrefix: person, type, fromAt, toAt };
}

/** The query string that carries a filter on (to the next page, to the CSV). */
export function auditFilterQueryString(query: AuditFilterQuery, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const key of ['person', 'type', 'from', 'to'] as const) {
    const v = query[key];
    if (typeof v === 'string' && v !== '') params.set(key, v);
  }
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * A spreadsheet opens a cell that starts with = + - @ (or a tab or return) as a formula: such a cell
 * is prefixed with an apostrophe (OWASP "CSV injection"), then quoted as RFC 4180 asks.
 */
export function csvCell(value: string | number | null): string {
  let s = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_HEADER = ['time', 'event', 'person', 'by', 'ip', 'device', 'user_agent', 'details'];

function csvRow(e: AuditEventRow): string {
  return [new Date(e.at).toISOString(), e.type, e.subject_email, e.actor, e.ip, summarizeUserAgent(e.user_agent), e.user_agent, e.details].map(csvCell).join(',');
}

/** The filtered log as CSV, newest first, at most AUDIT_CSV_MAX_ROWS rows; says whether it stopped there. */
export async function exportOrgAuditCsv(deps: ServiceDeps, admin: Account, filter: AuditEventFilter): Promise<{ csv: string; truncated: boolean }> {
  const lines = [CSV_HEADER.join(',')];
  let beforeId: number | null = null;
  for (;;) {
    const page = await listOrgAudit(deps, admin, { beforeId, limit: CSV_BATCH, filter });
    for (const e of page.events) lines.push(csvRow(e));
    if (lines.length - 1 >= AUDIT_CSV_MAX_ROWS) {
      const truncated = lines.length - 1 > AUDIT_CSV_MAX_ROWS || page.nextBefore !== null;
      return { csv: `${lines.slice(0, AUDIT_CSV_MAX_ROWS + 1).join('\r\n')}\r\n`, truncated };
    }
    if (page.nextBefore === null) return { csv: `${lines.join('\r\n')}\r\n`, truncated: false };
    beforeId = page.nextBefore;
  }
}
