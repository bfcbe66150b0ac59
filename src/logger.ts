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
