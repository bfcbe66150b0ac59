// Real `tessera` processes for the tests that need a process boundary: key rotation from a CLI
// beside a running server, SIGKILL in the middle of a write. (test/support/processes.ts serves
// the integration suite; this one adds what those tests need: the exit signal and a CLI run.)
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TESSERA = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));

export interface Serving {
  url: string;
  child: ChildProcess;
  /** Exit code, or the signal's name when killed by one. */
  exited: Promise<number | string>;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TESSERA_DEMO: '0', NODE_ENV: 'test', ...extra };
}

function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? -1);
    else child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
}

/** `tessera serve` on a free loopback port; resolves once Fastify says it listens. */
export async function serve(extra: Record<string, string>, timeoutMs = 30_000): Promise<Serving> {
  const child = spawn(process.execPath, [TESSERA, 'serve'], {
    cwd: ROOT,
    env: env({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = exitOf(child);
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tessera serve did not start:\n${out}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tessera serve exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    exited,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs one `tessera …` command to the end. */
export async function cli(args: string[], extra: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [TESSERA, ...args], { cwd: ROOT, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exitOf(child);
  clearTimeout(timer);
  return { code, stdout, stderr };
}
