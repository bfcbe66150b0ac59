import pino, { type Logger } from 'pino';

/** Query parameters of our own pages that carry nothing secret; every other value is redacted. */
const LOGGED_QUERY_KEYS = new Set(['state', 'before', 'limit', 'done', 'notice']);

/**
 * Link tokens travel in URLs, and a client may put anything (a password) in a query string:
 * neither reaches a log line. Query keys stay, their values do not.
 */
export function redactUrl(url: string): string {
  const path = url.replace(/\/(mfa-resets?)\/[^/?#]+/g, '/$1/[redacted]');
  const q = path.indexOf('?');
  if (q < 0) return path;
  const query = path
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      return LOGGED_QUERY_KEYS.has(key) ? part : `${eq < 0 ? '' : `${key}=`}[redacted]`;
    })
    .join('&');
  return `${path.slice(0, q)}?${query}`;
}

/**
 * One logger for the process. Request logging keeps method, path (tokens redacted) and status;
 * headers and bodies — cookies, passwords, codes — are never serialised.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: ['password', 'code', 'secret', 'token', '*.password', '*.code', '*.secret', '*.token', 'req.headers'], censor: '[redacted]' },
      serializers: {
        req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), ip: req.ip }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
    destination,
  );
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * One JSON log line as a person reads it at a terminal (LOG_FORMAT=pretty): time, level, message,
 * request id, then the other fields as key=value. The same redaction has already been applied.
 */
export function formatPretty(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, reqId, pid: _pid, hostname: _hostname, ...rest } = entry;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const name = LEVEL_NAMES[Number(level)] ?? String(level);
  return `${at} ${name.padEnd(5)} ${String(msg ?? '')}${reqId ? ` [${String(reqId)}]` : ''}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}

/** A pino destination that writes formatPretty's lines to `out`. */
export function prettyDestination(out: { write(text: string): unknown }): pino.DestinationStream {
  return { write: (line: string) => void out.write(formatPretty(line)) };
}
