import { TesseraError } from '../domain/errors.ts';
import { maskEmail } from '../domain/mask-email.ts';
import { mailTemplates } from '../mail/templates.ts';
import { findTotpCredential } from '../store/totp.ts';
import { setRecoveryEmail } from '../store/users.ts';
import { eventFor, isEmailAddress, normalizeEmail } from './accounts.ts';
import { withVerifiedCode } from './code-check.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { queueMails } from './security-events.ts';
import type { ActiveSession } from './sessions.ts';

/**
 * The recovery address: where "Lost your mobile device?" sends its reset link. Changing it needs the
 * password and a current code (whoever holds only a session cookie must not redirect the reset
 * links to themselves); the sign-in address and the replaced recovery address are both told.
 */
export async function changeRecoveryEmail(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown; recoveryEmail: unknown },
): Promise<string | null> {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
  if ((await findTotpCredential(deps.db, active.user.id)) === null) throw new TesseraError('mfa_not_enabled', {}, 'A recovery address is used only with two-factor authentication: set that up first.');
  const next = parseRecoveryEmail(input.recoveryEmail, active.user.email);
  const previous = active.user.recovery_email;
  if (next === previous) throw new TesseraError('invalid_request', { field: 'recoveryEmail' }, next === null ? 'You have no recovery address to remove.' : 'That is already your recovery address.');
  await verifyFreshPassword(deps, ctx, active, input.password);
  await withVerifiedCode(deps, ctx, active.user, input.code, async (tx) => {
    await setRecoveryEmail(tx, active.user.id, next);
    await deps.events.record(tx, eventFor(deps, ctx, 'recovery_email.changed', active.user, { details: { set: next !== null, hadOne: previous !== null } }));
    const base = { email: active.user.email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer };
    const mails = [{ to: active.user.email, content: mailTemplates.recoveryAddressChanged({ ...base, newAddress: next === null ? null : maskEmail(next) }) }];
    if (previous !== null) mails.push({ to: previous, content: mailTemplates.recoveryAddressReplacedNotice({ ...base, oldAddress: previous }) });
    await queueMails(tx, deps.random, mails, deps.clock.now());
  });
  return next;
}

/** '' (or the sign-in address itself) means none: links then go to the sign-in address. */
function parseRecoveryEmail(raw: unknown, signInEmail: string): string | null {
  if (typeof raw !== 'string') throw new TesseraError('invalid_request', { field: 'recoveryEmail' });
  const email = normalizeEmail(raw);
  if (email === '' || email === signInEmail) return null;
  if (!isEmailAddress(email)) throw new TesseraError('invalid_request', { field: 'recoveryEmail' }, `"${raw.slice(0, 100)}" is not an email address.`);
  return email;
}
