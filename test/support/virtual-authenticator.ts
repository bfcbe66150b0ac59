// Chromium's own WebAuthn implementation with a virtual authenticator, over the DevTools protocol:
// the browser side of a passkey ceremony, for real (no mock of navigator.credentials).
import type { CDPSession, Page } from 'playwright-core';
import { freePort } from './admin-flows.ts';
import { startTestServer, type TestServer } from './server.ts';

export interface VirtualAuthenticator {
  cdp: CDPSession;
  id: string;
  credentials(): Promise<Array<{ credentialId: string; signCount: number; privateKey: string; rpId: string; userHandle?: string; isResidentCredential: boolean }>>;
  /**
   * Whether the key answers by itself. Off, a request waits as for a person who has not touched
   * the key yet; the sign-in page's autofill request (conditional mediation) is answered at once
   * otherwise, since the virtual key needs no one to pick it from the list.
   */
  presence(on: boolean): Promise<void>;
  /** Puts each credential back with its counter at `signCount`, as a cloned or restored key would be. */
  resetCounters(signCount?: number): Promise<void>;
}

/** A platform authenticator (ctap2, internal) with resident keys and user verification, presence simulated. */
export async function addVirtualAuthenticator(page: Page, opts: { userVerified?: boolean; transport?: 'internal' | 'usb'; cdp?: CDPSession } = {}): Promise<VirtualAuthenticator> {
  const cdp = opts.cdp ?? (await page.context().newCDPSession(page));
  if (!opts.cdp) await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: opts.transport ?? 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: opts.userVerified ?? true, automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as Awaited<ReturnType<VirtualAuthenticator['credentials']>>;
  return {
    cdp,
    id: authenticatorId,
    credentials,
    async presence(on) {
      await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: on });
    },
    async resetCounters(signCount = 0) {
      for (const c of await credentials()) {
        await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: c.credentialId });
        await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...c, signCount } });
      }
    },
  };
}

/**
 * A test server whose BASE_URL is http://localhost:PORT: WebAuthn needs a domain for its RP ID (an
 * IP address is refused by the browser), and localhost is a secure context over plain http.
 */
export async function startLocalhostServer(opts: { env?: Record<string, string> } = {}): Promise<TestServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startTestServer({ env: { PORT: String(port), BASE_URL: `http://localhost:${port}`, ...opts.env } });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}
