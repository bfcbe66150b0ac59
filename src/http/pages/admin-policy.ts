import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { MAX_HELP_CONTACT_LENGTH } from '../../domain/help-contact.ts';
import { UNAVAILABLE_EXPLANATIONS } from '../../domain/policy.ts';
import { updateHelpContact } from '../../services/lockout-help.ts';
import { updateOrgLinks } from '../../services/org-settings.ts';
import { MAX_GRACE_DAYS, type PolicyView, updatePolicy } from '../../services/admin.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { requestContext } from '../request-context.ts';
import { enterAdmin, formatDay, plural } from './admin-common.ts';
import type { UsersPageRenderer } from './admin-users.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './layout.ts';

/** "Require 2FA for everyone", with the optional grace period, as a card on the people page. */

/** What the admin sent, shown again beside the reason it was refused. */
export interface PolicyDraft {
  require2fa: boolean;
  requirePhishingResistant?: boolean;
  graceDays: string;
  invalid: boolean;
  badPassword?: boolean;
}

function describeStatus(policy: PolicyView): SafeHtml {
  if (!policy.require2fa) {
    return html`<p id="policy-status"><strong>Optional.</strong> Each person chooses whether to set up 2FA from their profile.</p>`;
  }
  const since = policy.requiredSince ? html` since ${formatDay(policy.requiredSince)}` : '';
  if (policy.graceEndsAt && policy.graceDaysLeft > 0) {
    return html`<p id="policy-status"><strong>Required for everyone</strong>${since}. Grace period: people without 2FA may postpone
set-up until ${formatDay(policy.graceEndsAt)} (${plural(policy.graceDaysLeft, 'day', 'days')} left).</p>`;
  }
  return html`<p id="policy-status"><strong>Required for everyone</strong>${since}. People without 2FA set it up at their next sign-in.</p>`;
}

function describePasskeyStatus(policy: PolicyView): SafeHtml | '' {
  if (!policy.require2fa || !policy.requirePhishingResistant) return '';
  return html`<p id="passkey-policy-status"><strong>Passkeys only.</strong> ${policy.passkeyGraceDaysLeft > 0
    ? html`People with only an authenticator app may add a passkey within ${plural(policy.passkeyGraceDaysLeft, 'day', 'days')}.`
    : 'People without a passkey add one at their next sign-in, after their code.'}</p>`;
}

export function policyCard(policy: PolicyView, csrf: string, draft?: PolicyDraft): SafeHtml {
  if (!policy.available.available) {
    return html`<section class="card" aria-labelledby="policy-heading">
<h2 id="policy-heading">Two-factor authentication policy</h2>
<p id="policy-status">${UNAVAILABLE_EXPLANATIONS[policy.available.reason]}</p>
</section>`;
  }
  const required = draft ? draft.require2fa : policy.require2fa;
  const grace = draft ? draft.graceDays : String(policy.graceDays);
  const phishingResistant = draft ? draft.requirePhishingResistant === true : policy.requirePhishingResistant;
  return html`<section class="card" aria-labelledby="policy-heading">
<h2 id="policy-heading">Two-factor authentication policy</h2>
${describeStatus(policy)}
${describePasskeyStatus(policy)}
<form method="post" action="/admin/policy" class="stack">
  ${csrfField(csrf)}
  <div class="check">
    <input type="checkbox" id="require2fa" name="require2fa" value="on" aria-describedby="require2fa-hint"${required ? html` checked` : ''}>
    <label for="require2fa">Require 2FA for everyone</label>
  </div>
  <p class="hint" id="require2fa-hint">People without 2FA are taken to set-up right after their password at their next sign-in
  (with a grace period: asked after their password and may postpone until it ends), and nobody can remove it.
  People who sign in through SSO or have no licence are not affected.</p>
  <div class="check">
    <input type="checkbox" id="requirePhishingResistant" name="requirePhishingResistant" value="on" aria-describedby="requirePhishingResistant-hint"${phishingResistant ? html` checked` : ''}>
    <label for="requirePhishingResistant">Require phishing-resistant 2FA (passkeys and security keys only)</label>
  </div>
  <p class="hint" id="requirePhishingResistant-hint">Codes from an app can be phished; passkeys cannot. People with only an app are led to add a
  passkey, within the same grace period.</p>
  <div class="field">
    <label for="graceDays">Grace period in days</label>
    <p class="hint" id="graceDays-hint">0 to ${MAX_GRACE_DAYS}. During it, people may postpone set-up; they see how many days are left.</p>
    <input type="number" id="graceDays" name="graceDays" class="days" min="0" max="${MAX_GRACE_DAYS}" step="1" inputmode="numeric"
      value="${grace}" aria-describedby="graceDays-hint"${draft?.invalid ? html` aria-invalid="true"` : ''}>
  </div>
  ${policy.require2fa
    ? html`<div class="field">
    <label for="password">Your password</label>
    <p class="hint" id="password-hint">Needed only to stop requiring 2FA.</p>
    <input type="password" id="password" name="password" autocomplete="current-password" aria-describedby="password-hint"${draft?.badPassword ? html` aria-invalid="true"` : ''}>
  </div>`
    : ''}
  <button type="submit">Save policy</button>
</form>
</section>`;
}

/** Whom locked-out people should contact: shown on the page they see, where they cannot sign in to find out. */
export function helpContactCard(current: string | null, csrf: string, draft?: string): SafeHtml {
  const invalid = draft !== undefined;
  return html`<section class="card" aria-labelledby="help-heading">
<h2 id="help-heading">Help for locked-out people</h2>
<form method="post" action="/admin/help-contact" class="stack">
  ${csrfField(csrf)}
  <div class="field">
    <label for="helpContact">Help contact</label>
    <p class="hint" id="helpContact-hint">Shown on the page people see when their account is locked: an email address, a web address or a phone number.
    Leave empty to show none. Admins are emailed on every lock either way.</p>
    <input type="text" id="helpContact" name="helpContact" maxlength="${MAX_HELP_CONTACT_LENGTH}" value="${invalid ? draft : (current ?? '')}"
      aria-describedby="helpContact-hint"${invalid ? html` aria-invalid="true" autofocus` : ''}>
  </div>
  <button type="submit">Save help contact</button>
</form>
</section>`;
}

export interface LinksDraft {
  productName: string;
  productUrl: string;
  ssoUrl: string;
  field: string;
}

function linkField(id: 'productName' | 'productUrl' | 'ssoUrl', label: string, hint: string, value: string, invalid: boolean, type = 'url'): SafeHtml {
  return html`<div class="field">
    <label for="${id}">${label}</label>
    <p class="hint" id="${id}-hint">${hint}</p>
    <input type="${type}" id="${id}" name="${id}" value="${value}" maxlength="500" aria-describedby="${id}-hint"${invalid ? html` aria-invalid="true" autofocus` : ''}>
  </div>`;
}

/** The product people came from ("Back to …" on home) and where SSO users sign in. */
export function orgLinksCard(current: { productName: string | null; productUrl: string | null; ssoUrl: string | null }, csrf: string, draft?: LinksDraft): SafeHtml {
  const v = draft ?? { productName: current.productName ?? '', productUrl: current.productUrl ?? '', ssoUrl: current.ssoUrl ?? '', field: '' };
  return html`<section class="card" aria-labelledby="links-heading">
<h2 id="links-heading">Your product and SSO addresses</h2>
<form method="post" action="/admin/org-links" class="stack">
  ${csrfField(csrf)}
  ${linkField('productName', 'Product name', 'Shown as “Back to …” on the home page people see after signing in.', v.productName, v.field === 'productName', 'text')}
  ${linkField('productUrl', 'Product address', 'Where that link goes, starting with https://.', v.productUrl, v.field === 'productUrl')}
  ${linkField('ssoUrl', 'SSO sign-in address', 'Shown to people who sign in through SSO when they try a password here. Leave empty for none.', v.ssoUrl, v.field === 'ssoUrl')}
  <button type="submit">Save addresses</button>
</form>
</section>`;
}

const REFUSALS: ReadonlySet<string> = new Set(['invalid_request', 'mfa_unavailable', 'mfa_not_enabled', 'invalid_credentials', 'rate_limited']);

function parseGraceDays(raw: unknown): number | null {
  if (raw === undefined || raw === '') return 0;
  return typeof raw === 'string' && /^\d{1,3}$/.test(raw.trim()) ? Number(raw.trim()) : null;
}

/** The people page renders a refused change (it holds the card), so it is passed in rather than imported. */
export async function adminPolicyPages(app: FastifyInstance, opts: { deps: ServiceDeps; sendUsersPage: UsersPageRenderer }): Promise<void> {
  const { deps, sendUsersPage } = opts;

  app.post('/admin/policy', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const form = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
    const require2fa = form.require2fa === 'on';
    const requirePhishingResistant = form.requirePhishingResistant === 'on';
    const graceDays = parseGraceDays(form.graceDays);
    const rawGrace = typeof form.graceDays === 'string' ? form.graceDays : '';
    try {
      if (graceDays === null) throw new TesseraError('invalid_request', { field: 'graceDays' }, `Enter the grace period as a whole number of days from 0 to ${MAX_GRACE_DAYS}.`);
      await updatePolicy(deps, requestContext(request), ctx.admin, { require2fa, graceDays, requirePhishingResistant: require2fa && requirePhishingResistant, password: form.password });
    } catch (err) {
      if (!(err instanceof TesseraError) || !REFUSALS.has(err.code)) throw err;
      const message = err.details.field === 'graceDays'
        ? `Enter the grace period as a whole number of days from 0 to ${MAX_GRACE_DAYS}.`
        : err.code === 'invalid_credentials'
          ? 'That password is not correct.'
          : err.details.field === 'password' ? 'Enter your password to stop requiring 2FA.' : err.message;
      const badPassword = err.code === 'invalid_credentials' || err.details.field === 'password';
      return sendUsersPage(deps, request, reply, ctx, {
        status: err.status,
        error: `The policy was not changed. ${message}`,
        policyDraft: { require2fa, requirePhishingResistant, graceDays: rawGrace, invalid: err.details.field === 'graceDays', badPassword },
      });
    }
    return reply.redirect('/admin/users?done=policy', 303);
  });

  app.post('/admin/help-contact', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const raw = (request.body as { helpContact?: unknown } | undefined)?.helpContact ?? '';
    try {
      await updateHelpContact(deps, requestContext(request), ctx.admin, raw);
    } catch (err) {
      if (!(err instanceof TesseraError) || err.code !== 'invalid_request') throw err;
      return sendUsersPage(deps, request, reply, ctx, {
        status: err.status,
        error: `The help contact was not saved. ${err.message}`,
        helpContactDraft: typeof raw === 'string' ? raw.slice(0, MAX_HELP_CONTACT_LENGTH * 2) : '',
      });
    }
    return reply.redirect('/admin/users?done=help-contact', 303);
  });

  app.post('/admin/org-links', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const form = (request.body ?? {}) as Record<string, unknown>;
    try {
      await updateOrgLinks(deps, requestContext(request), ctx.admin, { productName: form.productName, productUrl: form.productUrl, ssoUrl: form.ssoUrl });
    } catch (err) {
      if (!(err instanceof TesseraError) || err.code !== 'invalid_request') throw err;
      const text = (k: string): string => (typeof form[k] === 'string' ? (form[k] as string).slice(0, 1000) : '');
      return sendUsersPage(deps, request, reply, ctx, {
        status: err.status,
        error: `The addresses were not saved. ${err.message}`,
        linksDraft: { productName: text('productName'), productUrl: text('productUrl'), ssoUrl: text('ssoUrl'), field: String(err.details.field ?? '') },
      });
    }
    return reply.redirect('/admin/users?done=links', 303);
  });
}
