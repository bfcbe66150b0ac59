import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';

const load = (env: Record<string, string>) => loadConfig({ TESSERA_DEMO: '0', ...env }, '/tmp');

describe('configuration', () => {
  it('TRUST_PROXY is a hop count or a list of proxy addresses, never "trust everything"', () => {
    assert.equal(load({}).trustProxy, 0);
    assert.equal(load({ TRUST_PROXY: '1' }).trustProxy, 1);
    assert.equal(load({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(load({ TRUST_PROXY: '10.0.0.0/8, ::1,loopback' }).trustProxy, ['10.0.0.0/8', '::1', 'loopback']);
    assert.deepEqual(load({ TRUST_PROXY: '::ffff:10.0.0.1' }).trustProxy, ['::ffff:10.0.0.1']);
    for (const bad of ['true', 'cafe', '999.1.1.1', '10.0.0.0/33', '11', '-1', '10.0.0.1/8/2']) {
      assert.throws(() => load({ TRUST_PROXY: bad }), ConfigError, bad);
    }
  });

  it('honours benchmark users’ cheap password hashes only under NODE_ENV development or test', () => {
    assert.equal(load({ NODE_ENV: 'test' }).acceptWeakPasswordHashes, true);
    assert.equal(load({ NODE_ENV: 'development' }).acceptWeakPasswordHashes, true);
    assert.equal(load({ NODE_ENV: 'production' }).acceptWeakPasswordHashes, false);
    assert.equal(load({}).acceptWeakPasswordHashes, false);
  });

  it('runs PostgreSQL prepared statements unless DATABASE_PREPARED_STATEMENTS=0, and refuses anything else', () => {
    assert.equal(load({}).databasePreparedStatements, true);
    assert.equal(load({ DATABASE_PREPARED_STATEMENTS: '1' }).databasePreparedStatements, true);
    assert.equal(load({ DATABASE_PREPARED_STATEMENTS: '0' }).databasePreparedStatements, false);
    for (const bad of ['off', 'false', 'yes', ' 0']) assert.throws(() => load({ DATABASE_PREPARED_STATEMENTS: bad }), ConfigError, bad);
  });

  it('FORWARD_AUTH_DOMAINS lists host names; COOKIE_DOMAIN must cover BASE_URL', () => {
    assert.deepEqual(load({ FORWARD_AUTH_DOMAINS: 'example.com, .Apps.Example.com' }).forwardAuthDomains, ['example.com', '.apps.example.com']);
    assert.deepEqual(load({}).forwardAuthDomains, []);
    for (const bad of ['https://example.com', 'example.com/x', '*.example.com', 'exa mple.com']) assert.throws(() => load({ FORWARD_AUTH_DOMAINS: bad }), ConfigError, bad);
    assert.equal(load({ BASE_URL: 'https://auth.example.com', COOKIE_DOMAIN: '.Example.com' }).cookieDomain, 'example.com');
    assert.equal(load({}).cookieDomain, null);
    for (const bad of ['other.com', 'com', 'example.com,foo.com']) {
      assert.throws(() => load({ BASE_URL: 'https://auth.example.com', COOKIE_DOMAIN: bad }), ConfigError, bad);
    }
  });
});
