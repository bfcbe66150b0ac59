/**
 * An organisation's help contact, as the admin typed it: an email address, a web address, or a
 * line of text ("Call the IT desk on 0123 456 789"). Shown to locked-out people, who cannot sign
 * in to find out whom to ask.
 */
export const MAX_HELP_CONTACT_LENGTH = 200;

export type HelpContact = { kind: 'email'; text: string; href: string } | { kind: 'web'; text: string; href: string } | { kind: 'text'; text: string };

/** The stored form of what was typed: trimmed, one line, at most 200 characters; '' clears it (null); anything else is refused. */
export function normalizeHelpContact(raw: unknown): { ok: true; value: string | null } | { ok: false } {
  if (typeof raw !== 'string') return { ok: false };
  const value = raw.normalize('NFC').trim();
  if (value === '') return { ok: true, value: null };
  // Control characters (a line break among them) would let the text pose as several lines of the page or an email.
  if ([...value].length > MAX_HELP_CONTACT_LENGTH || /\p{Cc}/u.test(value)) return { ok: false };
  return { ok: true, value };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** How to show it: only https/http addresses become links, so a `javascript:` text stays text. */
export function describeHelpContact(value: string): HelpContact {
  if (EMAIL.test(value)) return { kind: 'email', text: value, href: `mailto:${value}` };
  if (/^https?:\/\/[^\s]+$/i.test(value)) {
    try {
      const url = new URL(value);
      if (url.protocol === 'https:' || url.protocol === 'http:') return { kind: 'web', text: value, href: url.href };
    } catch {
      // Not a URL after all: shown as text.
    }
  }
  return { kind: 'text', text: value };
}
