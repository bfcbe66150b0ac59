import pino, { type Logger } from 'pino';

/**
 * Link tokens travel in URLs, and a client may put anything (a password) in a query string:
 * neither reaches a log line. Query keys stay, their values do not.
 */
export function redactUrl(url: string): string {
  return url.replace(/\/(mfa-resets?)\/[^/?#]+/g, '/$1/[redacted]').replace(/([?&][^=&#]*=)[^&#]*/g, '$1[redacted]');
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
