import type { FastifyInstance } from 'fastify';
import { describeMfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { beginAppReplacement, confirmAppReplacement } from '../../services/app-replacement.ts';
import { beginTotpSetup, confirmTotpSetup } from '../../services/enrolment.ts';
import { regenerateBackupCode, removeTotp } from '../../services/factors.ts';
import { changePassword } from '../../services/password-change.ts';
import { changeOwnName } from '../../services/display-name.ts';
import { MAX_DISPLAY_NAME_LENGTH } from '../../domain/display-name.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { body, codeString, errors, nextStep, passwordString } from './schemas.ts';

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
    const mfa = await describeMfaState(deps, active);
    return {
      id: active.user.id,
      email: active.user.email,
      name: active.user.name,
      role: active.user.role,
      org: { id: active.org.id, name: active.org.name, edition: active.org.edition },
      mfa,
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
      summary: 'Start 2FA set-up: a fresh secret, otpauth URI and QR code (password needed except in forced set-up)',
      body: { type: 'object', properties: { password: passwordString }, additionalProperties: false },
      response: {
        200: setupResponse,
        ...errors(400, 401, 403, 409),
      },
    },
    config: { level: 'enrolling' },
  }, async (request) => {
    const active = activeSession(request);
    return beginTotpSetup(deps, requestContext(request), active, (request.body as { password?: unknown } | undefined)?.password);
  });

  app.post('/me/totp/confirm', {
    schema: {
      tags,
      summary: 'Finish set-up with a code from the app; answers with the backup code, shown once',
      body: body({ code: codeString }, ['code']),
      response: {
        200: { type: 'object', properties: { recoveryCode: { type: 'string' }, next: nextStep }, required: ['recoveryCode', 'next'] },
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
      summary: 'Move 2FA to a new authenticator app (password and a code from the current app): a new secret, otpauth URI and QR code',
      body: body({ password: passwordString, code: codeString }, ['password', 'code']),
      response: { 200: setupResponse, ...errors(400, 401, 403, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    return beginAppReplacement(deps, requestContext(request), active, request.body as { password: unknown; code: unknown });
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

  app.post('/me/recovery-code', {
    schema: {
      tags,
      summary: 'Regenerate the backup code (password and a current code)',
      body: body({ password: passwordString, code: codeString }, ['password', 'code']),
      response: { 200: { type: 'object', properties: { recoveryCode: { type: 'string' } }, required: ['recoveryCode'] }, ...errors(400, 401, 409, 423) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    const recoveryCode = await regenerateBackupCode(deps, requestContext(request), active, request.body as { password: unknown; code: unknown });
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
