import { TesseraError } from '../domain/errors.ts';
import { describeActor } from '../domain/events.ts';
import { normalizeOrgLinks, type OrgLinksInput } from '../domain/org-links.ts';
import { findOrgSettings, saveOrgLinks } from '../store/org-settings.ts';
import { type Account, eventFor, userActor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

const FIELD_MESSAGES: Record<keyof OrgLinksInput, string> = {
  productName: 'Give the product a name of at most 60 characters, together with its address.',
  productUrl: 'Enter the product’s address, starting with https://, together with its name.',
  ssoUrl: 'Enter the SSO sign-in address starting with https://, or leave it empty.',
};

export async function readOrgLinks(deps: ServiceDeps, orgId: string): Promise<OrgLinksInput> {
  const { productName, productUrl, ssoUrl } = await findOrgSettings(deps.db, orgId);
  return { productName, productUrl, ssoUrl };
}

/** "Back to <product>" on home and the SSO sign-in address; audited as `org.links_changed`. */
export async function updateOrgLinks(
  deps: ServiceDeps,
  ctx: RequestContext,
  admin: Account,
  raw: { productName?: unknown; productUrl?: unknown; ssoUrl?: unknown },
): Promise<OrgLinksInput> {
  if (admin.user.role !== 'admin') throw new TesseraError('forbidden');
  const parsed = normalizeOrgLinks(raw);
  if (!parsed.ok) throw new TesseraError('invalid_request', { field: parsed.field }, FIELD_MESSAGES[parsed.field]);
  await deps.db.transaction().execute(async (tx) => {
    await saveOrgLinks(tx, admin.org.id, parsed.value, deps.clock.now().getTime(), describeActor(userActor(admin.user)));
    await deps.events.record(tx, { ...eventFor(deps, ctx, 'org.links_changed', admin.user, { details: { ...parsed.value } }), subject: null });
  });
  return parsed.value;
}
