import type { FastifyReply } from 'fastify';
import { html, type SafeHtml } from './html.ts';

export interface PageOptions {
  title: string;
  /** Signed-in user's email, shown in the header with a sign-out button. */
  signedInAs?: string | null;
  /** CSRF token for the header's sign-out form (and any form on the page). */
  csrfToken?: string | null;
  isAdmin?: boolean;
  /** Error announced to screen readers; rendered above the content, and the title then starts with "Error:". */
  error?: string | null;
  notice?: string | null;
  /** The page runs a passkey ceremony: load @simplewebauthn/browser (served from here) and passkeys.js. */
  passkeys?: boolean;
}

/** The hidden field every state-changing form carries. */
export function csrfField(token: string | null | undefined): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token ?? ''}">`;
}

/** One shell for every page: one stylesheet, one small script, no external fonts or CDNs. */
export function page(opts: PageOptions, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.error ? 'Error: ' : ''}${opts.title} · Tessera</title>
<link rel="stylesheet" href="/static/tessera.css">
<script src="/static/tessera.js" defer></script>
${opts.passkeys ? html`<script src="/static/vendor/simplewebauthn-browser.js" defer></script>
<script src="/static/passkeys.js" defer></script>
` : ''}</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="site">
  <a class="brand" href="/">Tessera</a>
  ${opts.signedInAs
    ? html`<nav aria-label="Account">
    <a href="/account/security">Security</a>
    ${opts.isAdmin ? html`<a href="/admin/users">Admin</a>` : ''}
    <form method="post" action="/logout" class="inline">${csrfField(opts.csrfToken)}<button type="submit" class="link">Sign out</button></form>
  </nav>`
    : ''}
</header>
<main id="main">
${opts.error ? html`<div class="alert error" role="alert">${opts.error}</div>` : ''}
${opts.notice ? html`<div class="alert notice" role="status">${opts.notice}</div>` : ''}
${body}
</main>
</body>
</html>`;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The deployment's name (ISSUER), shown in every page's header and title. */
    tesseraBrand?: string;
  }
}

function escapeText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** The header link of the section the request is in, as its path begins. */
const SECTIONS: ReadonlyArray<[prefix: string, href: string]> = [['/account/', '/account/security'], ['/admin/', '/admin/users']];

/**
 * Every page goes out here, so the header is finished here, where the request is known: the
 * deployment's name instead of "Tessera", and aria-current on the header link of the current section.
 */
export function sendPage(reply: FastifyReply, markup: SafeHtml, status = 200): FastifyReply {
  let body = markup.value;
  const brand = reply.server.tesseraBrand;
  if (brand && brand !== 'Tessera') {
    const name = escapeText(brand);
    body = body.replace('<a class="brand" href="/">Tessera</a>', `<a class="brand" href="/">${name}</a>`).replace(' · Tessera</title>', ` · ${name}</title>`);
  }
  const path = reply.request.url.split('?')[0] ?? '';
  const section = SECTIONS.find(([prefix]) => path.startsWith(prefix));
  if (section) body = body.replace(`<a href="${section[1]}">`, `<a href="${section[1]}" aria-current="page">`);
  return reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}
