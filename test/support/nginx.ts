// A real nginx (Debian's package, with auth_request) in front of Tessera and a small upstream app,
// all on loopback, for the forward-auth tests. The configuration is README's, generated into a
// temporary folder: one server name for Tessera (auth.example.test), one for the protected app
// (app.example.test), both on one port, so the session cookie with COOKIE_DOMAIN=example.test
// reaches both as it would in production. nginx runs in the foreground as a single process
// (`master_process off`), so it needs no root and drops to no other user; it is stopped by its pid.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './admin-flows.ts';

export const NGINX = '/usr/sbin/nginx';
export const AUTH_HOST = 'auth.example.test';
export const PROTECTED_HOST = 'app.example.test';
/** The Tessera settings that go with this proxy (BASE_URL is added once the port is known). */
export const NGINX_TESSERA_ENV = { TRUST_PROXY: '127.0.0.1', COOKIE_DOMAIN: 'example.test', FORWARD_AUTH_DOMAINS: PROTECTED_HOST };

const IDENTITY = ['Remote-User', 'Remote-Email', 'Remote-Name', 'Remote-Groups', 'Remote-Org', 'Remote-Acr', 'Remote-Amr', 'Remote-Auth-Time', 'Tessera-Assertion'];

/** `nginx -V` (which writes to stderr): the build's configure line, where auth_request must appear. */
export function nginxBuild(): string {
  return execFileSync('sh', ['-c', `${NGINX} -V 2>&1`], { encoding: 'utf8' });
}

/** The protected app's server block, as README gives it, for a Tessera reachable at `tessera`. */
export function protectedServerBlock(opts: { listen: string; tessera: string; upstream: string; policy?: string }): string {
  // $tessera_…: nginx has a $remote_user of its own.
  const vars = IDENTITY.map((h) => {
    const v = h.toLowerCase().replaceAll('-', '_');
    return `      auth_request_set $tessera_${v} $upstream_http_${v};\n      proxy_set_header ${h} $tessera_${v};`;
  }).join('\n');
  return `
  server {
    listen ${opts.listen};
    server_name ${PROTECTED_HOST};
    location = /tessera-verify {
      internal;
      proxy_pass ${opts.tessera}/auth/verify${opts.policy ?? ''};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
    location / {
      auth_request /tessera-verify;
      auth_request_set $tessera_location $upstream_http_location;
      error_page 401 =302 $tessera_location;
${vars}
      proxy_pass ${opts.upstream};
    }
  }`;
}

export interface RunningNginx {
  port: number;
  /** http://app.example.test:PORT */
  appUrl: string;
  /** http://auth.example.test:PORT — Tessera's BASE_URL behind this proxy */
  authUrl: string;
  upstream: EchoUpstream;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface EchoUpstream {
  url: string;
  /** The headers of every request that reached the app, newest last. */
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** The protected app: answers every request with the headers it received, as JSON. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Protected app</title><h1>Protected app</h1><pre id="headers">${JSON.stringify(req.headers).replace(/</g, '\\u003c')}</pre>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Starts nginx on a free loopback port in front of `tesseraUrl` (Tessera's own listener) and a fresh
 * echo upstream. `port` may be given when Tessera's BASE_URL had to name it before it started.
 */
export async function startNginx(opts: { tesseraUrl: string; port: number; policy?: string }): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const upstream = await startEchoUpstream();
  const listen = `127.0.0.1:${opts.port}`;
  const conf = `
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${listen};
    server_name ${AUTH_HOST};
    location / {
      proxy_pass ${opts.tesseraUrl};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
${protectedServerBlock({ listen, tessera: opts.tesseraUrl, upstream: upstream.url, policy: opts.policy })}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let ended = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    ended = true;
    resolve();
  }));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const fail = async (why: string): Promise<never> => {
    kill();
    process.removeListener('exit', kill);
    await upstream.close();
    const log = safeRead(join(dir, 'error.log'));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx ${why}: ${stderr}\n${log}`);
  };
  // Ready once it answers on its port (polling a process's start-up, not waiting on the test's clock).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (ended) await fail('exited');
    if (await answers(opts.port)) break;
    if (Date.now() > deadline) await fail('did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: opts.port,
    appUrl: `http://${PROTECTED_HOST}:${opts.port}`,
    authUrl: `http://${AUTH_HOST}:${opts.port}`,
    upstream,
    errorLog: () => safeRead(join(dir, 'error.log')),
    async stop() {
      process.removeListener('exit', kill);
      child.kill('SIGTERM');
      await exited;
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'HEAD', headers: { host: 'probe.invalid' } }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Picks nginx's port first: Tessera's BASE_URL must name it. */
export function nginxPort(): Promise<number> {
  return freePort();
}
