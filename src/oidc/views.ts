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

/**
 * The logout page. Without a valid `id_token_hint` naming the current session the person is asked
 * (RP-Initiated Logout 1.0 §2 requires it: anyone can send a browser to this URL). With one, the
 * application that holds the person's ID token for this very session asked, so the library's form
 * is sent with "yes" at once (tessera.js submits it; without script, one button), as the library
 * itself does when there is no one signed in.
 */
export async function renderLogoutPage(ctx: KoaContextWithOIDC, form: string, hintNamesThisSession: boolean): Promise<void> {
  const name = ctx.oidc.client?.clientName ?? null;
  ctx.type = 'html';
  if (hintNamesThisSession) {
    const action = ctx.oidc.urlFor('end_session_confirm');
    const xsrf = String((ctx.oidc.session!.state as { secret: string }).secret);
    ctx.body = page({ title: 'Signing out' }, html`<h1>Signing you out</h1>
<p>${name ? html`<strong>${name}</strong> signed you out; you are being signed out of Tessera too.` : 'You are being signed out of Tessera.'}</p>
<form method="post" action="${action}" data-submit-on-load>
<input type="hidden" name="xsrf" value="${xsrf}">
<input type="hidden" name="logout" value="yes">
<p><button type="submit">Continue</button></p>
</form>`).value;
    return;
  }
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
