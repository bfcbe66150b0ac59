import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { html, type SafeHtml } from './html.ts';
import { page, type PageOptions, sendPage } from './layout.ts';

/** Pieces the admin pages share: the admin and a CSRF token, the section navigation and the page frame. */

export interface AdminContext {
  admin: ActiveSession;
  csrf: string;
}

/** Every admin page starts here: the admin the route's guard admitted, and a CSRF token for the page's forms. */
export async function enterAdmin(request: FastifyRequest, reply: FastifyReply): Promise<AdminContext> {
  const admin = activeSession(request);
  return { admin, csrf: await reply.generateCsrf() };
}

export type AdminSection = 'users' | 'invitations' | 'audit' | 'apps' | 'proxy';

function adminNav(current: AdminSection): SafeHtml {
  const link = (section: AdminSection, href: string, label: string) =>
    current === section ? html`<a href="${href}" aria-current="page">${label}</a>` : html`<a href="${href}">${label}</a>`;
  return html`<nav class="admin-nav" aria-label="Admin">${link('users', '/admin/users', 'People and 2FA')}${link('invitations', '/admin/invitations', 'Invitations')}${link('audit', '/admin/audit', 'Audit log')}${link('apps', '/admin/apps', 'Applications')}${link('proxy', '/admin/proxy-check', 'Forward-auth check')}</nav>`;
}

export function sendAdminPage(
  reply: FastifyReply,
  ctx: AdminContext,
  opts: { title: string; section: AdminSection; body: SafeHtml; status?: number } & Pick<PageOptions, 'error' | 'notice'>,
): FastifyReply {
  const body = html`<div class="admin">
${adminNav(opts.section)}
${opts.body}
</div>`;
  const shell = page(
    { title: opts.title, signedInAs: ctx.admin.user.email, isAdmin: true, csrfToken: ctx.csrf, error: opts.error ?? null, notice: opts.notice ?? null },
    body,
  );
  return sendPage(reply, shell, opts.status ?? 200);
}

/** "2026-11-22 12:00 UTC": one unambiguous time zone for everyone who reads the page. */
export function formatUtc(at: Date | number, withSeconds = false): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withSeconds ? 19 : 16)} UTC`;
}

export function formatDay(at: Date | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A raw query-string value: a string, an array when the key is repeated, or undefined. */
export function queryValue(request: FastifyRequest, key: string): unknown {
  return (request.query as Record<string, unknown> | undefined)?.[key];
}
