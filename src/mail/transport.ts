import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';

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

/** Real SMTP; nodemailer upgrades to STARTTLS whenever the server offers it. */
export function createSmtpTransport(smtpUrl: string, from: string): MailTransport {
  const transporter = nodemailer.createTransport({ url: smtpUrl, ...SMTP_TIMEOUTS }, { from });
  return {
    kind: 'smtp',
    async send(mail) {
      await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: `<${mail.id}@tessera>` });
    },
    close: () => transporter.close(),
  };
}

/** Without SMTP each message becomes one .eml file, readable by any mail client. */
export function createOutboxTransport(outboxDir: string, from: string): MailTransport {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  mkdirSync(outboxDir, { recursive: true, mode: 0o700 });
  return {
    kind: 'outbox',
    async send(mail) {
      const info = await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: `<${mail.id}@tessera>` });
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
