/** What a sign-in route is, declared in its config beside its level (the metrics and overload shedding read it). */
export type SignInStep = 'password' | 'code' | 'backup_code' | 'passkey';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Marks a sign-in step: counted by outcome in the metrics; password and backup-code steps are shed under overload. */
    signInStep?: SignInStep;
  }
}
