// What a browser test of an emailed flow needs: a real SMTP peer, a server whose emailed links point at
// itself and mail that peer, and Chromium.
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { startLinkedServer } from './admin-flows.ts';
import { launchBrowser } from './browser.ts';
import type { TestServer } from './server.ts';
import { startSmtpSink, type SmtpSink } from './smtp.ts';

export interface MailBrowserRig {
  sink: SmtpSink;
  ts: TestServer;
  browser: Browser;
  close(): Promise<void>;
}

export async function startMailBrowserRig(): Promise<MailBrowserRig> {
  const sink = await startSmtpSink();
  const [ts, browser] = await Promise.all([startLinkedServer({ smtpUrl: sink.url }), launchBrowser()]);
  return {
    sink,
    ts,
    browser,
    async close() {
      await browser.close();
      await ts.close();
      await sink.close();
    },
  };
}

/** Starts a rig before the suite's tests and closes it after; its fields are there once the tests run. */
export function useMailBrowserRig(): MailBrowserRig {
  const rig = {} as MailBrowserRig;
  before(async () => {
    Object.assign(rig, await startMailBrowserRig());
  });
  after(() => rig.close?.());
  return rig;
}
