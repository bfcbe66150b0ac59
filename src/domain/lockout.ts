/** Wrong codes (app or backup) in a row before the account locks. */
export const DEFAULT_MAX_CODE_ATTEMPTS = 5;

export type FailureOutcome = { locked: boolean; attemptsLeft: number };

/** `failedAttempts` is the count after this failure was recorded. */
export function assessCodeFailure(failedAttempts: number, maxAttempts: number): FailureOutcome {
  const attemptsLeft = Math.max(0, maxAttempts - failedAttempts);
  return { locked: attemptsLeft === 0, attemptsLeft };
}
