import type { FastifyInstance } from 'fastify';
import { parseSignInMethod } from '../../domain/forward-auth-policy.ts';
import { describeMfaState } from '../../services/accounts.ts';
import { sessionAssurance } from '../../services/session-assurance.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { beginAppReplacement, confirmAppReplacement } from '../../services/app-replacement.ts';
import { beginTotpSetup, confirmTotpSetup } from '../../services/enrolment.ts';
import { regenerateBackupCode, removeTotp } from '../../services/factors.ts';
import { changePassword } from '../../services/password-change.ts';
import { changeOwnName } from '../../services/display-name.ts';
import { MAX_DISPLAY_NAME_LENGTH } from '../../domain/display-name.ts';
import { changeRecoveryEmail } from '../../services/recovery-address.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { body, codeString, errors, nextStep, passkeyAssertion, passwordString } from './schemas.ts';

/** A new secret as the app needs it: set-up and replacement both answer with it. */
const setupResponse = {
  type: 'object',
  properties: { secret: { type: 'string' }, secretGroups: { type: 'string' }, otpauthUri: { type: 'string' }, qrSvg: { type: 'string' } },
  required: ['secret', 'otpauthUri', 'qrSvg'],
} as const;

export async function meRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['account'];

  app.get('/me', {
    schema: {
      tags,
      summary: 'The signed-in user and their 2FA state',
      response: {
        200: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            email: { type: 'string' },
            name: { type: ['string', 'null'] },
            role: { type: 'string' },
            org: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, edition: { type: 'string' } } },
            mfa: {
              type: 'object',
              properties: {
                available: { type: 'boolean' },
                unavailableReason: { type: ['string', 'null'] },
                required: { type: 'boolean' },
                enabled: { type: 'boolean' },
                locked: { type: 'boolean' },
                graceDaysLeft: { type: 'integer' },
                setupDueBy: { type: ['string', 'null'], format: 'date-time', description: 'When a postponed set-up becomes required (end of the grace period)' },
              },
            },
            passkeys: {
              type: 'object',
              properties: {
                count: { type: 'integer', description: 'How many passkeys and security keys the person has' },
                required: { type: 'boolean', description: 'The organisation requires phishing-resistant 2FA (passkeys only)' },
                graceDaysLeft: { type: 'integer', description: 'Days left to add one, for someone without' },
              },
            },
            signIn: {
              type: 'object',
              description: 'How this session was signed in',
              properties: {
                method: { type: ['string', 'null'], enum: ['password', 'password+totp', 'password+backup_code', 'password+hwk', 'password+swk', 'hwk', 'swk', null] },
                acr: { type: 'string' },
                amr: { type: 'array', items: { type: 'string' } },
                authTime: { type: 'string', format: 'date-time' },
              },
            },
          },
        },
        ...errors(401),
      },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    // Nothing has changed since the session was looked up: its reading of the factors stands.
    const { passkeyRequired, passkeyGraceDaysLeft: passkeyGrace, ...mfa } = await describeMfaState(deps, active, deps.db, active.factors);
    const passkeys = { count: active.factors.passkeyCount, required: passkeyRequired, graceDaysLeft: passkeyGrace };
    const assurance = sessionAssurance(active);
    return {
      signIn: { method: parseSignInMethod(active.session.sign_in_method), acr: assurance.acr, amr: assurance.amr, authTime: new Date(assurance.authenticatedAt).toISOString() },
      id: active.user.id,
      email: active.user.email,
      name: active.user.name,
      role: active.user.role,
      org: { id: active.org.id, name: active.org.name, edition: active.org.edition },
      mfa,
      passkeys,
    };
  });

  app.patch('/me', {
    schema: {
      tags,
      summary: `Change my display name (null or "" removes it; at most ${MAX_DISPLAY_NAME_LENGTH} characters, no control or text-direction characters); I am emailed`,
      body: body({ name: { type: ['string', 'null'], maxLength: MAX_DISPLAY_NAME_LENGTH * 4 } }, ['name']),
      response: { 200: { type: 'object', properties: { name: { type: ['string', 'null'] } } }, ...errors(400, 401) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const user = await changeOwnName(deps, requestContext(request), activeSession(request), (request.body as { name: unknown }).name);
    return { name: user.name };
  });

  app.post('/me/totp/setup', {
    schema: {
      tags,
      summary: 'Start setting up the authenticator app: a fresh secret, otpauth URI and QR code (password needed except in forced set-up; with passkeys already on, a passkey assertion too, to add the app beside them)',
      body: { type: 'object', properties: { password: passwordString, assertion: passkeyAssertion }, additionalProperties: false },
      response: {
        200: setupResponse,
        ...errors(400, 401, 403, 409),
      },
    },
    config: { level: 'enrolling' },
  }, async (request) => {
    const active = activeSession(request);
    return beginTotpSetup(deps, requestContext(request), active, (request.body ?? {}) as { password?: unknown; assertion?: unknown });
  });

  app.post('/me/totp/confirm', {
    schema: {
      tags,
      summary: 'Finish set-up with a code from the app; answers with the backup code, shown once (null when the app was added beside passkeys: 2FA was on, the backup code stays)',
      body: body({ code: codeString }, ['code']),
      response: {
        200: { type: 'object', properties: { recoveryCode: { type: ['string', 'null'] }, next: nextStep }, required: ['recoveryCode', 'next'] },
        ...errors(400, 401, 403, 409),
      },
    },
    config: { level: 'enrolling' },
  }, async (request, reply) => {
    const active = activeSession(request);
    const result = await confirmTotpSetup(deps, requestContext(request), active, (request.body as { code: unknown }).code);
    if (result.issued) setSessionCookie(reply, deps.config, result.issued.token);
    return { recoveryCode: result.recoveryCode, next: 'done' };
  });

  app.post('/me/totp/replace', {
    schema: {
      tags,
      summary: 'Move 2FA to a new authenticator app (password and a code from the current app, or a passkey assertion): a new secret, otpauth URI and QR code',
      body: body({ password: passwordString, code: codeString, assertion: passkeyAssertion }, ['password']),
      response: { 200: setupResponse, ...errors(400, 401, 403, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    return beginAppReplacement(deps, requestContext(request), active, request.body as { password: unknown; code?: unknown; assertion?: unknown });
  });

  app.post('/me/totp/replace/confirm', {
    schema: {
      tags,
      summary: 'Finish the move with a code from the new app: the new secret replaces the old one; other sessions end',
      body: body({ code: codeString }, ['code']),
      response: { 204: { type: 'null' }, ...errors(400, 401, 403, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const active = activeSession(request);
    await confirmAppReplacement(deps, requestContext(request), active, (request.body as { code: unknown }).code);
    return reply.status(204).send();
  });

  app.delete('/me/totp', {
    schema: {
      tags,
      summary: 'Remove 2FA (password and a current code)',
      body: body({ password: passwordString, code: codeString }, ['password', 'code']),
      response: { 204: { type: 'null' }, ...errors(400, 401, 403, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const active = activeSession(request);
    await removeTotp(deps, requestContext(request), active, request.body as { password: unknown; code: unknown });
    return reply.status(204).send();
  });

  app.put('/me/recovery-email', {
    schema: {
      tags,
      summary: 'Set where "Lost your mobile device?" links go (password and a current code); "" sends them to the sign-in address. The sign-in address and the replaced address are emailed.',
      body: body({ password: passwordString, code: codeString, recoveryEmail: { type: 'string', maxLength: 320 } }, ['password', 'code', 'recoveryEmail']),
      response: { 200: { type: 'object', properties: { recoveryEmail: { type: ['string', 'null'] } }, required: ['recoveryEmail'] }, ...errors(400, 401, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    const recoveryEmail = await changeRecoveryEmail(deps, requestContext(request), active, request.body as { password: unknown; code: unknown; recoveryEmail: unknown });
    return { recoveryEmail };
  });

  app.post('/me/recovery-code', {
    schema: {
      tags,
      summary: 'Regenerate the backup code (password and a current code, or a passkey assertion)',
      body: body({ password: passwordString, code: codeString, assertion: passkeyAssertion }, ['password']),
      response: { 200: { type: 'object', properties: { recoveryCode: { type: 'string' } }, required: ['recoveryCode'] }, ...errors(400, 401, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    const recoveryCode = await regenerateBackupCode(deps, requestContext(request), active, request.body as { password: unknown; code?: unknown; assertion?: unknown });
    return { recoveryCode };
  });

  app.post('/me/password', {
    schema: {
      tags,
      summary: 'Change the password (the current one first); other sessions end and the owner is emailed',
      body: body({ currentPassword: passwordString, newPassword: passwordString }, ['currentPassword', 'newPassword']),
      response: { 204: { type: 'null' }, ...errors(400, 401, 429) },
    },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const active = activeSession(request);
    await changePassword(deps, requestContext(request), active, request.body as { currentPassword: unknown; newPassword: unknown });
    return reply.status(204).send();
  });
}
