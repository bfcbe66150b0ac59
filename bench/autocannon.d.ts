// The part of autocannon's programmatic API the benchmarks use (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number;
    mean: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
    total: number;
  }
  interface RequestSpec {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    setupRequest?: (request: RequestSpec, context: Record<string, unknown>) => RequestSpec;
  }
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    pipelining?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    requests?: RequestSpec[];
    timeout?: number;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    /** Answers by status code, e.g. { '401': { count: 52000 } }. */
    statusCodeStats: Record<string, { count: number }>;
    duration: number;
  }
  /**
   * Thenable; stop() ends the run early and resolves it with what was measured so far. It is also
   * an EventEmitter: 'response' fires once per answer received.
   */
  function autocannon(options: Options): PromiseLike<Result> & { stop(): void; on(event: 'response', listener: () => void): void };
  export default autocannon;
}
