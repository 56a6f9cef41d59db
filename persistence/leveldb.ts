import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import {
  LeveldbPersistence as YLeveldb,
  getCurrentUpdateClock,
  getLevelBulkKeys,
  getLevelUpdates,
  getLevelUpdatesEntries
} from 'y-leveldb'
import { mergeStoredUpdates } from '../src/yjs/stored-updates.js'
import { StorageError, type Persistence } from './types.js'

/** The y-leveldb key layout, so a data dir stays readable by y-leveldb itself. */
const updateKey = (doc: string, clock: number) => ['v1', doc, 'update', clock]
const stateVectorKey = (doc: string) => ['v1_sv', doc]

interface PendingStore {
  docName: string
  update: Uint8Array
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Embedded storage on LevelDB in the y-leveldb format: every update is one
 * row `['v1', doc, 'update', clock]`, compaction merges rows into one.
 *
 * Two things differ from using y-leveldb directly:
 * - Errors propagate. y-leveldb's transaction queue logs a failure and resolves
 *   `null`, which would make a failed write look stored.
 * - Group commit across documents: every `store` that arrives while a write is
 *   in flight joins the next LevelDB batch, so a busy server does one disk
 *   operation per batch, not one per keystroke.
 */
export class LeveldbPersistence implements Persistence {
  readonly name = 'leveldb'
  readonly shared = false
  /** Next free clock per document. LevelDB is locked to this process, so the cache stays true. */
  private readonly clocks = new Map<string, number>()
  private queue: PendingStore[] = []
  private draining: Promise<void> | null = null
  private closed = false
  /** Batches written; each is one LevelDB operation (for tests and metrics). */
  readonly stats = { batches: 0, updates: 0 }

  private constructor (private readonly y: YLeveldb) {}

  /** Opens (creating if needed) the LevelDB database in `dir`. */
  static async open (dir: string): Promise<LeveldbPersistence> {
    await makeDirectory(dir)
    const y = new YLeveldb(dir)
    const persistence = new LeveldbPersistence(y)
    // level opens lazily; make a bad directory fail here rather than on the first write.
    try {
      await persistence.tx(async (db) => { await db.open() })
    } catch (err) {
      if (causes(err).some((e) => (e as { code?: string }).code === 'LEVEL_LOCKED')) {
        throw new StorageError(`the data directory ${dir} is in use by another process (LevelDB allows one process per directory)`, { cause: err })
      }
      throw err
    }
    return persistence
  }

  /**
   * Runs `fn` inside y-leveldb's serialized transaction queue and propagates
   * its error, which y-leveldb itself would swallow.
   */
  private async tx<T> (fn: (db: any) => Promise<T>): Promise<T> {
    if (this.closed) throw new StorageError('leveldb storage is closed')
    let failure: { error: unknown } | undefined
    const result = await this.y._transact(async (db: any) => {
      try {
        return await fn(db)
      } catch (error) {
        failure = { error }
        return null
      }
    })
    if (failure !== undefined) {
      const cause = failure.error
      if (cause instanceof StorageError) throw cause
      throw new StorageError(`leveldb: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    }
    return result as T
  }

  async load (docName: string): Promise<Uint8Array[]> {
    return this.tx((db) => getLevelUpdates(db, docName))
  }

  store (docName: string, update: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new StorageError('leveldb storage is closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ docName, update, resolve, reject })
      this.draining ??= this.drain()
    })
  }

  private async drain (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue
        this.queue = []
        try {
          await this.tx((db) => this.writeBatch(db, batch))
          this.stats.batches++
          this.stats.updates += batch.length
          for (const entry of batch) entry.resolve()
        } catch (err) {
          // The clocks handed out for this batch were never written.
          this.clocks.clear()
          for (const entry of batch) entry.reject(err as Error)
        }
      }
    } finally {
      this.draining = null
    }
  }

  private async writeBatch (db: any, batch: PendingStore[]): Promise<void> {
    const ops: Array<{ type: 'put'; key: unknown[]; value: Buffer }> = []
    for (const { docName, update } of batch) {
      let next = this.clocks.get(docName)
      if (next === undefined) {
        const current: number = await getCurrentUpdateClock(db, docName)
        if (current === -1) {
          // y-leveldb lists documents by their state-vector key; write one for a new doc.
          ops.push({ type: 'put', key: stateVectorKey(docName), value: encodeStoredStateVector(stateVectorOf(update), 0) })
        }
        next = current + 1
      }
      ops.push({ type: 'put', key: updateKey(docName, next), value: Buffer.from(update.buffer, update.byteOffset, update.byteLength) })
      this.clocks.set(docName, next + 1)
    }
    await db.batch(ops)
  }

  async compact (docName: string): Promise<void> {
    await this.tx(async (db) => {
      const entries: Array<{ key: unknown[]; value: Uint8Array }> = await getLevelUpdatesEntries(db, docName)
      if (entries.length < 2) return
      // Through a Y.Doc rather than Y.mergeUpdates: deleted content is
      // garbage-collected (and a document poisoned with deep nesting before
      // updates were checked on arrival still merges, without recursion).
      const merged = mergeStoredUpdates(entries.map(({ value }) => value))
      const sv = Y.encodeStateVectorFromUpdate(merged)
      const lastClock = entries[entries.length - 1].key[3] as number
      // One atomic batch: the merged row goes after the last merged one, and
      // exactly the merged rows are deleted.
      await db.batch([
        { type: 'put', key: updateKey(docName, lastClock + 1), value: Buffer.from(merged) },
        { type: 'put', key: stateVectorKey(docName), value: encodeStoredStateVector(sv, lastClock + 1) },
        ...entries.map(({ key }) => ({ type: 'del', key }))
      ])
      // Stores are serialized with this transaction, so nothing can have used lastClock + 1.
      this.clocks.set(docName, lastClock + 2)
    })
  }

  async delete (docName: string): Promise<void> {
    await this.tx(async (db) => {
      const keys = await getLevelBulkKeys(db, { gte: ['v1', docName], lt: ['v1', docName, 'zzzzzzz'] })
      await db.batch([
        { type: 'del', key: stateVectorKey(docName) },
        ...keys.map((key: unknown) => ({ type: 'del', key }))
      ])
      this.clocks.delete(docName)
    })
  }

  async list (options: { after?: string; limit?: number } = {}): Promise<string[]> {
    const { after, limit = 1000 } = options
    return this.tx(async (db) => {
      // Keys sort by encoded length first (varstring), not by name: collect and sort.
      const keys: unknown[][] = await getLevelBulkKeys(db, { gte: ['v1_sv'], lt: ['v1_sw'] })
      const names = keys.map((key) => key[1] as string).sort()
      const start = after === undefined ? 0 : names.findIndex((name) => name > after)
      return start === -1 ? [] : names.slice(start, start + limit)
    })
  }

  async check (): Promise<void> {
    await this.tx(async (db) => {
      if (db.status !== 'open') throw new StorageError(`leveldb is ${db.status}`)
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    while (this.draining !== null) await this.draining
    await this.tx(async (db) => { await db.close() })
    this.closed = true
  }
}

/**
 * Creates `dir` and its missing parents one level at a time: Node's
 * recursive mkdir never returns for some paths (`/proc/x` spins at full CPU).
 */
async function makeDirectory (dir: string): Promise<void> {
  const missing: string[] = []
  for (let current = resolve(dir); ; current = dirname(current)) {
    const info = await stat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null
      throw new StorageError(`cannot use the data directory ${dir}: ${err.message}`, { cause: err })
    })
    if (info !== null) {
      if (!info.isDirectory()) throw new StorageError(`cannot use the data directory ${dir}: ${current} is not a directory`)
      break
    }
    if (dirname(current) === current) throw new StorageError(`cannot use the data directory ${dir}: no part of the path exists`)
    missing.push(current)
  }
  for (const level of missing.reverse()) {
    await mkdir(level).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST' && (await stat(level).catch(() => null))?.isDirectory() === true) return
      throw new StorageError(`cannot create the data directory ${dir}: ${err.message}`, { cause: err })
    })
  }
}

/** An error and its causes, outermost first (bounded). */
function causes (err: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = err; e !== undefined && e !== null && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e)
  return chain
}

/**
 * The state vector of an update, or an empty one when it does not decode: the
 * vector only lists documents, and one odd update must not fail the other
 * documents' writes in the same batch.
 */
function stateVectorOf (update: Uint8Array): Uint8Array {
  try {
    return Y.encodeStateVectorFromUpdate(update)
  } catch {
    return new Uint8Array([0])
  }
}

/** y-leveldb's state-vector value: varuint clock, then the state vector as varUint8Array. */
function encodeStoredStateVector (sv: Uint8Array, clock: number): Buffer {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, clock)
  encoding.writeVarUint8Array(encoder, sv)
  return Buffer.from(encoding.toUint8Array(encoder))
}
