import { parseArgs } from 'node:util';
import type { Runtime } from '../deps.ts';
import { TesseraError } from '../domain/errors.ts';
import { type ClientView, createClient, type IdTokenAlg, listClients, removeClient, rotateClientSecret, showClient, updateClient } from '../services/oidc-clients.ts';

/** `tessera client create|list|show|update|rotate-secret|remove`: applications that sign in through Tessera. */

export const CLIENT_USAGE = `  tessera client create --name N --redirect-uri U [--redirect-uri U2] [--public] [--third-party]
                        [--post-logout-redirect-uri U] [--backchannel-logout-uri U] [--org NAME]...
                        [--id-token-alg ES256|RS256]
  tessera client list
  tessera client show --client-id ID
  tessera client update --client-id ID --id-token-alg ES256|RS256
  tessera client rotate-secret --client-id ID
  tessera client remove --client-id ID`;

type WithRuntime = <T>(work: (runtime: Runtime) => Promise<T>) => Promise<T>;

function usage(message: string): never {
  throw new TesseraError('invalid_request', {}, message);
}

function describe(c: ClientView): string {
  return [
    `client_id:   ${c.clientId}`,
    `name:        ${c.name}`,
    `type:        ${c.type}${c.type === 'confidential' ? ' (client_secret_basic)' : ' (no secret; PKCE)'}`,
    `first-party: ${c.firstParty ? 'yes (no consent page)' : 'no (people are asked to consent)'}`,
    `redirect:    ${c.redirectUris.join(' ')}`,
    ...(c.postLogoutRedirectUris.length ? [`post-logout: ${c.postLogoutRedirectUris.join(' ')}`] : []),
    ...(c.backchannelLogoutUri ? [`back-channel logout: ${c.backchannelLogoutUri}`] : []),
    `organisations: ${c.orgs.length ? c.orgs.join(', ') : 'all'}`,
    `ID tokens:   ${c.idTokenAlg}`,
    `created:     ${c.createdAt}`,
  ].join('\n');
}

export async function clientCommand(action: string | undefined, args: string[], withRuntime: WithRuntime): Promise<number> {
  const { values: v } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      public: { type: 'boolean' },
      'third-party': { type: 'boolean' },
      org: { type: 'string', multiple: true },
      'client-id': { type: 'string' },
      'id-token-alg': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const clientId = (): string => v['client-id'] || usage('--client-id is required');
  switch (action) {
    case 'create': {
      const { client, secret } = await withRuntime((r) =>
        createClient(r.deps, {
          name: v.name ?? usage('--name is required'),
          redirectUris: v['redirect-uri'] ?? [],
          postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
          backchannelLogoutUri: v['backchannel-logout-uri'] ?? null,
          public: v.public === true,
          thirdParty: v['third-party'] === true,
          orgNames: v.org ?? [],
          ...(v['id-token-alg'] !== undefined ? { idTokenAlg: v['id-token-alg'] as IdTokenAlg } : {}),
        }),
      );
      console.log(describe(client));
      // Printed once; only a sealed copy is kept.
      if (secret) console.log(`client_secret: ${secret}\n(shown only now: store it in the application's configuration)`);
      return 0;
    }
    case 'list': {
      const clients = await withRuntime((r) => listClients(r.deps));
      if (v.json) console.log(JSON.stringify(clients, null, 2));
      else for (const c of clients) console.log(`${c.clientId}\t${c.type}\t${c.firstParty ? 'first-party' : 'third-party'}\t${c.name}`);
      return 0;
    }
    case 'show': {
      const client = await withRuntime((r) => showClient(r.deps, clientId()));
      console.log(v.json ? JSON.stringify(client, null, 2) : describe(client));
      return 0;
    }
    case 'update': {
      const id = clientId();
      const alg = v['id-token-alg'] ?? usage('--id-token-alg is required (the only setting update changes)');
      const client = await withRuntime((r) => updateClient(r.deps, id, { idTokenAlg: alg }));
      console.log(describe(client));
      return 0;
    }
    case 'rotate-secret': {
      const secret = await withRuntime((r) => rotateClientSecret(r.deps, clientId()));
      console.log(`client_secret: ${secret}\n(the previous secret no longer works)`);
      return 0;
    }
    case 'remove': {
      const id = clientId();
      await withRuntime((r) => removeClient(r.deps, id));
      console.log(`removed client ${id}; its tokens no longer work`);
      return 0;
    }
    default:
      return usage(`unknown command "client ${action ?? ''}"`);
  }
}
