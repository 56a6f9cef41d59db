import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import {
  LeveldbPersistence as YLeveldb,
  getCurrentUpdateClock,
  getLevelBulkEntries,
  getLevelBulkKeys
} from 'y-leveldb'
import { OffThreadMerger } from '../src/yjs/merge-off-thread.js'
import { StorageError, type AddVersionResult, type NewVersion, type Persistence, type VersionInfo, type VersionPolicy, type VersionStore } from './types.js'
import { KeyedSerial } from './serial.js'
import { chainFor, materialize, parseVersionId, planAdd, planDelete, versionInfo, type ChainOp, type VersionBody, type VersionRow } from './version-chain.js'

/** The y-leveldb key layout, so a data dir stays readable by y-leveldb itself. */
const updateKey = (doc: string, clock: number) => ['v1', doc, 'update', clock]
/** y-leveldb writes clocks as 32-bit big-endian integers: the upper bound of a document's update keys (exclusive, as y-leveldb reads them). */
const LAST_CLOCK = 0xffffffff
const stateVectorKey = (doc: string) => ['v1_sv', doc]

/**
 * Versions live beside y-leveldb's keys under a prefix of their own (which
 * y-leveldb never reads): per document, a metadata row and a data row per
 * version, and the authors recorded for the next version. In the key
 * encoding a number sorts after every string, so `[..., END]` bounds every
 * key that continues `[...]` with strings.
 */
const HIST = 'v1_hist'
const END = 0
const metaKey = (doc: string, seq: number) => [HIST, doc, 'm', seq]
const bodyKey = (doc: string, seq: number) => [HIST, doc, 'b', seq]
const authorKey = (doc: string, author: string) => [HIST, doc, 'a', author]
/** The last version number handed out, for the whole database: ids are never reused. */
const SEQ_KEY = ['v1_hist_seq']
const MAX_SEQ = 2 ** 32 - 1

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
export class LeveldbPersistence implements Persistence, VersionStore {
  readonly name = 'leveldb'
  readonly shared = false
  /**
   * Next free clock per loaded document (0: no rows yet), learned from its
   * load or its first write, dropped by `release`. LevelDB is locked to this
   * process, so the cache stays true.
   */
  private readonly clocks = new Map<string, number>()
  /**
   * Counts the clocks dropped (`release`, `delete`, a failed batch). A load
   * reads outside the transaction queue: it caches the clock it saw only if
   * none was dropped meanwhile, since a write after its read sets the cache
   * itself and only a drop could then let the older clock in.
   */
  private clockDrops = 0
  /** Counts deletions of documents, so a compaction never writes rows read before one. */
  private deletions = 0
  /** The last version number stored (read once; the lock on the directory keeps it true). */
  private lastSeq: number | undefined
  /**
   * Version writes and deletions per document, one after the other. A
   * version is planned (decoding and diffing a whole document) outside the
   * transaction queue, which every store of every document waits on; only
   * its reads and its one write batch go through the queue.
   */
  private readonly versionLocks = new KeyedSerial()
  /** Documents whose state-vector row a load is waiting to read (see `existing`). */
  private existence = new Map<string, Array<{ resolve: (exists: boolean) => void; reject: (err: Error) => void }>>()
  private checkingExistence: Promise<void> | null = null
  private queue: PendingStore[] = []
  private draining: Promise<void> | null = null
  private closed = false
  /** Batches written; each is one LevelDB operation (for tests and metrics). */
  readonly stats = { batches: 0, updates: 0 }
  /** Compaction's merges, off the event loop. */
  private readonly merger = new OffThreadMerger()
  private readonly compactions = new Set<Promise<number | undefined>>()

  /** The open database, for reads that need no place in the transaction queue. */
  private db: any
  private constructor (private readonly y: YLeveldb) {}

  /** Opens (creating if needed) the LevelDB database in `dir`. */
  static async open (dir: string): Promise<LeveldbPersistence> {
    await makeDirectory(dir)
    const y = new YLeveldb(dir)
    const persistence = new LeveldbPersistence(y)
    // level opens lazily; make a bad directory fail here rather than on the first write.
    try {
      persistence.db = await persistence.tx(async (db) => { await db.open(); return db })
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

  /**
   * Reads a document's rows with one iterator read to the end (`all()`).
   * Not through the transaction queue: an iterator reads a snapshot, and
   * every write is one atomic batch, so a load sees a store or a compaction
   * whole or not at all; meanwhile loads of many documents run side by side
   * on LevelDB's threads instead of one after another.
   */
  async load (docName: string): Promise<Uint8Array[]> {
    if (this.closed || this.db === undefined) throw new StorageError('leveldb storage is closed')
    const drops = this.clockDrops
    let rows: Array<[unknown[], Uint8Array]> = []
    try {
      // A document without a state-vector row has no update rows (see `existing`): nothing to read.
      if (await this.existing(docName)) rows = await this.db.iterator({ gte: updateKey(docName, 0), lt: updateKey(docName, LAST_CLOCK) }).all()
    } catch (err) {
      throw new StorageError(`leveldb: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    }
    // The document's first write then needs no read of its own.
    if (drops === this.clockDrops && !this.clocks.has(docName)) {
      this.clocks.set(docName, rows.length === 0 ? 0 : (rows[rows.length - 1][0][3] as number) + 1)
    }
    return rows.map((row) => row[1])
  }

  /**
   * Whether `docName` has a state-vector row, which every writer of this
   * format (y-leveldb's and this class's) puts in the same write as a
   * document's first update row and deletes with its last: y-leveldb lists
   * documents by it. A document without one has no rows, so its load needs
   * no iterator (two trips to LevelDB's threads and a seek for every new
   * document a client opens). The checks of the loads that start while one
   * is in flight are made together, in one `getMany`.
   */
  private existing (docName: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const waiters = this.existence.get(docName)
      if (waiters !== undefined) waiters.push({ resolve, reject })
      else this.existence.set(docName, [{ resolve, reject }])
      this.checkingExistence ??= this.checkExistence()
    })
  }

  private async checkExistence (): Promise<void> {
    try {
      while (this.existence.size > 0) {
        const batch = this.existence
        this.existence = new Map()
        const names = [...batch.keys()]
        try {
          const rows: Array<Uint8Array | undefined> = await this.db.getMany(names.map(stateVectorKey))
          names.forEach((name, i) => { for (const w of batch.get(name) ?? []) w.resolve(rows[i] !== undefined) })
        } catch (err) {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(err as Error)
        }
      }
    } finally {
      this.checkingExistence = null
    }
  }

  /** The server unloaded the document: forget its clock (its next load or write reads it again). */
  release (docName: string): void {
    if (this.clocks.delete(docName)) this.clockDrops++
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
          this.clockDrops++
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
      if (next === undefined) next = (await getCurrentUpdateClock(db, docName) as number) + 1
      if (next === 0) {
        // y-leveldb lists documents by their state-vector key; write one for a new doc.
        ops.push({ type: 'put', key: stateVectorKey(docName), value: OUTDATED_STATE_VECTOR })
      }
      ops.push({ type: 'put', key: updateKey(docName, next), value: Buffer.from(update.buffer, update.byteOffset, update.byteLength) })
      this.clocks.set(docName, next + 1)
    }
    await db.batch(ops)
  }

  /**
   * Merges the document's rows into one. The rows are read from a snapshot
   * and merged off the event loop (a large document takes hundreds of
   * milliseconds, during which stores would otherwise wait in the queue and
   * nothing would be relayed); only the write is a transaction: the merged
   * row replaces the newest row it merged, so rows stored meanwhile (which
   * build on it) stay after it and a load applies every row after the rows
   * it builds on. Exactly the merged rows are replaced, unless the document
   * was deleted in between.
   */
  compact (docName: string, options: { idle?: boolean } = {}): Promise<number | undefined> {
    // Tracked so that close() lets a running compaction finish instead of failing its second half.
    const run = this.compactNow(docName, options.idle === true)
    this.compactions.add(run)
    void run.catch(() => {}).finally(() => this.compactions.delete(run))
    return run
  }

  private async compactNow (docName: string, idle: boolean): Promise<number | undefined> {
    if (this.closed || this.db === undefined) throw new StorageError('leveldb storage is closed')
    const deletions = this.deletions
    // A snapshot read outside the transaction queue, as a load reads: the
    // stores of every document go on meanwhile (a large document's rows take
    // tens of milliseconds to read, during which nothing would be relayed).
    let rows: Array<[unknown[], Uint8Array]>
    try {
      rows = await this.db.iterator({ gte: updateKey(docName, 0), lt: updateKey(docName, LAST_CLOCK) }).all()
    } catch (err) {
      throw new StorageError(`leveldb: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    }
    if (rows.length < 2) return undefined
    // Through a Y.Doc rather than Y.mergeUpdates: deleted content is
    // garbage-collected (and a document poisoned with deep nesting before
    // updates were checked on arrival still merges, without recursion).
    const { merged, stateVector } = await this.merger.merge(rows.map(([, value]) => value))
    const firstKey = rows[0][0]
    const newest = rows[rows.length - 1][0][3] as number
    const replaced = await this.tx(async (db) => {
      // Deleted meanwhile (and perhaps written again): nothing to replace.
      if (this.deletions !== deletions) return false
      // Merged by another compaction meanwhile: it read from the document's
      // first row too, and deleted it. Rows are removed by nothing else, so
      // the first and the newest row still there mean all of them are.
      const present: Array<Uint8Array | undefined> = await db.getMany([firstKey, updateKey(docName, newest)])
      if (present.some((value) => value === undefined)) return false
      await db.batch([
        ...rows.slice(0, -1).map(([key]) => ({ type: 'del', key })),
        { type: 'put', key: updateKey(docName, newest), value: Buffer.from(merged.buffer, merged.byteOffset, merged.byteLength) },
        { type: 'put', key: stateVectorKey(docName), value: encodeStoredStateVector(stateVector, newest) }
      ])
      return true
    })
    // LevelDB keeps the replaced rows in its files until it compacts them on
    // its own schedule. For a document nobody edits any more, ask it to do so
    // for this document's rows now, so the disk shrinks with the merge. Not
    // while the document is edited: a manual compaction can hold up LevelDB's
    // writes, and with them relaying. A failure only leaves the space for later.
    if (!replaced) return undefined
    if (idle) await this.db.compactRange(updateKey(docName, 0), updateKey(docName, LAST_CLOCK)).catch(() => {})
    return merged.byteLength
  }

  async delete (docName: string): Promise<void> {
    // After the document's version writes in flight, so none lands after the deletion.
    await this.versionLocks.run(docName, async () => await this.tx(async (db) => {
      const keys = await getLevelBulkKeys(db, { gte: ['v1', docName], lt: ['v1', docName, 'zzzzzzz'] })
      const history = await getLevelBulkKeys(db, { gte: [HIST, docName], lt: [HIST, docName, END] })
      await db.batch([
        { type: 'del', key: stateVectorKey(docName) },
        ...keys.map((key: unknown) => ({ type: 'del', key })),
        ...history.map((key: unknown) => ({ type: 'del', key }))
      ])
      this.clocks.delete(docName)
      this.clockDrops++
      this.deletions++
    }))
  }

  async addVersion (docName: string, version: NewVersion, policy: VersionPolicy): Promise<AddVersionResult> {
    return await this.versionLocks.run(docName, async () => {
      const { rows, authorKeys } = await this.tx(async (db) => ({
        rows: await readRows(db, docName),
        authorKeys: await getLevelBulkKeys(db, { gte: [HIST, docName, 'a'], lt: [HIST, docName, 'a', END] }) as unknown[][]
      }))
      const plan = await planAdd(rows, (seq) => this.tx((db) => readBody(db, docName, seq)), version, policy, authorKeys.map((key) => key[3] as string))
      if ('result' in plan) return plan.result
      return await this.tx(async (db) => {
        const seq = await this.nextSeq(db)
        // One atomic batch: the version, the retention it causes, the authors it
        // takes (authors recorded since the read above stay for the next one).
        await db.batch([
          ...this.chainOps(docName, plan.ops, seq),
          { type: 'put', key: SEQ_KEY, value: encodeNumber(seq) },
          ...authorKeys.map((key) => ({ type: 'del', key }))
        ])
        this.lastSeq = seq
        return { added: versionInfo({ ...plan.row, seq }) }
      })
    })
  }

  async listVersions (docName: string, options: { after?: string; limit?: number } = {}): Promise<VersionInfo[]> {
    const before = options.after === undefined ? MAX_SEQ + 1 : parseVersionId(options.after) ?? 0
    const limit = options.limit ?? 100
    if (before <= 1 || limit <= 0) return []
    return this.tx(async (db) => {
      const entries = await getLevelBulkEntries(db, { gte: metaKey(docName, 0), lt: metaKey(docName, Math.min(before, MAX_SEQ)), reverse: true, limit })
      return entries.map(({ key, value }) => versionInfo(decodeMeta(key[3] as number, value)))
    })
  }

  async getVersion (docName: string, id: string): Promise<{ version: VersionInfo; update: Uint8Array } | null> {
    const seq = parseVersionId(id)
    if (seq === undefined || seq > MAX_SEQ) return null
    return this.tx(async (db) => {
      const chain = chainFor(await readRows(db, docName, seq), seq)
      if (chain.length === 0) return null
      const datas: Uint8Array[] = []
      for (const row of chain) datas.push((await readBody(db, docName, row.seq)).data)
      return { version: versionInfo(chain[chain.length - 1]), update: materialize(datas) }
    })
  }

  async deleteVersion (docName: string, id: string): Promise<boolean> {
    const seq = parseVersionId(id)
    if (seq === undefined || seq > MAX_SEQ) return false
    return await this.versionLocks.run(docName, async () => {
      const rows = await this.tx((db) => readRows(db, docName))
      const ops = await planDelete(rows, (s) => this.tx((db) => readBody(db, docName, s)), seq)
      if (ops === null) return false
      await this.tx(async (db) => { await db.batch(this.chainOps(docName, ops, 0)) })
      return true
    })
  }

  async addAuthors (docName: string, authors: string[]): Promise<void> {
    if (authors.length === 0) return
    await this.tx(async (db) => {
      await db.batch(authors.map((author) => ({ type: 'put', key: authorKey(docName, author), value: Buffer.alloc(0) })))
    })
  }

  private async nextSeq (db: any): Promise<number> {
    if (this.lastSeq === undefined) {
      const stored = await getValue(db, SEQ_KEY)
      this.lastSeq = stored === undefined ? 0 : decodeNumber(stored)
    }
    if (this.lastSeq >= MAX_SEQ) throw new StorageError('leveldb: version numbers are exhausted')
    return this.lastSeq + 1
  }

  /** A plan's operations as LevelDB batch entries (`seq`: the number of the inserted version). */
  private chainOps (docName: string, ops: ChainOp[], seq: number): Array<{ type: 'put' | 'del'; key: unknown[]; value?: Buffer }> {
    const out: Array<{ type: 'put' | 'del'; key: unknown[]; value?: Buffer }> = []
    for (const op of ops) {
      if (op.op === 'delete') {
        out.push({ type: 'del', key: metaKey(docName, op.seq) }, { type: 'del', key: bodyKey(docName, op.seq) })
      } else if (op.op === 'rewrite') {
        out.push({ type: 'put', key: metaKey(docName, op.row.seq), value: encodeMeta(op.row) })
        out.push({ type: 'put', key: bodyKey(docName, op.row.seq), value: encodeBody(op.body) })
      } else {
        out.push({ type: 'put', key: metaKey(docName, seq), value: encodeMeta({ ...op.row, seq }) })
        out.push({ type: 'put', key: bodyKey(docName, seq), value: encodeBody(op.body) })
      }
    }
    return out
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
    await Promise.allSettled([...this.compactions])
    await this.tx(async (db) => { await db.close() })
    this.closed = true
    await this.merger.close()
  }
}

/** The version rows of a document, oldest first (up to `until` when given). */
async function readRows (db: any, docName: string, until = MAX_SEQ): Promise<VersionRow[]> {
  const entries = await getLevelBulkEntries(db, { gte: metaKey(docName, 0), lte: metaKey(docName, until) })
  return entries.map(({ key, value }) => decodeMeta(key[3] as number, value))
}

async function readBody (db: any, docName: string, seq: number): Promise<VersionBody> {
  const value = await getValue(db, bodyKey(docName, seq))
  if (value === undefined) throw new StorageError(`leveldb: the data of version ${seq} of "${docName}" is missing`)
  const decoder = decoding.createDecoder(value)
  return { sv: decoding.readVarUint8Array(decoder), data: decoding.readVarUint8Array(decoder) }
}

function encodeBody (body: VersionBody): Buffer {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint8Array(encoder, body.sv)
  encoding.writeVarUint8Array(encoder, body.data)
  return Buffer.from(encoding.toUint8Array(encoder))
}

function encodeMeta (row: VersionRow): Buffer {
  const { seq: _seq, ...meta } = row
  return Buffer.from(JSON.stringify(meta))
}

function decodeMeta (seq: number, value: Uint8Array): VersionRow {
  return { ...JSON.parse(Buffer.from(value).toString('utf8')), seq }
}

function encodeNumber (n: number): Buffer {
  return Buffer.from(String(n))
}

function decodeNumber (value: Uint8Array): number {
  return Number(Buffer.from(value).toString('utf8'))
}

/** The value at `key`, or undefined (level throws or answers undefined for a missing key, by version). */
async function getValue (db: any, key: unknown[]): Promise<Uint8Array | undefined> {
  try {
    return (await db.get(key)) ?? undefined
  } catch (err) {
    if ((err as { notFound?: boolean; code?: string }).notFound === true || (err as { code?: string }).code === 'LEVEL_NOT_FOUND') return undefined
    throw err
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

/** y-leveldb's state-vector value: varuint clock, then the state vector as varUint8Array. */
function encodeStoredStateVector (sv: Uint8Array, clock: number): Buffer {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, clock)
  encoding.writeVarUint8Array(encoder, sv)
  return Buffer.from(encoding.toUint8Array(encoder))
}

/**
 * The state-vector value of a document written but not compacted yet: an
 * empty vector at a clock no row has, so y-leveldb, reading it, computes the
 * vector afresh (as it does whenever the clock is not the newest row's).
 * Compaction writes the real one. Decoding every new document's first
 * update to write its vector cost more than the rest of the write.
 */
const OUTDATED_STATE_VECTOR = encodeStoredStateVector(new Uint8Array([0]), LAST_CLOCK)
