import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { requestLostDeviceReset } from '../../services/recovery.ts';
import { endSession } from '../../services/sessions.ts';
import { completeSignInWithBackupCode, completeSignInWithCode, signInWithPassword } from '../../services/sign-in.ts';
import { activeSession, currentSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { clearSessionCookie, setSessionCookie } from '../session-cookie.ts';
import { body, codeString, errors, nextStep, passwordString } from './schemas.ts';

export async function sessionRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['sign-in'];

  app.post('/sessions', {
    schema: {
      tags,
      summary: 'Password step',
      body: body({ email: { type: 'string', minLength: 1, maxLength: 254 }, password: passwordString }, ['email', 'password']),
      response: { 200: { type: 'object', properties: { next: nextStep }, required: ['next'] }, ...errors(400, 401, 403, 423, 429) },
    },
    config: { level: 'public', signInStep: 'password' },
  }, async (request, reply) => {
    const previous = await currentSession(deps, request);
    const { next, issued } = await signInWithPassword(deps, requestContext(request), request.body as { email: unknown; password: unknown }, previous?.session ?? null);
    setSessionCookie(reply, deps.config, issued.token);
    return { next };
  });

  app.post('/sessions/totp', {
    schema: {
      tags,
      summary: 'Code step: a 6-digit code from the authenticator app',
      body: body({ code: codeString }, ['code']),
      response: { 200: { type: 'object', properties: { next: nextStep }, required: ['next'] }, ...errors(400, 401, 409, 423) },
    },
    config: { level: 'password_verified', signInStep: 'code' },
  }, async (request, reply) => {
    const active = activeSession(request);
    const issued = await completeSignInWithCode(deps, requestContext(request), active, (request.body as { code: unknown }).code);
    setSessionCookie(reply, deps.config, issued.token);
    // `enroll`: the organisation requires a passkey, and this person has none yet.
    return { next: issued.session.level === 'full' ? 'done' : 'enroll' };
  });

  app.post('/sessions/recovery-code', {
    schema: {
      tags,
      summary: 'Code step with the backup code; answers with its replacement',
      body: body({ code: codeString }, ['code']),
      response: {
        200: { type: 'object', properties: { next: nextStep, recoveryCode: { type: 'string' } }, required: ['next', 'recoveryCode'] },
        ...errors(400, 401, 409, 423),
      },
    },
    config: { level: 'password_verified', signInStep: 'backup_code' },
  }, async (request, reply) => {
    const active = activeSession(request);
    const result = await completeSignInWithBackupCode(deps, requestContext(request), active, (request.body as { code: unknown }).code);
    setSessionCookie(reply, deps.config, result.issued.token);
    return { next: result.issued.session.level === 'full' ? 'done' : 'enroll', recoveryCode: result.recoveryCode };
  });

  app.post('/sessions/lost-device', {
    schema: { tags, summary: 'Email the recovery address a link that resets 2FA', response: { 202: { type: 'null' }, ...errors(409) } },
    config: { level: 'password_verified' },
  }, async (request, reply) => {
    const active = activeSession(request);
    await requestLostDeviceReset(deps, requestContext(request), active);
    return reply.status(202).send();
  });

  app.delete('/sessions/current', {
    schema: { tags, summary: 'Sign out: ends the session on the server', response: { 204: { type: 'null' } } },
    config: { level: 'public' },
  }, async (request, reply) => {
    const active = await currentSession(deps, request);
    if (active) await endSession(deps, active.session);
    clearSessionCookie(reply, deps.config);
    return reply.status(204).send();
  });
}
