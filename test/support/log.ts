// The server's real log, kept in memory: tests read what an operator would read in the log stream.
import { Writable } from 'node:stream';

export interface CapturedLog {
  stream: Writable;
  /** Every line written so far, as text. */
  text(): string;
  /** Every line written so far, parsed. */
  entries(): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const text = () => chunks.join('');
  return {
    stream,
    text,
    entries: () => text().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
