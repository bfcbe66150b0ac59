// Tokens of emailed links, read from the mail queue (opened with the server's keys as delivery would)
// or from a message the SMTP peer received.
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import type { KeyProvider } from '../../src/services/context.ts';
import { isSealedMailBody, openMailBody } from '../../src/services/sealed-mail.ts';
import type { Database } from '../../src/store/schema.ts';
import type { ReceivedMessage } from './smtp.ts';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The token of the newest link under `path` (such as '/password-reset/') queued for `to`. */
export async function latestMailedToken(db: Kysely<Database>, keys: KeyProvider, to: string, path: string): Promise<string | null> {
  const pattern = new RegExp(`${escapeRegExp(path)}([A-Za-z0-9_-]{43})`);
  const rows = await db.selectFrom('mail_queue').select(['id', 'text_body']).where('to_address', '=', to).orderBy('created_at', 'desc').orderBy('id').execute();
  for (const row of rows) {
    if (!isSealedMailBody(row.text_body)) continue;
    const token = pattern.exec(openMailBody(keys.keyring, keys.reload, row.id, row.text_body))?.[1];
    if (token) return token;
  }
  return null;
}

/** The link under `path` in a received message; the text and HTML bodies must carry the same one, on `baseUrl`. */
export function linkIn(message: ReceivedMessage, baseUrl: string, path: string): string {
  const pattern = new RegExp(`https?://[^\\s"<>]+${escapeRegExp(path)}([A-Za-z0-9_-]+)`);
  const inText = pattern.exec(message.text);
  assert.ok(inText, `no ${path} link in: ${message.text}`);
  const inHtml = pattern.exec(message.html);
  assert.ok(inHtml, `no ${path} link in the HTML body`);
  assert.equal(inHtml[0], inText[0]);
  assert.ok(inText[0].startsWith(`${baseUrl}${path}`), `link ${inText[0]} is not on ${baseUrl}`);
  return inText[0];
}
