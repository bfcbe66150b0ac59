import { destroyModel, listAccountModels, revokeGrant } from '../store/oidc-models.ts';
import type { ServiceDeps } from './context.ts';

/**
 * Ends a person's sessions at the OpenID provider and revokes everything issued under their
 * grants (refresh tokens included): Tessera's own session is the truth, and when it ends, or the
 * person is locked out or loses a factor, applications must not keep them signed in.
 */
export async function endProviderSessions(deps: ServiceDeps, accountId: string): Promise<void> {
  const now = deps.clock.now().getTime();
  for (const model of ['Session', 'RefreshToken', 'AccessToken', 'AuthorizationCode', 'Grant']) {
    for (const { id, payload } of await listAccountModels(deps.db, accountId, model)) {
      if (model === 'Grant') await revokeGrant(deps.db, id, now);
      else if (typeof payload.grantId === 'string') await revokeGrant(deps.db, payload.grantId, now);
      await destroyModel(deps.db, model, id);
    }
  }
}
