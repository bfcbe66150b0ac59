import { describeDevice } from './device-description.ts';

/**
 * Every security email says what happened, when, from where, and what to do if it was not the
 * reader. Bodies carry links but never a code or secret.
 */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

export interface MailContext {
  email: string;
  at: Date;
  ip: string | null;
  /** Described in the message ("Chrome 120 on Windows"), never copied into it. */
  userAgent: string | null;
  baseUrl: string;
  issuer: string;
  /** Set when support did it from the command line, where there is no IP address to name. */
  byOperator?: boolean;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function when(ctx: MailContext): string {
  return `${ctx.at.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** Addresses in a paragraph become links in the HTML body (escaped first, so only our own text is linked). */
function linkify(escaped: string): string {
  return escaped.replace(/https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/g, (url) => `<a href="${url}">${url}</a>`);
}

/** Long addresses break anywhere rather than widen the message past a phone's screen (390 px). */
const WRAP = 'overflow-wrap:anywhere;word-break:break-word';

function compose(
  ctx: MailContext,
  subject: string,
  paragraphs: string[],
  opts: { link?: { url: string; label: string }; notMe?: string; requestedBy?: string } = {},
): MailContent {
  // The device is described, never quoted: the raw User-Agent is whatever the requester wrote, and
  // these emails (one carries a working reset link) must not carry an attacker's words.
  const device = `IP address: ${ctx.ip ?? 'unknown'}\nDevice: ${describeDevice(ctx.userAgent)}`;
  // Someone else's request (an admin's) says whose address and device these are.
  const from = ctx.byOperator
    ? 'By: support, from the command line'
    : opts.requestedBy ? `Requested by: ${opts.requestedBy}\nTheir ${device.replace('\nDevice', '\nTheir device')}` : `From ${device}`;
  const origin = `When: ${when(ctx)}\n${from}`;
  const notMe = opts.notMe ?? `If this was not you, change your password at ${ctx.baseUrl}/account/password and contact your organisation admin at once.`;
  const text = [
    ...paragraphs,
    ...(opts.link ? [`${opts.link.label}:\n${opts.link.url}`] : []),
    origin,
    notMe,
    `— ${ctx.issuer}`,
  ].join('\n\n');
  const html = `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head><body style="font-family:system-ui,sans-serif;line-height:1.5;max-width:36rem;margin:0 auto;padding:0 12px;${WRAP}">
${paragraphs.map((p) => `<p>${linkify(escapeHtml(p))}</p>`).join('\n')}
${opts.link ? `<p><a href="${escapeHtml(opts.link.url)}" style="display:inline-block;padding:.6em 1.2em;background:#1d4ed8;color:#fff;text-decoration:none;border-radius:6px">${escapeHtml(opts.link.label)}</a></p><p style="font-size:.9em;${WRAP}">Or open this address in your browser: <a href="${escapeHtml(opts.link.url)}">${escapeHtml(opts.link.url)}</a></p>` : ''}
<p style="color:#555;font-size:.9em">${escapeHtml(origin).replace(/\n/g, '<br>')}</p>
<p style="color:#555;font-size:.9em">${linkify(escapeHtml(notMe))}</p>
<p>— ${escapeHtml(ctx.issuer)}</p></body></html>`;
  return { subject: `[${ctx.issuer}] ${subject}`, text, html };
}

export const mailTemplates = {
  passkeyAdded: (ctx: MailContext) =>
    compose(ctx, 'A passkey was added to your account', [
      `A passkey or security key was added to ${ctx.email}. It can now be used to sign in. You can see and remove your passkeys at ${ctx.baseUrl}/account/security.`,
    ]),
  totpAdded: (ctx: MailContext) =>
    compose(ctx, 'An authenticator app was added to your account', [
      `An authenticator app was added to ${ctx.email}, beside your passkeys. Its codes can now be used to sign in. You can see your sign-in methods at ${ctx.baseUrl}/account/security.`,
    ]),
  passkeyRemoved: (ctx: MailContext) =>
    compose(ctx, 'A passkey was removed from your account', [
      `A passkey or security key was removed from ${ctx.email}. It can no longer be used to sign in.`,
    ]),
  passkeyCloned: (ctx: MailContext) =>
    compose(
      ctx,
      'A sign-in with your passkey was refused',
      [
        `A sign-in to ${ctx.email} with one of your passkeys or security keys was refused: the key's use counter went backwards, which happens when a key has been copied.`,
      ],
      { notMe: `If you did not just restore or reset that key, remove it at ${ctx.baseUrl}/account/security, change your password at ${ctx.baseUrl}/account/password and contact your organisation admin.` },
    ),
  mfaEnabled: (ctx: MailContext) =>
    compose(ctx, 'Two-factor authentication turned on', [
      `Two-factor authentication was turned on for ${ctx.email}. From now on you will be asked for a code from your authenticator app each time you sign in.`,
    ]),
  mfaDisabled: (ctx: MailContext) =>
    compose(ctx, 'Two-factor authentication turned off', [
      `Two-factor authentication was turned off for ${ctx.email}. Your account is now protected by your password alone.`,
    ]),
  mfaReplaced: (ctx: MailContext) =>
    compose(
      ctx,
      'Your authenticator app was replaced',
      [
        `The authenticator app for ${ctx.email} was replaced by a new one. Codes from the previous app no longer work; your backup code is unchanged. You have been signed out on every other device.`,
      ],
      { notMe: `If you did not do this, someone has your password and a code: contact your organisation admin at once to reset two-factor authentication and change your password at ${ctx.baseUrl}/account/password.` },
    ),
  mfaResetCompleted: (ctx: MailContext) =>
    compose(ctx, 'Two-factor authentication was reset', [
      `Two-factor authentication was reset for ${ctx.email}${ctx.byOperator ? ' by support' : ''}. Your authenticator app and backup code no longer work for this account. Sign in with your password; if your organisation requires two-factor authentication you will be asked to set it up again.`,
    ]),
  backupCodeUsed: (ctx: MailContext) =>
    compose(ctx, 'Your backup code was used', [
      `Your backup code was used to sign in to ${ctx.email}. It no longer works; a new one was shown on screen.`,
    ]),
  backupCodeRegenerated: (ctx: MailContext) =>
    compose(ctx, 'New backup code created', [
      `A new backup code was created for ${ctx.email}. The previous one no longer works.`,
    ]),
  passwordChanged: (ctx: MailContext) =>
    compose(
      ctx,
      'Your password was changed',
      [`The password of ${ctx.email} was changed. You have been signed out on every other device.`],
      { notMe: 'If you did not change it, someone has taken over your account: contact your organisation admin at once.' },
    ),
  passwordResetCompleted: (ctx: MailContext) =>
    compose(
      ctx,
      'Your password was reset',
      [
        `The password of ${ctx.email} was reset through a link emailed to this address. You have been signed out everywhere.`,
        'Two-factor authentication is unchanged: the next sign-in still asks for a code from your authenticator app if you use one.',
      ],
      { notMe: 'If you did not reset it, someone can read your email: secure your mailbox, then contact your organisation admin at once.' },
    ),
  passwordResetRequested: (ctx: MailContext & { url: string; minutes: number }) =>
    compose(
      ctx,
      'Reset your password',
      [
        `Someone asked to reset the password of ${ctx.email}. To choose a new password, follow the link below.`,
        `The link is valid for ${ctx.minutes} minutes and works once. Choosing a new password signs you out everywhere; two-factor authentication stays as it is.`,
      ],
      {
        link: { url: ctx.url, label: 'Choose a new password' },
        notMe: 'If you did not ask for this, ignore this email: your password stays as it is.',
      },
    ),
  invitation: (ctx: MailContext & { url: string; days: number; orgName: string; invitedBy: string }) =>
    compose(
      ctx,
      `You are invited to ${ctx.orgName}`,
      [
        `${ctx.invitedBy} invited ${ctx.email} to ${ctx.orgName} on ${ctx.issuer}.`,
        `To accept, follow the link and choose your password. The link is valid for ${ctx.days} days and works once. Then sign in with your email address and that password.`,
      ],
      {
        link: { url: ctx.url, label: 'Accept the invitation' },
        notMe: 'If you did not expect this invitation, ignore this email: no account is created unless you follow the link.',
      },
    ),
  /** To the new address: the only way the change takes effect. */
  emailChangeConfirm: (ctx: MailContext & { url: string; hours: number; oldEmail: string; byAdmin: boolean }) =>
    compose(
      ctx,
      'Confirm your new email address',
      [
        `${ctx.byAdmin ? 'An admin of your organisation' : 'You'} asked to change the sign-in address of the account ${ctx.oldEmail} to ${ctx.email}.`,
        `Nothing changes until you confirm from this mailbox. The link is valid for ${ctx.hours} hours and works once.`,
      ],
      {
        link: { url: ctx.url, label: 'Confirm the new address' },
        notMe: 'If you did not expect this, ignore this email: no account will use this address.',
      },
    ),
  /** To the address in use when a change is asked for, so a change nobody wanted is seen at once. */
  emailChangeRequested: (ctx: MailContext & { newEmail: string; hours: number; byAdmin: boolean }) =>
    compose(
      ctx,
      'A change of your email address was requested',
      [
        `${ctx.byAdmin ? 'An admin of your organisation' : 'Someone signed in to your account'} asked to change its sign-in address from ${ctx.email} to ${ctx.newEmail}.`,
        `It takes effect only if the link sent to ${ctx.newEmail} is followed within ${ctx.hours} hours. Until then you sign in with ${ctx.email} as before.`,
      ],
      { notMe: `If this was not you, change your password at ${ctx.baseUrl}/account/password now and contact your organisation admin.` },
    ),
  /** To the old and the new address once the change took effect. */
  emailChanged: (ctx: MailContext & { oldEmail: string; newEmail: string }) =>
    compose(
      ctx,
      'Your email address was changed',
      [`The sign-in address of your account was changed from ${ctx.oldEmail} to ${ctx.newEmail}. Sign in with ${ctx.newEmail} from now on; your password and two-factor authentication are unchanged.`],
      { notMe: 'If you did not want this, contact your organisation admin at once.' },
    ),
  /** To the admin who created or revoked an organisation API token. */
  apiTokenChanged: (ctx: MailContext & { orgName: string; name: string; change: 'created' | 'revoked'; expiresAt: Date }) =>
    compose(
      ctx,
      `API token ${ctx.change}: ${ctx.name}`,
      ctx.change === 'created'
        ? [`${ctx.email} created the API token “${ctx.name}” for ${ctx.orgName}. It can invite, change and deactivate people through the admin API until ${ctx.expiresAt.toISOString().slice(0, 10)}, unless revoked.`]
        : [`${ctx.email} revoked the API token “${ctx.name}” of ${ctx.orgName}. It no longer works.`],
      { notMe: 'If this was not you, revoke the token on the API tokens page at once and change your password.' },
    ),
  accountDeleted: (ctx: MailContext & { orgName: string }) =>
    compose(
      ctx,
      'Your account was deleted',
      [`An admin of ${ctx.orgName} deleted the account ${ctx.email}. Its password, two-factor authentication and sessions are gone, and the audit log no longer names you. This is the last email you get from us about it.`],
      { notMe: 'If you think this is a mistake, contact your organisation admin: they can invite you again.' },
    ),
  nameChanged: (ctx: MailContext & { name: string | null; byAdmin: boolean }) =>
    compose(
      ctx,
      'Your name was changed',
      [ctx.name === null
        ? `${ctx.byAdmin ? 'An admin of your organisation' : 'You'} removed the display name of ${ctx.email}. Apps you sign in to no longer receive one.`
        : `${ctx.byAdmin ? 'An admin of your organisation' : 'You'} changed the display name of ${ctx.email} to “${ctx.name}”. Apps you sign in to receive it from your next sign-in.`],
      { notMe: 'If you did not expect this, change your password and contact your organisation admin.' },
    ),
  accountDeactivated: (ctx: MailContext & { orgName: string }) =>
    compose(
      ctx,
      'Your account was deactivated',
      [`An admin of ${ctx.orgName} deactivated the account ${ctx.email}. You have been signed out everywhere and cannot sign in until an admin reactivates it.`],
      { notMe: 'If you think this is a mistake, contact your organisation admin.' },
    ),
  accountReactivated: (ctx: MailContext & { orgName: string }) =>
    compose(
      ctx,
      'Your account was reactivated',
      [`An admin of ${ctx.orgName} reactivated the account ${ctx.email}. You can sign in again as before, with your two-factor authentication as it was.`],
      { notMe: 'If you did not expect this, contact your organisation admin.' },
    ),
  roleChanged: (ctx: MailContext & { orgName: string; changes: string[] }) =>
    compose(
      ctx,
      'Your role was changed',
      [`An admin of ${ctx.orgName} changed the account ${ctx.email}: ${ctx.changes.join('; ')}.`],
      { notMe: 'If you think this is a mistake, contact your organisation admin.' },
    ),
  signedOutEverywhere: (ctx: MailContext & { orgName: string }) =>
    compose(
      ctx,
      'You were signed out everywhere',
      [`An admin of ${ctx.orgName} signed ${ctx.email} out on every device. Sign in again to continue.`],
      { notMe: 'If you did not ask for this, your admin may have seen something odd: change your password after signing in.' },
    ),
  accountLocked: (ctx: MailContext) =>
    compose(
      ctx,
      'Your account has been locked',
      [`Your account ${ctx.email} was locked after too many wrong two-factor codes in a row.`],
      { notMe: 'Someone who knows your password may be trying to sign in: ask your organisation admin to unlock your account, then change your password.' },
    ),
  /** To each admin of the organisation when a person is locked out: who, and where to act. */
  adminLockNotice: (ctx: MailContext & { orgName: string; person: string; personUrl: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: ${ctx.person} was locked out`,
      [
        `The account ${ctx.person} in ${ctx.orgName} was locked after too many wrong two-factor codes in a row. Someone who knows the password may be trying to sign in, or the person may have lost their phone.`,
        'Before you unlock the account or reset its two-factor authentication, make sure it is really them asking (call them or ask in person, not by email).',
      ],
      {
        link: { url: ctx.personUrl, label: `Open ${ctx.person}` },
        notMe: `You are receiving this because you are an admin of ${ctx.orgName}. The address and device above are those of whoever typed the codes.`,
      },
    ),
  /** To each admin when a locked-out person presses "Ask my admin to unlock me". */
  unlockRequested: (ctx: MailContext & { orgName: string; person: string; personUrl: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: ${ctx.person} asks to be unlocked`,
      [
        `${ctx.person} asked to have their account in ${ctx.orgName} unlocked, from the page shown to locked-out people.`,
        'Anyone who knows their password can send this request: make sure it is really them (call them or ask in person) before you unlock the account.',
      ],
      {
        link: { url: ctx.personUrl, label: `Open ${ctx.person}` },
        notMe: `You are receiving this because you are an admin of ${ctx.orgName}. The address and device above are those of whoever sent the request.`,
      },
    ),
  /** To the person when an admin or support lifted their lock. */
  accountUnlocked: (ctx: MailContext & { orgName: string; unlockedBy: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: your account was unlocked`,
      [`Your account ${ctx.email} in ${ctx.orgName} was unlocked by ${ctx.unlockedBy}. You can sign in again with your password and a code from your authenticator app.`],
      { notMe: 'If you did not ask for this, someone who knows your password locked the account: change your password as soon as you are signed in.' },
    ),
  /** To the sign-in address when the recovery address changed: the new one is masked. */
  recoveryAddressChanged: (ctx: MailContext & { newAddress: string | null }) =>
    compose(
      ctx,
      'Your recovery email address was changed',
      [
        ctx.newAddress === null
          ? `The recovery email address of ${ctx.email} was removed. "Lost your mobile device?" links now go to ${ctx.email}.`
          : `The recovery email address of ${ctx.email} was changed to ${ctx.newAddress}. "Lost your mobile device?" links now go there.`,
      ],
      { notMe: 'If you did not change it, someone has your password and a code: change your password and contact your organisation admin at once.' },
    ),
  /** To the recovery address that was replaced: it will no longer receive reset links. */
  recoveryAddressReplacedNotice: (ctx: MailContext & { oldAddress: string }) =>
    compose(
      ctx,
      'This address is no longer a recovery address',
      [`${ctx.oldAddress} is no longer the recovery email address of ${ctx.email}: links that reset its two-factor authentication will not be sent here any more.`],
      { notMe: `If the owner of ${ctx.email} did not do this, tell them or their organisation admin at once.` },
    ),
  codeReplayed: (ctx: MailContext) =>
    compose(
      ctx,
      'A used sign-in code was sent again',
      [`A two-factor code for ${ctx.email} that had already been used was sent again, and refused. Someone else may have seen your code.`],
      { notMe: 'If you did not just sign in twice with the same code, change your password and tell your organisation admin.' },
    ),
  adminResetRequested: (ctx: MailContext & { url: string; minutes: number; orgName: string; requestedBy: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: Confirm the reset of your two-factor authentication`,
      [
        `${ctx.requestedBy}, an admin of ${ctx.orgName}, asked to reset two-factor authentication for ${ctx.email}.`,
        `Nothing changes until you confirm. The link is valid for ${ctx.minutes} minutes and works once.`,
      ],
      {
        link: { url: ctx.url, label: 'Confirm 2FA reset' },
        requestedBy: `${ctx.requestedBy} (admin of ${ctx.orgName})`,
        notMe: `If you did not ask your admin for this, ignore this email: your two-factor authentication stays as it is. Tell ${ctx.requestedBy} or another admin of ${ctx.orgName}.`,
      },
    ),
  lostDeviceRequested: (ctx: MailContext & { url: string; minutes: number; orgName: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: Reset two-factor authentication for your account`,
      [
        `You, or someone with your password, asked to reset two-factor authentication for ${ctx.email} in ${ctx.orgName}, saying the mobile device was lost.`,
        `The link is valid for ${ctx.minutes} minutes and works once. After the reset, sign in as usual; you may be asked to set up your authenticator app again.`,
      ],
      {
        link: { url: ctx.url, label: 'Reset two-factor authentication' },
        notMe: 'If you did not ask for this, do not follow the link, and change your password now: someone else knows it.',
      },
    ),
  /** To the sign-in address when the link itself went to a separate recovery address. */
  lostDeviceNotice: (ctx: MailContext & { minutes: number; orgName: string }) =>
    compose(
      ctx,
      `${ctx.orgName}: A reset of your two-factor authentication was requested`,
      [
        `You, or someone with your password, asked to reset two-factor authentication for ${ctx.email} in ${ctx.orgName}, saying the mobile device was lost. The link was sent to the account's recovery address; it is valid for ${ctx.minutes} minutes and works once.`,
      ],
      { notMe: 'If this was not you, change your password now (someone knows it) and tell your organisation admin.' },
    ),
};
