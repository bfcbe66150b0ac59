// Real `tessera` processes for the security tests that need a process boundary: key rotation from
// a CLI beside a running server, SIGKILL in the middle of a write. The same helpers as the
// integration suite's, with NODE_ENV=test, which the crash points (TESSERA_TEST_CRASH_AT) require.
import { type CliResult, runCli, type ServeProcess, startServeProcess } from '../support/processes.ts';

export type Serving = ServeProcess;

export function serve(extra: Record<string, string>, timeoutMs = 30_000): Promise<Serving> {
  return startServeProcess({ NODE_ENV: 'test', ...extra }, timeoutMs);
}

/** Runs one `tessera …` command to the end. */
export function cli(args: string[], extra: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return runCli(args, { NODE_ENV: 'test', ...extra }, timeoutMs);
}
