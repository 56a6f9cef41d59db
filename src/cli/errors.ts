/**
 * Errors the command line reports in one line, without a stack trace. The
 * exit code tells a script what kind of failure it was:
 *
 * - 2: the command line itself is wrong (unknown command or flag, a malformed
 *   or contradictory value). Nothing was opened or changed.
 * - 1: the command could not do its work (a file, directory, database or
 *   Redis that is missing, unreachable, in use or damaged).
 */
export class CliError extends Error {
  constructor (message: string, readonly exitCode: 1 | 2 = 1, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
  }
}

/** A wrong command line: exit code 2. */
export class UsageError extends CliError {
  constructor (message: string) {
    super(message, 2)
    this.name = 'UsageError'
  }
}

/** Whether `err` or an error in its `cause` chain satisfies `predicate`. */
export function findCause (err: unknown, predicate: (e: { code?: unknown; message?: unknown }) => boolean): boolean {
  let current: unknown = err
  // Causes can be nested a few levels deep (StorageError → level → LOCK); bounded anyway.
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    if (predicate(current as { code?: unknown; message?: unknown })) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** The message of an error from the system (`ENOENT: no such file…`) as its plain reason. */
export function systemReason (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOTDIR: 'a part of the path is not a directory',
    EISDIR: 'it is a directory',
    ENOENT: 'no such file or directory',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    ENAMETOOLONG: 'the name is too long',
    ELOOP: 'too many symbolic links'
  }
  if (typeof e?.code === 'string' && reasons[e.code] !== undefined) return `${reasons[e.code]} (${e.code})`
  return (e as Error)?.message ?? String(err)
}
