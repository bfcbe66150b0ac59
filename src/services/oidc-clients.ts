import { TesseraError } from '../domain/errors.ts';
import { oidcClientSecretBinding as clientSecretBinding, openSecret, sealSecret } from '../domain/secret-box.ts';
import { findOrgById, findOrgByName } from '../store/orgs.ts';
import { listClientGrantIds, revokeGrant } from '../store/oidc-models.ts';
import {
  deleteOidcClient,
  findOidcClient,
  insertOidcClient,
  listOidcClients,
  type OidcClientRow,
  replaceOidcClientMetadata,
  replaceOidcClientSecret,
} from '../store/oidc-clients.ts';
import type { ServiceDeps } from './context.ts';

/**
 * Applications registered with the OpenID provider. The provider compares client_secret itself
 * (constant-time, against the value it is given), so a one-way hash cannot work: secrets are sealed
 * with the key ring like TOTP secrets (AES-256-GCM, bound to the client id) and opened only when
 * the provider looks the client up.
 */

export interface ClientInput {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | null;
  public: boolean;
  thirdParty: boolean;
  orgNames: string[];
  /** How its ID tokens are signed; ES256 unless the application only knows RS256. */
  idTokenAlg?: IdTokenAlg;
}

/** The ID-token signing algorithms a client may choose: the provider holds a key for each. */
export const ID_TOKEN_ALGS = ['ES256', 'RS256'] as const;
export type IdTokenAlg = (typeof ID_TOKEN_ALGS)[number];
const DEFAULT_ID_TOKEN_ALG: IdTokenAlg = 'ES256';

function validIdTokenAlg(alg: string): IdTokenAlg {
  if (!(ID_TOKEN_ALGS as readonly string[]).includes(alg)) {
    throw new TesseraError('invalid_request', { field: 'id-token-alg' }, `--id-token-alg must be ${ID_TOKEN_ALGS.join(' or ')}, got "${alg}"`);
  }
  return alg as IdTokenAlg;
}

export interface ClientView {
  clientId: string;
  name: string;
  type: 'confidential' | 'public';
  firstParty: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | null;
  orgs: string[];
  idTokenAlg: IdTokenAlg;
  createdAt: string;
}

/** What the provider gets for a client id: its metadata, with the secret opened. */
export interface ProviderClient {
  metadata: Record<string, unknown>;
  thirdParty: boolean;
  orgIds: string[];
}

const SECRET_BYTES = 32;
const MAX_NAME = 100;
const MAX_URIS = 20;

/**
 * Absolute http(s), no fragment, no credentials; the provider then matches them exactly. Plain http
 * is accepted because self-hosted applications often live on a LAN without TLS.
 */
function validUri(raw: string, field: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TesseraError('invalid_request', { field }, `${field} must be an absolute URL, got "${raw}"`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.hash !== '' || raw.includes('#') || u.username || u.password) {
    throw new TesseraError('invalid_request', { field }, `${field} must be an http(s) URL without a fragment or credentials, got "${raw}"`);
  }
  return raw;
}

function newSecret(deps: ServiceDeps): string {
  return Buffer.from(deps.random.bytes(SECRET_BYTES)).toString('base64url');
}

export async function createClient(deps: ServiceDeps, input: ClientInput): Promise<{ client: ClientView; secret: string | null }> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > MAX_NAME) throw new TesseraError('invalid_request', { field: 'name' }, `--name must be 1 to ${MAX_NAME} characters`);
  if (input.redirectUris.length === 0) throw new TesseraError('invalid_request', { field: 'redirect-uri' }, 'at least one --redirect-uri is required');
  if (input.redirectUris.length > MAX_URIS || input.postLogoutRedirectUris.length > MAX_URIS) throw new TesseraError('invalid_request', {}, `at most ${MAX_URIS} URIs of each kind`);
  const redirectUris = input.redirectUris.map((u) => validUri(u, 'redirect-uri'));
  const postLogout = input.postLogoutRedirectUris.map((u) => validUri(u, 'post-logout-redirect-uri'));
  const backchannel = input.backchannelLogoutUri === null ? null : validUri(input.backchannelLogoutUri, 'backchannel-logout-uri');
  const idTokenAlg = validIdTokenAlg(input.idTokenAlg ?? DEFAULT_ID_TOKEN_ALG);
  const orgIds: string[] = [];
  for (const orgName of input.orgNames) {
    const org = await findOrgByName(deps.db, orgName);
    if (!org) throw new TesseraError('not_found', { field: 'org' }, `no organisation named "${orgName}"`);
    orgIds.push(org.id);
  }
  const clientId = `tc_${Buffer.from(deps.random.bytes(15)).toString('base64url')}`;
  const metadata: Record<string, unknown> = {
    client_id: clientId,
    client_name: name,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogout,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: input.public ? 'none' : 'client_secret_basic',
    id_token_signed_response_alg: idTokenAlg,
    ...(backchannel ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true } : {}),
  };
  const secret = input.public ? null : newSecret(deps);
  const sealed = secret === null ? null : sealSecret(deps.keys.keyring(), secret, clientSecretBinding(clientId), deps.random);
  const row: OidcClientRow = {
    id: clientId,
    name,
    metadata: JSON.stringify(metadata),
    secret_key_id: sealed?.keyId ?? null,
    secret_ciphertext: sealed?.ciphertext ?? null,
    third_party: input.thirdParty ? 1 : 0,
    org_ids: JSON.stringify(orgIds),
    created_at: deps.clock.now().getTime(),
    last_used_at: null,
    auth_failures: 0,
    last_auth_failure_at: null,
    last_auth_failure_reason: null,
  };
  await insertOidcClient(deps.db, row);
  return { client: await viewOf(deps, row), secret };
}

async function viewOf(deps: ServiceDeps, row: OidcClientRow): Promise<ClientView> {
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  const orgs: string[] = [];
  for (const id of JSON.parse(row.org_ids) as string[]) orgs.push((await findOrgById(deps.db, id))?.name ?? id);
  return {
    clientId: row.id,
    name: row.name,
    type: row.secret_ciphertext === null ? 'public' : 'confidential',
    firstParty: row.third_party === 0,
    redirectUris: metadata.redirect_uris as string[],
    postLogoutRedirectUris: (metadata.post_logout_redirect_uris as string[] | undefined) ?? [],
    backchannelLogoutUri: (metadata.backchannel_logout_uri as string | undefined) ?? null,
    orgs,
    idTokenAlg: (metadata.id_token_signed_response_alg as IdTokenAlg | undefined) ?? DEFAULT_ID_TOKEN_ALG,
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

export async function listClients(deps: ServiceDeps): Promise<ClientView[]> {
  const rows = await listOidcClients(deps.db);
  return Promise.all(rows.map((r) => viewOf(deps, r)));
}

async function requireClient(deps: ServiceDeps, clientId: string): Promise<OidcClientRow> {
  const row = await findOidcClient(deps.db, clientId);
  if (!row) throw new TesseraError('not_found', { field: 'client-id' }, `no client with id "${clientId}"`);
  return row;
}

export async function showClient(deps: ServiceDeps, clientId: string): Promise<ClientView> {
  return viewOf(deps, await requireClient(deps, clientId));
}

/** A new secret, shown once; the old one stops working at once. */
export async function rotateClientSecret(deps: ServiceDeps, clientId: string): Promise<string> {
  const row = await requireClient(deps, clientId);
  if (row.secret_ciphertext === null) throw new TesseraError('invalid_request', { field: 'client-id' }, 'a public client has no secret');
  const secret = newSecret(deps);
  const sealed = sealSecret(deps.keys.keyring(), secret, clientSecretBinding(clientId), deps.random);
  if (!(await replaceOidcClientSecret(deps.db, clientId, sealed.keyId, sealed.ciphertext))) throw new TesseraError('not_found', { field: 'client-id' });
  return secret;
}

/**
 * Changes how the client's ID tokens are signed, from its next token on (the provider reads a
 * client's metadata afresh on every lookup). Tokens issued before keep their signature.
 */
export async function updateClient(deps: ServiceDeps, clientId: string, change: { idTokenAlg: string }): Promise<ClientView> {
  const idTokenAlg = validIdTokenAlg(change.idTokenAlg);
  const row = await requireClient(deps, clientId);
  const metadata = { ...(JSON.parse(row.metadata) as Record<string, unknown>), id_token_signed_response_alg: idTokenAlg };
  if (!(await replaceOidcClientMetadata(deps.db, clientId, row.metadata, JSON.stringify(metadata)))) {
    throw new TesseraError('conflict', { field: 'client-id' }, 'the client changed meanwhile; try again');
  }
  return viewOf(deps, { ...row, metadata: JSON.stringify(metadata) });
}

/** Removes the client; every grant issued to it is revoked, so its tokens die with it. */
export async function removeClient(deps: ServiceDeps, clientId: string): Promise<void> {
  await requireClient(deps, clientId);
  await deleteOidcClient(deps.db, clientId);
  const now = deps.clock.now().getTime();
  for (const grantId of await listClientGrantIds(deps.db, clientId)) await revokeGrant(deps.db, grantId, now);
}

/** The client as the provider needs it, or null when there is no such client. */
export async function loadProviderClient(deps: ServiceDeps, clientId: string): Promise<ProviderClient | null> {
  const row = await findOidcClient(deps.db, clientId);
  if (!row) return null;
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  if (row.secret_ciphertext !== null && row.secret_key_id !== null) {
    metadata.client_secret = openSecret(deps.keys.keyring(), { keyId: row.secret_key_id, ciphertext: row.secret_ciphertext }, clientSecretBinding(row.id));
  }
  return { metadata, thirdParty: row.third_party === 1, orgIds: JSON.parse(row.org_ids) as string[] };
}
