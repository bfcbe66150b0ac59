import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { startTestServer } from '../support/server.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-lock-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function wrongCode(right: string): string {
  return String((Number(right) + 1) % 1_000_000).padStart(6, '0');
}

describe('lockout after too many wrong codes', () => {
  it('locks on the 5th wrong code, keeps the lock across a restart, and unlocks from the CLI', async () => {
    const start = Date.UTC(2026, 10, 22, 9, 0, 0);
    let ts = await startTestServer({ dataDir, start });
    await ts.createUser({ email: 'lock@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'lock@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'lock@acme.test'), 'totp');
    for (let i = 1; i <= 4; i++) {
      const r = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.attemptsLeft, 5 - i);
    }
    const fifth = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
    assert.equal(fifth.status, 423);
    assert.equal(fifth.body.error.code, 'account_locked');
    // Even the right code is refused now, and so is every new sign-in.
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 423);
    const again = await ts.client().post('/sessions', { email: 'lock@acme.test', password: 'correct horse battery staple' });
    assert.equal(again.status, 423);
    assert.ok(ts.events.some((e) => e.type === 'account.locked'));
    await ts.close();

    ts = await startTestServer({ dataDir, start: start + 60_000 });
    try {
      const afterRestart = await ts.client().post('/sessions', { email: 'lock@acme.test', password: 'correct horse battery staple' });
      assert.equal(afterRestart.status, 423, 'the lock survives a restart');
      execFileSync(process.execPath, ['bin/tessera.js', 'user', 'unlock', '--email', 'lock@acme.test'], {
        env: { ...process.env, DATA_DIR: dataDir, TESSERA_DEMO: '0', DATABASE_URL: ts.config.databaseUrl ?? '' },
      });
      const d = ts.client();
      assert.equal(await signInPassword(d, 'lock@acme.test'), 'totp');
      assert.equal((await d.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    } finally {
      await ts.close();
    }
  });

  it('keeps a partial count across a restart: 3 wrong codes, restart, then the 4th leaves 1 attempt and the 5th locks', async () => {
    const partialDir = mkdtempSync(join(tmpdir(), 'tessera-lock-partial-'));
    const start = Date.UTC(2026, 10, 22, 10, 0, 0);
    let ts = await startTestServer({ dataDir: partialDir, start });
    let secret: string;
    try {
      await ts.createUser({ email: 'partial@acme.test' });
      ({ secret } = await enrolFromProfile(ts, ts.client(), 'partial@acme.test'));
      const c = ts.client();
      assert.equal(await signInPassword(c, 'partial@acme.test'), 'totp');
      for (let i = 1; i <= 3; i++) {
        const r = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
        assert.equal(r.status, 401);
        assert.equal(r.body.error.attemptsLeft, 5 - i);
      }
    } finally {
      await ts.close();
    }

    // Same data (SQLite file or PostgreSQL database), a new process state, a minute later.
    ts = await startTestServer({ dataDir: partialDir, start: start + 60_000 });
    try {
      const c = ts.client();
      assert.equal(await signInPassword(c, 'partial@acme.test'), 'totp');
      const fourth = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
      assert.equal(fourth.status, 401, JSON.stringify(fourth.body));
      assert.equal(fourth.body.error.code, 'invalid_code');
      assert.equal(fourth.body.error.attemptsLeft, 1, 'the 3 wrong codes before the restart still count');
      const fifth = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
      assert.equal(fifth.status, 423);
      assert.equal(fifth.body.error.code, 'account_locked');
      assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 423, 'locked: even the right code is refused');
      assert.equal(ts.events.filter((e) => e.type === 'account.locked').length, 1);
    } finally {
      await ts.close();
      rmSync(partialDir, { recursive: true, force: true });
    }
  });

  it('resets the count after a correct code', async () => {
    const ts = await startTestServer();
    try {
      await ts.createUser({ email: 'count@acme.test' });
      const { secret } = await enrolFromProfile(ts, ts.client(), 'count@acme.test');
      for (let round = 0; round < 2; round++) {
        const c = ts.client();
        await signInPassword(c, 'count@acme.test');
        for (let i = 0; i < 4; i++) assert.equal((await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) })).status, 401);
        assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
        ts.clock.advance(30_000);
      }
      const c = ts.client();
      await signInPassword(c, 'count@acme.test');
      const r = await c.post('/sessions/totp', { code: wrongCode(appCode(ts, secret)) });
      assert.equal(r.body.error.attemptsLeft, 4);
    } finally {
      await ts.close();
    }
  });

  it('counts wrong backup codes toward the same lock', async () => {
    const ts = await startTestServer();
    try {
      await ts.createUser({ email: 'bl@acme.test' });
      await enrolFromProfile(ts, ts.client(), 'bl@acme.test');
      const c = ts.client();
      await signInPassword(c, 'bl@acme.test');
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await c.post('/sessions/recovery-code', { code: 'AAAA-BBBB-CCCC-DDDD' })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 423]);
    } finally {
      await ts.close();
    }
  });

  it('ends the person’s full sessions when the account locks, by app codes or by backup codes', async () => {
    const ts = await startTestServer();
    try {
      for (const [email, path, code] of [
        ['ends-app@acme.test', '/sessions/totp', '000000'],
        ['ends-backup@acme.test', '/sessions/recovery-code', 'AAAA-BBBB-CCCC-DDDD'],
      ] as const) {
        await ts.createUser({ email });
        const signedIn = ts.client();
        const { secret } = await enrolFromProfile(ts, signedIn, email);
        assert.equal((await signedIn.get('/me')).status, 200);
        const guesser = ts.client();
        assert.equal(await signInPassword(guesser, email), 'totp');
        const statuses = [];
        for (let i = 0; i < 5; i++) {
          const guess = path === '/sessions/totp' ? wrongCode(appCode(ts, secret)) : code;
          statuses.push((await guesser.post(path, { code: guess })).status);
        }
        assert.deepEqual(statuses, [401, 401, 401, 401, 423]);
        assert.equal((await signedIn.get('/me')).status, 401, 'a full session outlived the lock');
        const ended = ts.events.filter((e) => e.type === 'session.ended' && e.subject?.email === email);
        assert.deepEqual(ended.map((e) => e.details), [{ reason: 'account_locked', sessions: 1 }]);
      }
    } finally {
      await ts.close();
    }
  });
});
