// Runs the real `tessera` command as child processes: `serve` processes that tests talk to over HTTP,
// and one-shot CLI commands. Used where one in-process server is not enough (several processes on one
// database, signals, start-up failures).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TESSERA = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>;
  /**
   * Sends `signal` and waits for the exit. A process still running after `graceMs` is killed
   * (SIGKILL) and the call rejects with its output, so a hung shutdown fails the test instead of
   * holding the whole run.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** One line of what `tessera seed --out` writes. */
export interface SeededUser {
  email: string;
  password: string;
  secret: string;
}

/** A CLI failure is one line on stderr, without a stack trace. */
export function assertOneLine(stderr: string, pattern: RegExp): void {
  assert.match(stderr.trimEnd(), pattern);
  assert.equal(stderr.trim().split('\n').length, 1, `one line expected, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // The child runs on the same Node as the test (the pinned one), whatever `node` is on PATH.
  return { PATH: process.env.PATH, HOME: process.env.HOME, TESSERA_DEMO: '0', ...env };
}

function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? -1);
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
}

/** Runs one `tessera …` command to completion. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  const child = spawn(process.execPath, [TESSERA, ...args], { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exitOf(child);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Starts `tessera serve` on a free loopback port and resolves once it listens (the port is read from
 * Fastify's "Server listening at" log line, so there is no race for a pre-picked port).
 */
export async function startServeProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [TESSERA, 'serve'], {
    cwd: ROOT,
    env: baseEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = exitOf(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera serve did not start in ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      // Up to the quote that ends the log message: a chunk that ends inside the port must not match.
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tessera serve exited (${code}) before listening:\n${stdout}\n${stderr}`));
    });
  });
  return {
    url,
    child,
    output: () => ({ stdout, stderr }),
    exited,
    async stop(signal = 'SIGTERM', graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const overran = new Promise<'overran'>((resolve) => (timer = setTimeout(() => resolve('overran'), graceMs)));
      const first = await Promise.race([exited, overran]);
      clearTimeout(timer);
      if (first !== 'overran') return first;
      child.kill('SIGKILL');
      await exited;
      throw new Error(`tessera serve did not exit within ${graceMs} ms of ${signal}; killed:\n${stdout}\n${stderr}`);
    },
  };
}
