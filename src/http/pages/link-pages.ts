import type { FastifyReply } from 'fastify';
import type { DeadLinkState } from '../../services/link-state.ts';
import { newCsrf } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { page, sendPage } from './layout.ts';

/** Pieces of the pages behind emailed links (2FA reset, password reset, invitation). */

const DEAD_STATUS: Record<DeadLinkState, number> = { invalid: 404, used: 409, expired: 410 };

/** The URL holds the token: no request from this page may carry it in a Referer, not even to us. */
export function hideToken(reply: FastifyReply): void {
  reply.header('referrer-policy', 'no-referrer');
}

export function formatUtc(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function tokenOf(params: unknown): string {
  const token = (params as { token?: unknown }).token;
  return typeof token === 'string' ? token : '';
}

/** A link that can no longer be used: what happened, and how to get a new one (`next`). */
export function sendDeadLinkPage(reply: FastifyReply, state: DeadLinkState, wording: Record<DeadLinkState, { title: string; text: string }>, next: SafeHtml): FastifyReply {
  hideToken(reply);
  const dead = wording[state];
  const body = html`<h1>${dead.title}</h1>
<div class="alert error" role="alert">${dead.text}</div>
${next}
<p><a class="button" href="/login">Go to sign in</a></p>`;
  return sendPage(reply, page({ title: dead.title, csrfToken: newCsrf(reply) }, body), DEAD_STATUS[state]);
}
