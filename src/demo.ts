import { randomBytes } from 'node:crypto';
import { CLI_CONTEXT, type ServiceDeps } from './services/context.ts';
import { createOrg, createUser } from './services/directory.ts';
import { countOrgs } from './store/orgs.ts';

export const DEMO_ORG = 'Demo';
export const DEMO_ADMIN_EMAIL = 'admin@demo.example';

/** On an empty database, a demo organisation and admin so a first run has something to sign in to. */
export async function seedDemoIfEmpty(deps: ServiceDeps): Promise<{ email: string; password: string } | null> {
  if ((await countOrgs(deps.db)) > 0) return null;
  const actor = { kind: 'operator', name: 'demo-seed' } as const;
  await createOrg(deps, CLI_CONTEXT, actor, { name: DEMO_ORG, edition: 'enterprise', require2fa: false });
  const password = randomBytes(12).toString('base64url');
  await createUser(deps, CLI_CONTEXT, actor, {
    orgName: DEMO_ORG,
    email: DEMO_ADMIN_EMAIL,
    password,
    role: 'admin',
    licensed: true,
    sso: false,
    recoveryEmail: null,
  });
  return { email: DEMO_ADMIN_EMAIL, password };
}
