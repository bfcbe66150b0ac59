/**
 * "Chrome on Linux" from a User-Agent header, for people reading an audit log or a list: the raw
 * string is long, unbroken and mostly noise. The full string stays stored and is shown on demand.
 * Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", and iOS says "Mac OS X".
 */
const BROWSERS: ReadonlyArray<[RegExp, string]> = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/(\b|Headless)Chrom(e|ium)\/|\bCriOS\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/\bcurl\//, 'curl'],
];

const SYSTEMS: ReadonlyArray<[RegExp, string]> = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

const MAX_PRODUCT_LENGTH = 40;

export function summarizeUserAgent(userAgent: string | null): string | null {
  if (!userAgent) return null;
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  // A script or an unknown client: its product name ("python-requests", "MailTest") says enough.
  const product = /^[^\s/]+/.exec(userAgent.trim())?.[0] ?? '';
  const name = product.length > MAX_PRODUCT_LENGTH ? `${product.slice(0, MAX_PRODUCT_LENGTH)}…` : product;
  if (name && system) return `${name} on ${system}`;
  return name || 'Unknown device';
}
