import type { KoaContextWithOIDC } from 'oidc-provider';
import { html, trusted } from '../http/pages/html.ts';
import { page } from '../http/pages/layout.ts';

/**
 * The pages the provider renders itself, in Tessera's shell: an error where the client cannot be
 * told (unknown client, unregistered redirect URI: never redirect there), and the logout pages.
 * Nothing of the error but its code and description is shown: never a stack.
 */
export async function renderProviderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, _error: Error): Promise<void> {
  ctx.type = 'html';
  ctx.body = page({ title: 'Sign-in request not accepted' }, html`<h1>This sign-in request was not accepted</h1>
<div class="alert error" role="alert">${out.error_description ?? out.error}</div>
<p>The application that sent you here made a request Tessera cannot act on (code: <span class="mono">${out.error}</span>).
Go back to the application and start again; if this keeps happening, tell its administrator.</p>
<p><a href="/">Go to the Tessera start page</a></p>`).value;
}

export async function renderLogoutConfirm(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const name = ctx.oidc.client?.clientName ?? null;
  ctx.type = 'html';
  // `form` is the library's own hidden form (action and xsrf token); the buttons submit it.
  ctx.body = page({ title: 'Sign out' }, html`<h1>Sign out?</h1>
<p>${name ? html`<strong>${name}</strong> asks to sign you out.` : 'An application asks to sign you out.'} This signs you out of Tessera too.</p>
${trusted(form)}
<p><button type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>Yes, sign me out</button></p>
<p><button type="submit" form="op.logoutForm" class="link">No, stay signed in</button></p>`).value;
}

export async function renderLogoutDone(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = page({ title: 'Signed out' }, html`<h1>You have signed out</h1>
<p><a href="/login">Sign in again</a></p>`).value;
}
