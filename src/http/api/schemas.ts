import { MAX_PASSWORD_INPUT_LENGTH } from '../../domain/password-policy.ts';

/** JSON schemas shared by the API routes; they also feed the OpenAPI document at /api/docs. */
export const errorResponse = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, attemptsLeft: { type: 'integer' } },
      required: ['code', 'message'],
      additionalProperties: true,
    },
  },
  required: ['error'],
} as const;

export const codeString = { type: 'string', minLength: 1, maxLength: 64 } as const;
/**
 * Every password field, new or entered, has the same raw cap (code points, before normalising);
 * the services then apply the one definition of length (src/domain/password-policy.ts).
 */
export const passwordString = { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_INPUT_LENGTH } as const;

export function body(properties: Record<string, object>, required: string[]): object {
  return { type: 'object', properties, required, additionalProperties: false };
}

export function errors(...statuses: number[]): Record<number, object> {
  return Object.fromEntries(statuses.map((s) => [s, { description: 'Error', ...errorResponse }]));
}

export const nextStep = { type: 'string', enum: ['done', 'totp', 'enroll'] } as const;

/** Instead of an app code, the current factor as a passkey: an assertion answering a signed-in POST /sessions/passkey/options. */
export const passkeyAssertion = { type: 'object', maxProperties: 8, description: 'Instead of a code: a passkey assertion from a signed-in POST /sessions/passkey/options' } as const;
