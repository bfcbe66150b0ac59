/**
 * The addresses an organisation gives its people: the product they came from ("Back to Acme CRM")
 * and, for people who sign in through SSO, where to do that. Only http(s) addresses, so a
 * `javascript:` text can never become a link on our pages.
 */
export const MAX_PRODUCT_NAME_LENGTH = 60;
export const MAX_ORG_URL_LENGTH = 500;

export interface OrgLinksInput {
  productName: string | null;
  productUrl: string | null;
  ssoUrl: string | null;
}

function httpAddress(raw: unknown): string | null | undefined {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string') return undefined;
  const value = raw.trim();
  if (value === '') return null;
  if (value.length > MAX_ORG_URL_LENGTH || !/^https?:\/\/[\x21-\x7e]+$/i.test(value)) return undefined;
  try {
    const url = new URL(value);
    return url.username === '' && url.password === '' && (url.protocol === 'https:' || url.protocol === 'http:') ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** The stored form, or the field that is not acceptable. A product address needs a name to show it under, and the other way round. */
export function normalizeOrgLinks(raw: { productName?: unknown; productUrl?: unknown; ssoUrl?: unknown }): { ok: true; value: OrgLinksInput } | { ok: false; field: keyof OrgLinksInput } {
  const name = raw.productName === undefined || raw.productName === null ? '' : raw.productName;
  if (typeof name !== 'string') return { ok: false, field: 'productName' };
  const productName = name.normalize('NFC').trim();
  if ([...productName].length > MAX_PRODUCT_NAME_LENGTH || /\p{Cc}/u.test(productName)) return { ok: false, field: 'productName' };
  const productUrl = httpAddress(raw.productUrl);
  if (productUrl === undefined) return { ok: false, field: 'productUrl' };
  const ssoUrl = httpAddress(raw.ssoUrl);
  if (ssoUrl === undefined) return { ok: false, field: 'ssoUrl' };
  if ((productName === '') !== (productUrl === null)) return { ok: false, field: productName === '' ? 'productName' : 'productUrl' };
  return { ok: true, value: { productName: productName === '' ? null : productName, productUrl, ssoUrl } };
}
