import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, TesseraError } from '../../domain/errors.ts';
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

export type AdminSection = 'users' | 'invitations' | 'audit' | 'apps' | 'api-tokens' | 'proxy';

function adminNav(current: AdminSection): SafeHtml {
  const link = (section: AdminSection, href: string, label: string) =>
    current === section ? html`<a href="${href}" aria-current="page">${label}</a>` : html`<a href="${href}">${label}</a>`;
  return html`<nav class="admin-nav" aria-label="Admin">${link('users', '/admin/users', 'People and 2FA')}${link('invitations', '/admin/invitations', 'Invitations')}${link('audit', '/admin/audit', 'Audit log')}${link('apps', '/admin/apps', 'Applications')}${link('api-tokens', '/admin/api-tokens', 'API tokens')}${link('proxy', '/admin/proxy-check', 'Forward-auth check')}</nav>`;
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

/** The `:id` of a route about one person. */
export function userIdOf(request: FastifyRequest): string {
  const id = (request.params as { id?: unknown }).id;
  return typeof id === 'string' ? id : '';
}

/**
 * A form that acts on one person (`act`). An answer the admin must read (an error whose code is in
 * `shown`: the last admin, yourself, a taken address) is rendered by `refused` on the page the form
 * was on; any other error goes to the error page; success redirects to `done(request, id)`.
 */
export function personFormRoute(
  app: FastifyInstance,
  path: string,
  opts: {
    act: (request: FastifyRequest, ctx: AdminContext, id: string) => Promise<unknown>;
    shown: readonly ErrorCode[];
    refused: (request: FastifyRequest, reply: FastifyReply, ctx: AdminContext, id: string, err: TesseraError) => Promise<FastifyReply>;
    done: (request: FastifyRequest, id: string) => string;
  },
): void {
  app.post(path, { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const id = userIdOf(request);
    try {
      await opts.act(request, ctx, id);
    } catch (err) {
      if (!(err instanceof TesseraError) || !opts.shown.includes(err.code)) throw err;
      return opts.refused(request, reply, ctx, id, err);
    }
    return reply.redirect(opts.done(request, id), 303);
  });
}
