import type { Persistence } from './types.js'

export { StorageError, type Persistence } from './types.js'

/** Options of {@link createPersistence}. */
export interface PersistenceOptions {
  /** Which adapter stores documents. */
  kind: 'leveldb' | 'memory' | 'postgres'
  /**
   * LevelDB directory (`leveldb` only).
   * @default './data'
   */
  dataDir?: string
  /** Postgres connection string; required by `postgres`. */
  databaseUrl?: string
  /**
   * Postgres schema that holds the tables (`postgres` only).
   * @default 'tandem'
   */
  schema?: string
  /**
   * Errors that belong to no caller (a broken idle connection, a failed
   * background step); nothing is lost, but they are worth a log line.
   * @default () => {}
   */
  onError?: (err: Error) => void
}

/** Thrown when the options cannot describe a working storage. */
export class PersistenceConfigError extends Error {
  readonly code = 'CONFIG_INVALID'
  constructor (message: string) {
    super(message)
    this.name = 'PersistenceConfigError'
  }
}

/**
 * Opens the chosen adapter. Drivers are imported only when chosen, so a
 * LevelDB deployment never loads `pg` and the other way round.
 *
 * Rejects with a `PersistenceConfigError` (code `CONFIG_INVALID`) on invalid
 * options, and with a `StorageError` when the storage cannot be opened.
 */
export async function createPersistence (options: PersistenceOptions): Promise<Persistence> {
  switch (options.kind) {
    case 'memory': {
      const { MemoryPersistence } = await import('./memory.js')
      return new MemoryPersistence()
    }
    case 'leveldb': {
      const { LeveldbPersistence } = await import('./leveldb.js')
      return await LeveldbPersistence.open(options.dataDir ?? './data')
    }
    case 'postgres': {
      if (options.databaseUrl === undefined || options.databaseUrl === '') {
        throw new PersistenceConfigError(
          'the postgres persistence needs a connection string (--database-url or DATABASE_URL)'
        )
      }
      const { PostgresPersistence } = await import('./postgres.js')
      try {
        return await PostgresPersistence.open({ connectionString: options.databaseUrl, schema: options.schema, onError: options.onError })
      } catch (err) {
        // Invalid schema names are a configuration problem, not a storage one.
        if (err instanceof RangeError) throw new PersistenceConfigError(err.message)
        throw err
      }
    }
    default:
      throw new PersistenceConfigError(
        `unknown persistence ${JSON.stringify((options as { kind: unknown }).kind)}; expected leveldb, postgres or memory`
      )
  }
}
