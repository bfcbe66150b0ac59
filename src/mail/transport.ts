import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Transporter } from 'nodemailer';

export interface OutgoingMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'outbox';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * nodemailer waits up to 2 min for a connection and 10 min on a silent socket; a mail server that
 * hangs would hold a shutdown that long. Options in SMTP_URL's query string still win over these.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * nodemailer is loaded with the first message, not at start-up: a server that has sent nothing yet
 * answers sooner (nodemailer took 21–33 ms to import on the benchmark machine).
 */
function onFirstUse(create: (nodemailer: typeof import('nodemailer')) => Transporter): { get(): Promise<Transporter>; made(): Promise<Transporter> | null } {
  let made: Promise<Transporter> | null = null;
  return {
    get: () => (made ??= import('nodemailer').then(({ default: nodemailer }) => create(nodemailer))),
    made: () => made,
  };
}

/** Real SMTP; nodemailer upgrades to STARTTLS whenever the server offers it. */
export function createSmtpTransport(smtpUrl: string, from: string): MailTransport {
  const transporter = onFirstUse((nodemailer) => nodemailer.createTransport({ url: smtpUrl, ...SMTP_TIMEOUTS }, { from }));
  return {
    kind: 'smtp',
    async send(mail) {
      await (await transporter.get()).sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: `<${mail.id}@tessera>` });
    },
    // Nothing to close if nothing was ever sent.
    close: () => void transporter.made()?.then((t) => t.close()),
  };
}

/** Without SMTP each message becomes one .eml file, readable by any mail client. */
export function createOutboxTransport(outboxDir: string, from: string): MailTransport {
  const transporter = onFirstUse((nodemailer) => nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }));
  mkdirSync(outboxDir, { recursive: true, mode: 0o700 });
  return {
    kind: 'outbox',
    async send(mail) {
      const info = await (await transporter.get()).sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: `<${mail.id}@tessera>` });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      writeFileSync(join(outboxDir, `${stamp}-${mail.id}.eml`), info.message as Buffer, { mode: 0o600 });
    },
    close: () => {},
  };
}

export function createMailTransport(input: { smtpUrl: string | null; mailFrom: string; dataDir: string }): MailTransport {
  return input.smtpUrl
    ? createSmtpTransport(input.smtpUrl, input.mailFrom)
    : createOutboxTransport(join(input.dataDir, 'outbox'), input.mailFrom);
}
