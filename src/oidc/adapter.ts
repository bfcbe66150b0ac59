import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ServiceDeps } from '../services/context.ts';
import { ORG_IDS, THIRD_PARTY } from './client-metadata.ts';
import { loadProviderClient } from '../services/oidc-clients.ts';
import {
  consumeModel,
  destroyModel,
  findModel,
  findModelByUid,
  findModelByUserCode,
  revokeGrant,
  upsertModel,
} from '../store/oidc-models.ts';

/**
 * The provider's storage on Tessera's database. Clients come from `oidc_clients` (registered with
 * the CLI); every other model is a row of `oidc_models`.
 */
export function adapterClass(deps: ServiceDeps): new (name: string) => Adapter {
  return class KyselyAdapter implements Adapter {
    readonly model: string;
    constructor(name: string) {
      this.model = name;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') throw new Error('clients are registered with `tessera client create`');
      const expiresAt = typeof expiresIn === 'number' ? deps.clock.now().getTime() + expiresIn * 1000 : null;
      await upsertModel(deps.db, { model: this.model, id, payload: payload as Record<string, unknown>, expiresAt });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const client = await loadProviderClient(deps, id);
        return client ? ({ ...client.metadata, [THIRD_PARTY]: client.thirdParty, [ORG_IDS]: client.orgIds } as AdapterPayload) : undefined;
      }
      return ((await findModel(deps.db, this.model, id))?.payload as AdapterPayload | undefined) ?? undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return ((await findModelByUid(deps.db, this.model, uid))?.payload as AdapterPayload | undefined) ?? undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return ((await findModelByUserCode(deps.db, this.model, userCode))?.payload as AdapterPayload | undefined) ?? undefined;
    }

    /**
     * The library reads the object, checks `consumed`, then calls this: on its own that lets
     * concurrent redemptions of one code all through. Here the consume is one conditional UPDATE;
     * the losers revoke the whole grant (the winner's tokens included: a code presented twice is
     * treated as stolen, RFC 6749 §4.1.2) and get invalid_grant.
     */
    async consume(id: string): Promise<void> {
      const now = deps.clock.now().getTime();
      if (await consumeModel(deps.db, this.model, id, now)) return;
      const stored = await findModel(deps.db, this.model, id);
      const grantId = stored?.payload.grantId;
      if (typeof grantId === 'string') await revokeGrant(deps.db, grantId, now);
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
    }

    async destroy(id: string): Promise<void> {
      await destroyModel(deps.db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await revokeGrant(deps.db, grantId, deps.clock.now().getTime());
    }
  };
}
