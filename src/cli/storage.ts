/**
 * Opens the storage a command works on, with errors that say what to do:
 * an unusable data directory, a directory held by a running server, an
 * unreachable database. Every command and `serve` open storage through here.
 */
import { resolve } from 'node:path'
import { createPersistence, type Persistence } from '../../persistence/index.js'
import { prepareDataDir } from './data-dir.js'
import { CliError, findCause, UsageError } from './errors.js'
import type { StorageSpec } from './flags.js'

export async function openStorage (spec: StorageSpec): Promise<Persistence> {
  let dataDir = spec.dataDir
  if (spec.kind === 'leveldb') dataDir = await prepareDataDir(spec.dataDir, spec.labels.dataDir)
  try {
    return await createPersistence({ kind: spec.kind, dataDir, databaseUrl: spec.databaseUrl, schema: spec.schema })
  } catch (err) {
    throw explainOpenError(err, spec, dataDir)
  }
}

function explainOpenError (err: unknown, spec: StorageSpec, dataDir: string): CliError {
  const message = (err as Error)?.message ?? String(err)
  if ((err as { code?: unknown })?.code === 'CONFIG_INVALID') {
    return new UsageError(spec.kind === 'postgres' ? `${spec.labels.schema}: ${message}` : message)
  }
  if (spec.kind === 'leveldb') {
    // LevelDB takes an exclusive lock on <dir>/LOCK; a second opener gets LEVEL_LOCKED.
    if (findCause(err, (e) => e.code === 'LEVEL_LOCKED' || (typeof e.message === 'string' && /\block\b.*\bLOCK\b/.test(e.message)))) {
      return new CliError(`the data directory ${dataDir} is in use by another tandem process (LevelDB allows one process per directory): stop it, or use its HTTP API`, 1, { cause: err })
    }
    return new CliError(`${spec.labels.dataDir} ${spec.dataDir}: cannot open the LevelDB database: ${innermostMessage(err)}`, 1, { cause: err })
  }
  return new CliError(`${spec.labels.databaseUrl} ${withoutPassword(spec.databaseUrl ?? '')}: ${message}`, 1, { cause: err })
}

/** The most specific message in a cause chain ("IO error: …" rather than "Database is not open"). */
function innermostMessage (err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined
  let message = current?.message ?? String(err)
  for (let depth = 0; depth < 8 && current?.cause !== undefined && current.cause !== null; depth++) {
    current = current.cause as { message?: string; cause?: unknown }
    if (typeof current.message === 'string' && current.message !== '') message = current.message
  }
  return message
}

/** What the start-up summary says about storage: never a password. */
export function describeStorage (spec: StorageSpec): string {
  switch (spec.kind) {
    case 'leveldb': return `leveldb ${resolve(spec.dataDir)}`
    case 'postgres': return `postgres ${withoutPassword(spec.databaseUrl ?? '')} schema ${spec.schema ?? 'tandem'}`
    default: return 'memory (nothing is kept after exit)'
  }
}

/** A connection URL without its password (and without anything when it does not parse). */
export function withoutPassword (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, '***')
    }
    return parsed.toString()
  } catch {
    return '(connection string not shown)'
  }
}
