import { pino, type Logger } from 'pino'

/**
 * JSON logs. Tokens never reach a log line: the paths below are redacted, and
 * URLs are logged without their query string (see `safeUrl`).
 */
export function createLogger (level: string): Logger {
  return pino({
    level,
    base: { service: 'tandem' },
    redact: {
      paths: ['token', '*.token', 'headers.authorization', 'req.headers.authorization', 'authorization'],
      censor: '[redacted]'
    }
  })
}

/** A request URL without its query string, which may carry a token. */
export function safeUrl (url: string | undefined): string {
  if (url === undefined) return ''
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
