import Bowser from 'bowser';

/** Longer than any name the parser knows plus a version: a cap, in case its lists ever grow odd. */
export const MAX_DEVICE_DESCRIPTION_LENGTH = 60;

export const UNKNOWN_DEVICE = 'unknown device';

// Bowser falls back to whatever word precedes the first "/" for a browser it does not know, so a
// name is believed only when it is one of the parser's own constants: the User-Agent is written by
// whoever sent the request, and security emails must not carry their words.
const KNOWN_BROWSERS: ReadonlySet<string> = new Set(Object.values(Bowser.BROWSER_MAP));
const KNOWN_SYSTEMS: ReadonlySet<string> = new Set(Object.values(Bowser.OS_MAP));

/**
 * What a security email says about the device ("Chrome 120 on Windows"): browser and system as the
 * parser names them, the browser's major version if it is a plain number, never the raw string.
 */
export function describeDevice(userAgent: string | null): string {
  if (!userAgent) return UNKNOWN_DEVICE;
  let parsed: Bowser.Parser.ParsedResult;
  try {
    parsed = Bowser.parse(userAgent);
  } catch {
    return UNKNOWN_DEVICE;
  }
  const browser = KNOWN_BROWSERS.has(parsed.browser.name ?? '') ? parsed.browser.name! : null;
  const major = /^(\d{1,5})(\.|$)/.exec(parsed.browser.version ?? '')?.[1];
  const system = KNOWN_SYSTEMS.has(parsed.os.name ?? '') ? parsed.os.name! : null;
  const named = browser ? (major ? `${browser} ${major}` : browser) : null;
  const description = named && system ? `${named} on ${system}` : named ?? (system ? `a browser on ${system}` : UNKNOWN_DEVICE);
  return description.slice(0, MAX_DEVICE_DESCRIPTION_LENGTH);
}
