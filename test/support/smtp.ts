// A real SMTP peer for tests (smtp-server on a loopback port) that keeps every message it receives, with a
// minimal MIME reader so tests can look at the subject and the decoded text/plain and text/html bodies.
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

export interface ReceivedMessage {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO), which include Bcc. */
  to: string[];
  /** The whole message as sent, headers and body. */
  raw: string;
  /** Header fields by lower-case name (last occurrence wins), unfolded and RFC 2047-decoded. */
  headers: Record<string, string>;
  subject: string;
  /** The first text/plain part, decoded, with \n line ends; '' if none. */
  text: string;
  /** The first text/html part, decoded; '' if none. */
  html: string;
  /** The user name the client authenticated with, if it did. */
  authUser?: string;
}

export interface SmtpSinkOptions {
  /** Answer the first n messages' DATA with `451` (temporary failure), to exercise retries. */
  failFirst?: number;
  /** Refuse these recipients at RCPT TO with 550, as a server does for an unknown mailbox. */
  refuseRecipients?: string[];
  /** The text of that refusal; by default an unknown mailbox (`5.1.1`). */
  refusal?: string;
  /** Offer STARTTLS (with smtp-server's built-in self-signed certificate). Off by default. */
  tls?: boolean;
}

export interface SmtpSink {
  /** `smtp://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Messages accepted so far, oldest first (failed deliveries are not included). */
  messages: ReceivedMessage[];
  /** Resolves with the first message (already received or still to come) that matches, or rejects on timeout. */
  waitForMessage(predicate?: (message: ReceivedMessage) => boolean, timeoutMs?: number): Promise<ReceivedMessage>;
  /** How many DATA commands were answered with 451 so far. */
  readonly rejectedCount: number;
  close(): Promise<void>;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<(message: ReceivedMessage) => void>();
  let rejectedCount = 0;

  const server = new SMTPServer({
    secure: false,
    // Any credentials are accepted, and none are required, so the app can be configured either way.
    authOptional: true,
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    disabledCommands: options.tls ? [] : ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    // close() otherwise waits up to 30 s for pooled client connections to leave.
    closeTimeout: 200,
    onRcptTo(address, _session, callback) {
      if (options.refuseRecipients?.includes(address.address)) {
        callback(Object.assign(new Error(options.refusal ?? '5.1.1 No such user here'), { responseCode: 550 }));
        return;
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (rejectedCount < (options.failFirst ?? 0)) {
          rejectedCount++;
          callback(Object.assign(new Error('Temporary failure, try again later'), { responseCode: 451 }));
          return;
        }
        const message = parseMessage(Buffer.concat(chunks), session);
        messages.push(message);
        for (const waiter of waiters) waiter(message);
        callback(null, 'Queued');
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      const address = server.server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
  // A client dropping its connection is normal in tests; don't let it crash the run.
  server.on('error', () => {});
  // A test that fails before it registers close() must not leave the file's process running
  // until the phase's time limit.
  server.server.unref();

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    get rejectedCount() {
      return rejectedCount;
    },
    waitForMessage(predicate = () => true, timeoutMs = 5000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = (message: ReceivedMessage): void => {
          if (!predicate(message)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(message);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = messages.map((m) => `${m.to.join(',')}: ${m.subject}`).join('; ') || 'none';
          reject(new Error(`no matching email within ${timeoutMs} ms (received: ${seen})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close() {
      // smtp-server's own close waits for its (unref'd) closeTimeout, which may never fire in a
      // process with nothing else left to do; don't let that hold a test's after() hook.
      return new Promise((resolve) => {
        const fallback = setTimeout(resolve, 1000);
        server.close(() => {
          clearTimeout(fallback);
          resolve();
        });
      });
    },
  };
}

// --- minimal MIME reading -------------------------------------------------------------------------------
// Enough for what nodemailer produces: nested multipart, 7bit/8bit/quoted-printable/base64 transfer encodings,
// charsets TextDecoder knows, RFC 2047 encoded words in headers. Bodies are handled as latin1 strings so every
// byte survives until the charset is applied.

interface Part {
  headers: Record<string, string>;
  body: string; // latin1: one char per byte
}

function parseMessage(bytes: Buffer, session: SMTPServerSession): ReceivedMessage {
  const root = splitPart(bytes.toString('latin1'));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(root.headers)) headers[name] = decodeHeader(value);
  const found = { text: '', html: '' };
  collectBodies(root, found);
  const user: unknown = session.user;
  return {
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    to: session.envelope.rcptTo.map((r) => r.address),
    raw: bytes.toString('utf8'),
    headers,
    subject: headers['subject'] ?? '',
    text: found.text,
    html: found.html,
    ...(typeof user === 'string' ? { authUser: user } : {}),
  };
}

function splitPart(source: string): Part {
  const normalized = source.replace(/\r\n/g, '\n');
  const end = normalized.indexOf('\n\n');
  const head = end < 0 ? normalized : normalized.slice(0, end);
  const body = end < 0 ? '' : normalized.slice(end + 2);
  const headers: Record<string, string> = {};
  // Unfold: a line starting with white space continues the previous field (RFC 5322 §2.2.3).
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

/** `text/plain; charset="utf-8"` → { type: 'text/plain', params: { charset: 'utf-8' } } */
function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
  const [type = 'text/plain', ...rest] = (value ?? 'text/plain').split(';');
  const params: Record<string, string> = {};
  for (const item of rest) {
    const eq = item.indexOf('=');
    if (eq > 0) params[item.slice(0, eq).trim().toLowerCase()] = item.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

function collectBodies(part: Part, found: { text: string; html: string }): void {
  const { type, params } = parseContentType(part.headers['content-type']);
  if (type.startsWith('multipart/') && params['boundary']) {
    const delimiter = `--${params['boundary']}`;
    const pieces = part.body.split(new RegExp(`^${escapeRegExp(delimiter)}(?:--)?[ \\t]*$`, 'm'));
    // pieces[0] is the preamble and the last the epilogue. Each one between starts with the delimiter line's
    // line break and ends with the one before the next delimiter, which belongs to that delimiter (RFC 2046).
    for (const piece of pieces.slice(1, -1)) {
      collectBodies(splitPart(piece.replace(/^\n/, '').replace(/\n$/, '')), found);
    }
    return;
  }
  if (/^attachment/i.test(part.headers['content-disposition'] ?? '')) return;
  const key = type === 'text/plain' ? 'text' : type === 'text/html' ? 'html' : null;
  if (key === null || found[key] !== '') return;
  const bytes = decodeTransfer(part.body, part.headers['content-transfer-encoding']);
  found[key] = decodeCharset(bytes, params['charset']).replace(/\r\n/g, '\n').replace(/\n$/, '');
}

function decodeTransfer(body: string, encoding = '7bit'): Buffer {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64');
    case 'quoted-printable':
      return Buffer.from(
        body
          .replace(/[ \t]+$/gm, '') // trailing white space is transport padding (RFC 2045 §6.7 rule 3)
          .replace(/=\n/g, '') // soft line break
          .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
        'latin1',
      );
    default:
      return Buffer.from(body, 'latin1');
  }
}

function decodeCharset(bytes: Buffer, charset = 'utf-8'): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** Decodes RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`) in a header value. */
function decodeHeader(latin1Value: string): string {
  const value = Buffer.from(latin1Value, 'latin1').toString('utf8'); // SMTPUTF8 headers may carry raw UTF-8
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1') // white space between adjacent encoded words is not part of the text
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
              'latin1',
            );
      return decodeCharset(bytes, charset.split('*')[0]);
    });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
