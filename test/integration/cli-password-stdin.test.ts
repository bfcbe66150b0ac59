// `tessera user create --password P` puts the password in `ps` and in shell history; with
// `--password-stdin` it is read from standard input instead (everything up to EOF, less one final
// line break), and the new user signs in with exactly that password.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/admin-flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('tessera user create --password-stdin', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'first@acme.test' });
  });
  after(() => ts.close());

  const create = (email: string, stdin: string | undefined, extra: string[] = []) =>
    runCli(ts, ['user', 'create', '--org', 'Acme', '--email', email, ...extra], {}, stdin);
  const signIn = (email: string, password: string) => ts.client().post('/sessions', { email, password });

  it('reads the password from standard input, less the final line break, and nothing prints it', async () => {
    const password = '  pässwörd with spaces \u{1F510}  ';
    const r = await create('stdin@acme.test', `${password}\n`, ['--password-stdin']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /created user stdin@acme\.test/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('pässwörd'), 'the password is not printed');
    assert.equal((await signIn('stdin@acme.test', password)).status, 200, 'exactly what was written, spaces included');
    assert.equal((await signIn('stdin@acme.test', `${password}\n`)).status, 401, 'the line break is not part of it');

    const crlf = await create('crlf@acme.test', 'windows line end\r\n', ['--password-stdin']);
    assert.equal(crlf.status, 0, crlf.stderr);
    assert.equal((await signIn('crlf@acme.test', 'windows line end')).status, 200);
    const noNewline = await create('plain@acme.test', 'no line break at all', ['--password-stdin']);
    assert.equal(noNewline.status, 0, noNewline.stderr);
    assert.equal((await signIn('plain@acme.test', 'no line break at all')).status, 200);
  });

  it('refuses an empty or short one, and --password with --password-stdin, creating no one', async () => {
    const empty = await create('empty@acme.test', '', ['--password-stdin']);
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /password is required/);
    const short = await create('short@acme.test', 'short\n', ['--password-stdin']);
    assert.equal(short.status, 1);
    assert.match(short.stderr, /at least 8 characters/);
    const both = await create('both@acme.test', 'long enough password\n', ['--password-stdin', '--password', 'long enough password']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /not both/);
    for (const email of ['empty@acme.test', 'short@acme.test', 'both@acme.test']) {
      const show = await runCli(ts, ['user', 'show', '--email', email]);
      assert.notEqual(show.status, 0, `${email} was not created`);
    }
  });
});
