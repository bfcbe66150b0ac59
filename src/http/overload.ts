import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../domain/errors.ts';
import type { ServiceDeps } from '../services/context.ts';
import './route-config.ts';

/** What a refused password step is told to wait: the queue drains in about a second. */
const OVERLOAD_RETRY_AFTER_SECONDS = 1;

/**
 * Under a flood of password steps beyond what the machine can hash, the excess is answered at once
 * with 503 and Retry-After instead of queueing into a timeout. It runs before the route's handler,
 * so before the throttle counts the attempt: a refused step costs the person nothing, and a right
 * password is never counted as a failure because the server was busy. Code steps (no argon2id) and
 * signed-in requests are never shed; they keep the event loop, which the hashing threads leave them.
 */
export function shedPasswordStepsUnderOverload(app: FastifyInstance, deps: ServiceDeps): void {
  // Counted from admission, not from the hasher's queue: steps that arrive together all pass the
  // door before any of them reaches a hash, so the queue alone would let a burst of any size in.
  let underWay = 0;
  const admitted = new WeakSet<object>();
  const leave = (request: object): void => {
    if (admitted.delete(request)) underWay--;
  };
  app.addHook('onRequest', (request, _reply, done) => {
    const step = request.routeOptions.config.signInStep;
    if (step !== 'password' && step !== 'backup_code') return done();
    if (underWay >= deps.passwords.admissionLimit) {
      done(new TesseraError('unavailable', { retryAfterSeconds: OVERLOAD_RETRY_AFTER_SECONDS }, 'Too many sign-ins at once. Try again in a moment.'));
      return;
    }
    underWay++;
    admitted.add(request);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    leave(request);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    leave(request);
    done();
  });
}
