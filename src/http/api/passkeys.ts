import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { beginPasskeySignIn, ceremonyFor, completeSignInWithPasskey, signInWithPasskeyAlone } from '../../services/passkey-sign-in.ts';
import { beginPasskeyRegistration, finishPasskeyRegistration, listOwnPasskeys, removeOwnPasskey, renameOwnPasskey } from '../../services/passkeys.ts';
import { activeSession, currentSession } from '../guards.ts';
import { passwordlessBinding, readPasswordlessBinding } from '../passkey-cookie.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { body, codeString, errors, nextStep, passwordString } from './schemas.ts';

/** A browser's WebAuthn answer as @simplewebauthn/browser returns it; its fields are checked by the service. */
const webauthnResponse = { type: 'object', maxProperties: 8, description: 'RegistrationResponseJSON or AuthenticationResponseJSON' } as const;
const webauthnOptions = { type: 'object', additionalProperties: true, description: 'PublicKeyCredentialCreationOptionsJSON or …RequestOptionsJSON, for startRegistration / startAuthentication' } as const;
const passkeyView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string', enum: ['hwk', 'swk'], description: 'hwk: a security key bound to one device; swk: a synced passkey' },
    backedUp: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['id', 'name', 'kind', 'backedUp', 'createdAt', 'lastUsedAt'],
} as const;
/** The current second factor beside the password: an app code, or an assertion from a signed-in POST /sessions/passkey/options. */
const factorFields = { password: passwordString, code: codeString, assertion: webauthnResponse };
const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

export async function passkeyRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['passkeys'];

  app.post('/me/passkeys/options', {
    schema: {
      tags,
      summary: 'Creation options for a new passkey (password, and a current factor when 2FA is on; nothing more in forced set-up)',
      body: body(factorFields, []),
      response: { 200: webauthnOptions, ...errors(400, 401, 403, 409, 423) },
    },
    config: { level: 'enrolling' },
  }, async (request) => {
    const active = activeSession(request);
    return beginPasskeyRegistration(deps, requestContext(request), active, (request.body ?? {}) as Record<string, unknown>);
  });

  app.post('/me/passkeys', {
    schema: {
      tags,
      summary: 'Register the passkey: the browser\'s attestation response and a name. The first one turns 2FA on and answers with the backup code, shown once',
      body: body({ response: webauthnResponse, name: { type: 'string', minLength: 1, maxLength: 200 } }, ['response', 'name']),
      response: {
        201: { type: 'object', properties: { passkey: passkeyView, recoveryCode: { type: ['string', 'null'] }, next: nextStep }, required: ['passkey', 'recoveryCode', 'next'] },
        ...errors(400, 401, 403, 409),
      },
    },
    config: { level: 'enrolling' },
  }, async (request, reply) => {
    const active = activeSession(request);
    const result = await finishPasskeyRegistration(deps, requestContext(request), active, request.body as { response: unknown; name: unknown });
    if (result.issued) setSessionCookie(reply, deps.config, result.issued.token);
    return reply.status(201).send({ passkey: result.passkey, recoveryCode: result.recoveryCode, next: 'done' });
  });

  app.get('/me/passkeys', {
    schema: { tags, summary: 'The person\'s passkeys and security keys', response: { 200: { type: 'object', properties: { passkeys: { type: 'array', items: passkeyView } } }, ...errors(401) } },
    config: { level: 'signed_in' },
  }, async (request) => ({ passkeys: await listOwnPasskeys(deps, activeSession(request)) }));

  app.patch('/me/passkeys/:id', {
    schema: {
      tags,
      summary: 'Rename a passkey',
      params: idParams,
      body: body({ name: { type: 'string', minLength: 1, maxLength: 200 } }, ['name']),
      response: { 200: passkeyView, ...errors(400, 401, 404) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    const active = activeSession(request);
    return renameOwnPasskey(deps, requestContext(request), active, (request.params as { id: string }).id, (request.body as { name: unknown }).name);
  });

  app.delete('/me/passkeys/:id', {
    schema: {
      tags,
      summary: 'Remove a passkey (password and a current factor: an app code, an assertion, or the backup code); refused for the last factor while 2FA is required. 204; 200 {recoveryCode} when the backup code was spent: the new one, shown once',
      params: idParams,
      body: body({ ...factorFields, backupCode: { ...codeString, description: 'Instead of a code or an assertion: the backup code, spent by this; a new one is answered' } }, ['password']),
      response: {
        200: { type: 'object', properties: { recoveryCode: { type: 'string' } }, required: ['recoveryCode'] },
        204: { type: 'null' },
        ...errors(400, 401, 403, 404, 409, 423, 429),
      },
    },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const active = activeSession(request);
    const { recoveryCode } = await removeOwnPasskey(deps, requestContext(request), active, (request.params as { id: string }).id, request.body as Record<string, unknown>);
    return recoveryCode === null ? reply.status(204).send() : reply.status(200).send({ recoveryCode });
  });

  app.post('/sessions/passkey/options', {
    schema: {
      tags: ['sign-in', ...tags],
      summary: 'Request options: passwordless with no session, the second step after the password, or a fresh proof on a signed-in session',
      response: {
        200: { type: 'object', properties: { ceremony: { type: 'string', enum: ['passwordless', 'second_step', 'reauth'] }, options: webauthnOptions }, required: ['ceremony', 'options'] },
        ...errors(400, 409, 429),
      },
    },
    config: { level: 'public' },
  }, async (request, reply) => {
    const active = await currentSession(deps, request);
    const binding = active === null ? passwordlessBinding(request, reply, deps.config, deps.random) : null;
    return beginPasskeySignIn(deps, active, binding);
  });

  app.post('/sessions/passkey', {
    schema: {
      tags: ['sign-in', ...tags],
      summary: 'Sign in with a passkey: passwordless (user verification required) or the second step',
      body: body({ response: webauthnResponse }, ['response']),
      response: { 200: { type: 'object', properties: { next: nextStep }, required: ['next'] }, ...errors(400, 401, 403, 409, 423, 429) },
    },
    config: { level: 'public', signInStep: 'passkey' },
  }, async (request, reply) => {
    const active = await currentSession(deps, request);
    const ctx = requestContext(request);
    const raw = (request.body as { response: unknown }).response;
    // The session decides the ceremony, as it did for the options: no session is passwordless.
    const ceremony = ceremonyFor(active);
    if (ceremony === 'reauth') throw new TesseraError('wrong_step', {}, 'Already signed in: send this assertion with the change it is for.');
    const issued = active === null
      ? await signInWithPasskeyAlone(deps, ctx, readPasswordlessBinding(request, deps.config), raw, null)
      : await completeSignInWithPasskey(deps, ctx, active, raw);
    setSessionCookie(reply, deps.config, issued.token);
    return { next: 'done' };
  });
}
