/**
 * The server's logger as the command line builds it: JSON lines for log
 * collectors, or pino-pretty's readable lines for a person at a terminal.
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export interface CliLoggerOptions {
  level: string
  format: 'pretty' | 'json'
  /** Colours for a terminal. @default false */
  colorize?: boolean
  /** Where lines go. @default standard output */
  destination?: NodeJS.WritableStream
}

/**
 * The same base fields and redaction as the library's own logger
 * (`src/logger.ts`): tokens and authorization headers never reach a line.
 */
export function createCliLogger (options: CliLoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: { service: 'tandem' },
    redact: {
      paths: ['token', '*.token', 'headers.authorization', 'req.headers.authorization', 'authorization'],
      censor: '[redacted]'
    }
  }
  if (options.format === 'json') {
    return options.destination === undefined ? pino(settings) : pino(settings, options.destination)
  }
  // In the main thread and synchronous, so the last lines before an exit are never lost.
  return pino(settings, pretty({
    colorize: options.colorize ?? false,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    ...(options.destination !== undefined ? { destination: options.destination } : {})
  }))
}
