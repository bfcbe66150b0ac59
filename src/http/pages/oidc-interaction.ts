import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { countPasskeys, hasSecondFactor } from '../../store/passkeys.ts';
import { ACR_MFA, ACR_PHR, ACR_RANK, lowestRequestedAcr } from '../../domain/assurance.ts';
import { describeMfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { sessionAssurance } from '../../services/session-assurance.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { InteractionGone, type InteractionView, type OidcProvider } from '../../oidc/index.ts';
import { currentSession } from '../guards.ts';
import { newCsrf, pendingStepPath } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { clearPendingInteraction, readPendingInteraction, sendContinuePage, setPendingInteraction } from './oidc-pending.ts';

/**
 * Where the OpenID provider hands a browser to Tessera: the sign-in itself runs on the existing
 * pages (/login, the code prompt, forced set-up); this decides whether the current Tessera session
 * satisfies the application's request, and says so to the provider.
 */

const FRESH_REASONS = new Set(['login_prompt', 'max_age', 'tessera_max_age']);

const SCOPE_WORDS: Record<string, string> = {
  openid: 'Your Tessera account id, your organisation and your role in it, and how you signed in',
  email: 'Your email address',
  profile: 'Your name',
  offline_access: 'Access while you are not using it (until you sign out of Tessera)',
};

function sendGonePage(reply: FastifyReply): FastifyReply {
  const body = html`<h1>This sign-in link has expired</h1>
<div class="alert error" role="alert">The sign-in request from the application was already used or took too long.</div>
<p>This happens after using the browser's back button, after finishing the sign-in in another tab, or when the sign-in page
was left open for more than half an hour. Nothing was shared with the application.</p>
<p>Go back to the application and choose to sign in again.</p>
<p><a href="/">Go to the Tessera start page</a></p>`;
  return sendPage(reply, page({ title: 'Sign-in link expired' }, body), 410);
}

function sendOrgRefusal(reply: FastifyReply, view: InteractionView, active: ActiveSession): FastifyReply {
  const body = html`<h1>Not available to your organisation</h1>
<div class="alert error" role="alert"><strong>${view.client.name}</strong> is not available to people of ${active.org.name}.</div>
<p>You are signed in to Tessera as <strong>${active.user.email}</strong>. If you should have access, ask your organisation admin.</p>
<p><a href="/">Go to the Tessera start page</a></p>`;
  return sendPage(reply, page({ title: 'Not available' }, body), 403);
}

function sendConsentPage(reply: FastifyReply, view: InteractionView, active: ActiveSession): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Allow ${view.client.name}?</h1>
<p><strong>${view.client.name}</strong> is not run by your organisation. It asks to sign you in with your Tessera account
<strong>${active.user.email}</strong> and to learn:</p>
<ul id="consent-scopes">${view.scopes.filter((s) => s in SCOPE_WORDS).map((s) => html`<li>${SCOPE_WORDS[s]}</li>`)}</ul>
<form method="post" action="/interaction/${view.uid}/consent" class="inline">${csrfField(csrf)}<button type="submit" id="allow">Allow</button></form>
<form method="post" action="/interaction/${view.uid}/deny" class="inline">${csrfField(csrf)}<button type="submit" class="secondary" id="deny">Deny</button></form>`;
  return sendPage(reply, page({ title: `Allow ${view.client.name}?`, csrfToken: csrf }, body));
}

export async function oidcInteractionPages(app: FastifyInstance, opts: { deps: ServiceDeps; oidc: OidcProvider }): Promise<void> {
  const { deps, oidc } = opts;

  const load = async (request: FastifyRequest, reply: FastifyReply): Promise<InteractionView | null> => {
    try {
      return await oidc.interaction(request, reply);
    } catch (err) {
      if (err instanceof InteractionGone) return null;
      throw err;
    }
  };

  /** Sends the person through Tessera's sign-in, remembering the interaction (and, if asked, that it must be a new sign-in). */
  const toSignIn = (reply: FastifyReply, view: InteractionView, active: ActiveSession | null, reauthAfter: number | null) => {
    setPendingInteraction(reply, deps.config, { uid: view.uid, reauthAfter });
    return reply.redirect(reauthAfter !== null ? '/login?reauth=1' : pendingStepPath(active), 303);
  };

  app.get('/interaction/:uid', { config: { level: 'public' } }, async (request, reply) => {
    const view = await load(request, reply);
    if (!view || view.uid !== (request.params as { uid: string }).uid) return sendGonePage(reply);
    const active = await currentSession(deps, request);
    const pending = readPendingInteraction(request);
    const mine = pending?.uid === view.uid ? pending : null;
    if (!active || active.session.level !== 'full') return toSignIn(reply, view, active, mine?.reauthAfter ?? null);
    if (view.client.orgIds.length > 0 && !view.client.orgIds.includes(active.user.org_id)) return sendOrgRefusal(reply, view, active);

    if (view.prompt === 'consent') {
      if (view.client.thirdParty) return sendConsentPage(reply, view, active);
      clearPendingInteraction(reply, deps.config);
      return reply.redirect(await oidc.grantConsent(request, reply), 303);
    }

    const assurance = sessionAssurance(active);
    const now = deps.clock.now().getTime();
    const freshSinceAsked = mine?.reauthAfter != null && assurance.authenticatedAt >= mine.reauthAfter;
    const wantsFresh = view.reasons.some((r) => FRESH_REASONS.has(r))
      && (view.reasons.includes('login_prompt') || view.maxAge === undefined || now - assurance.authenticatedAt > view.maxAge * 1000);
    const wanted = lowestRequestedAcr(view.acrValues);
    const wantsMore = wanted !== null && ACR_RANK[assurance.acr] < ACR_RANK[wanted];

    if (wantsMore && wanted === ACR_PHR && !freshSinceAsked && (await countPasskeys(deps.db, active.user.id)) === 0) {
      // Only a passkey reaches phr; signing in again with the app would go round in circles.
      clearPendingInteraction(reply, deps.config);
      return reply.redirect(await oidc.refuse(request, reply, 'unmet_authentication_requirements', 'this application needs a passkey or security key; add one in your security settings'), 303);
    }
    if (wantsMore && wanted === ACR_MFA && !freshSinceAsked) {
      // Only a person with an authenticator app can reach mfa by signing in again; anyone else
      // would go round in circles, so the application is told the level cannot be met.
      if (!(await hasSecondFactor(deps.db, active.user.id))) {
        // 2FA available but not set up: set it up now (password again, then a code), then back.
        if ((await describeMfaState(deps, active)).available) {
          setPendingInteraction(reply, deps.config, { uid: view.uid, reauthAfter: now });
          return reply.redirect('/account/security/setup', 303);
        }
        clearPendingInteraction(reply, deps.config);
        return reply.redirect(await oidc.refuse(request, reply, 'unmet_authentication_requirements', 'two-factor authentication is not available to this account'), 303);
      }
      return toSignIn(reply, view, active, now);
    }
    if ((wantsMore || wantsFresh) && !freshSinceAsked) return toSignIn(reply, view, active, now);

    clearPendingInteraction(reply, deps.config);
    const url = await oidc.completeLogin(request, reply, {
      accountId: active.user.id,
      acr: assurance.acr,
      amr: assurance.amr,
      authTime: Math.floor(assurance.authenticatedAt / 1000),
    }).catch((err: unknown) => (err instanceof InteractionGone ? null : Promise.reject(err)));
    return url === null ? sendGonePage(reply) : reply.redirect(url, 303);
  });

  const decide = (allow: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const view = await load(request, reply);
    if (!view || view.uid !== (request.params as { uid: string }).uid || view.prompt !== 'consent') return sendGonePage(reply);
    const active = await currentSession(deps, request);
    if (!active || active.session.level !== 'full' || active.user.id !== view.sessionAccountId) return sendGonePage(reply);
    clearPendingInteraction(reply, deps.config);
    const url = allow ? await oidc.grantConsent(request, reply) : await oidc.refuse(request, reply, 'access_denied', 'the person declined');
    return sendContinuePage(reply, url);
  };
  app.post('/interaction/:uid/consent', { preHandler: app.csrfProtection, config: { level: 'public' } }, decide(true));
  app.post('/interaction/:uid/deny', { preHandler: app.csrfProtection, config: { level: 'public' } }, decide(false));
}
