import pino, { type Logger } from 'pino';

/** Query parameters of our own pages that carry nothing secret; every other value is redacted. */
const LOGGED_QUERY_KEYS = new Set(['state', 'before', 'limit', 'done', 'notice']);

/** Route parameters whose value is a secret: a route that has one is logged by its pattern. */
const SECRET_ROUTE_PARAMS = /:token\b/;

/** The path segments that the emailed-link routes put a token after, in any case or encoding. */
const TOKEN_PATH = /\/(?:mfa-resets?|password-resets?|invitations?|email-changes?)\/(?=.)/i;

/**
 * Percent-decoded as often as it still changes (a few times at most), leaving any invalid sequence
 * as it is: what a router might make of the path, whichever decoding it does.
 */
function decodedForMatching(path: string): string {
  let current = path;
  for (let i = 0; i < 4; i++) {
    const next = current.replace(/%[0-9a-f]{2}/gi, (seq) => String.fromCharCode(Number.parseInt(seq.slice(1), 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * Link tokens travel in URLs, and a client may put anything (a password) in a query string:
 * neither reaches a log line. Query keys stay, their values do not. A token route is found on the
 * decoded path, so `/mfa%2Dreset/<token>` (which the router serves as `/mfa-reset/<token>`) or a
 * `%2F` in place of the slash hides nothing.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const decoded = decodedForMatching(rawPath);
  const tokenRoute = TOKEN_PATH.exec(decoded);
  const path = tokenRoute ? `${decoded.slice(0, tokenRoute.index + tokenRoute[0].length)}[redacted]` : rawPath;
  return q < 0 ? path : `${path}?${redactQuery(url.slice(q + 1))}`;
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      return LOGGED_QUERY_KEYS.has(key) ? part : `${eq < 0 ? '' : `${key}=`}[redacted]`;
    })
    .join('&');
}

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  routeOptions?: { url?: string };
}

/**
 * What the log says a request asked for: for a route with a secret parameter, the route's pattern
 * (`/mfa-reset/:token`), whatever spelling of the path the router matched; otherwise the path
 * with tokens and query values redacted.
 */
export function loggedUrl(req: LoggedRequest): string {
  const pattern = req.routeOptions?.url;
  const raw = req.url ?? '';
  if (pattern && SECRET_ROUTE_PARAMS.test(pattern)) {
    const q = raw.indexOf('?');
    return q < 0 ? pattern : `${pattern}?${redactQuery(raw.slice(q + 1))}`;
  }
  return redactUrl(raw);
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
        req: (req: LoggedRequest) => ({ method: req.method, url: loggedUrl(req), ip: req.ip }),
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
