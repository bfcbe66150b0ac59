/**
 * Fault injection for the crash-safety test (test/security/crash-safety.test.ts): a process
 * started with NODE_ENV=test and TESSERA_TEST_CRASH_AT=<point> kills itself with SIGKILL when it
 * reaches that point, in the middle of a multi-step write, as a power cut or the OOM killer
 * would. Both variables are read once at start-up; without NODE_ENV=test this does nothing.
 */
export type CrashPoint =
  | 'enrolment.confirm' // credential inserted, backup code and audit row not yet
  | 'backup-code.use' // old backup code consumed, replacement and session not yet
  | 'reset.request' // link token inserted, email and audit row not yet
  | 'reset.confirm'; // link marked used, factor not yet wiped

const armed: string | null = process.env.NODE_ENV === 'test' ? (process.env.TESSERA_TEST_CRASH_AT ?? null) : null;

export function crashPoint(point: CrashPoint): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}
