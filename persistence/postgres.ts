import pg from 'pg'
import * as Y from 'yjs'
import { OffThreadMerger } from '../src/yjs/merge-off-thread.js'
import { StorageError, type AddVersionResult, type NewVersion, type Persistence, type VersionInfo, type VersionPolicy, type VersionStore } from './types.js'
import { materialize, parseVersionId, planAdd, planDelete, versionInfo, type ChainOp, type VersionBody, type VersionRow } from './version-chain.js'

/** Options of {@link PostgresPersistence.open}. */
export interface PostgresOptions {
  /** A libpq-style URL, e.g. `postgres://user:pass@host:5432/db`. */
  connectionString: string
  /**
   * The schema that holds tandem's tables. Several deployments can share one
   * database by using different schemas.
   * @default 'tandem'
   */
  schema?: string
  /**
   * Upper bound of connections in the pool. Bounds the load on Postgres; one of
   * them at a time carries the group-committed writes.
   * @default 10
   */
  poolSize?: number
  /**
   * How long a call waits for a connection before it rejects. Keeps callers
   * from hanging when Postgres is unreachable or the pool is exhausted.
   * @default 10000
   */
  connectionTimeoutMs?: number
  /**
   * How long a statement may run before its call rejects. Without it, a
   * connection that died silently would hold up every queued write behind
   * the INSERT in flight. A write that timed out may still have been
   * committed; storing the update again is harmless, Yjs ignores duplicates.
   * @default 30000
   */
  queryTimeoutMs?: number
  /**
   * How long `check()` (behind `/healthz`) waits for Postgres to answer before
   * it rejects. Much shorter than `queryTimeoutMs`: a probe answers "is the
   * storage working now", and a load balancer needs that answer at once, also
   * when the link hangs and every pooled connection waits on a reply that will
   * not come.
   * @default 500
   */
  checkTimeoutMs?: number
  /**
   * Most rows in one group-committed INSERT. Bounds the size of a single
   * statement (and of the work lost if it fails).
   * @default 5000
   */
  maxBatchRows?: number
  /**
   * Most update bytes in one group-committed INSERT (a single larger update
   * still goes alone).
   * @default 8388608 (8 MiB)
   */
  maxBatchBytes?: number
  /**
   * `true`: compaction applies the rows to a fresh `Y.Doc` and stores its
   * state, so deleted content is garbage-collected. `false`: rows are merged
   * with `Y.mergeUpdates`, which keeps deleted content (needed only by
   * applications that restore Yjs snapshots).
   * @default true
   */
  gc?: boolean
  /**
   * Called with errors that belong to no caller: a background compaction that
   * failed, or an idle pooled connection that broke. Neither loses data.
   * @default () => {}
   */
  onError?: (err: Error) => void
}

/** Counters for tests and metrics. */
export interface PostgresStats {
  /** INSERT statements that carried stored updates. */
  writes: number
  /** Updates stored (rows inserted by group commit). */
  rows: number
  /** Compactions that merged rows. */
  compactions: number
  /** Compactions skipped because another session held the document's lock. */
  compactionsSkipped: number
}

interface PendingWrite {
  doc: string
  update: Buffer
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Ordered migrations. Entry `i` moves the schema from version `i` to `i + 1`;
 * append, never edit, so that every database can be brought up to date.
 */
const MIGRATIONS: Array<(s: string) => string[]> = [
  (s) => [
    // COLLATE "C" makes `list()` order by code point (as LevelDB and the memory
    // adapter do) whatever the database locale is, and keeps the index cheap.
    `CREATE TABLE IF NOT EXISTS ${s}.updates (
      id bigserial PRIMARY KEY,
      doc text COLLATE "C" NOT NULL,
      update bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX IF NOT EXISTS updates_doc_id ON ${s}.updates (doc, id)`
  ],
  (s) => [
    // Version history (see version-chain.ts): `data` is a whole snapshot
    // when `keyframe`, else a diff against the row before it.
    `CREATE TABLE IF NOT EXISTS ${s}.versions (
      seq bigserial PRIMARY KEY,
      doc text COLLATE "C" NOT NULL,
      kind text NOT NULL,
      label text,
      authors text[] NOT NULL,
      created_at timestamptz NOT NULL,
      bytes bigint NOT NULL,
      keyframe boolean NOT NULL,
      stored_bytes bigint NOT NULL,
      sv bytea NOT NULL,
      data bytea NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS versions_doc_seq ON ${s}.versions (doc, seq)`,
    // Users whose changes went in since the latest version, written by every
    // instance that saw them and taken by whichever records the next version.
    `CREATE TABLE IF NOT EXISTS ${s}.version_authors (
      doc text COLLATE "C" NOT NULL,
      author text NOT NULL,
      PRIMARY KEY (doc, author)
    )`
  ]
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Shared storage for clusters: every update is one row, appended by group
 * commit and merged by compaction. Several instances may use the same schema.
 */
export class PostgresPersistence implements Persistence, VersionStore {
  readonly name = 'postgres'
  readonly shared = true
  readonly stats: PostgresStats = { writes: 0, rows: 0, compactions: 0, compactionsSkipped: 0 }
  /** Compaction's merges, off the event loop. */
  private readonly merger = new OffThreadMerger()

  private readonly pool: pg.Pool
  private readonly schema: string
  private readonly table: string
  private readonly versions: string
  private readonly authors: string
  private readonly maxBatchRows: number
  private readonly maxBatchBytes: number
  private readonly gc: boolean
  private readonly onError: (err: Error) => void

  private queue: PendingWrite[] = []
  private inFlight: Promise<void> | null = null
  /** The promise of the latest store() call. */
  private lastWrite: Promise<void> = Promise.resolve()
  private readonly compacting = new Map<string, Promise<number | undefined>>()
  private closing: Promise<void> | null = null

  private readonly checkTimeoutMs: number
  private readonly poolSize: number
  /** The probe of `check()` in flight; concurrent checks share it. */
  private probe: Promise<void> | null = null

  private constructor (pool: pg.Pool, options: Required<Omit<PostgresOptions, 'connectionString' | 'connectionTimeoutMs' | 'queryTimeoutMs'>>) {
    this.pool = pool
    this.poolSize = options.poolSize
    this.schema = options.schema
    this.checkTimeoutMs = options.checkTimeoutMs
    this.table = `${quoteIdent(options.schema)}.updates`
    this.versions = `${quoteIdent(options.schema)}.versions`
    this.authors = `${quoteIdent(options.schema)}.version_authors`
    this.maxBatchRows = options.maxBatchRows
    this.maxBatchBytes = options.maxBatchBytes
    this.gc = options.gc
    this.onError = options.onError
  }

  /**
   * Connects and brings the schema up to date (creating it when missing).
   * Rejects with a `StorageError` when Postgres is unreachable or the schema
   * was written by a newer version, and with a `RangeError` on invalid options.
   */
  static async open (options: PostgresOptions): Promise<PostgresPersistence> {
    const schema = options.schema ?? 'tandem'
    validateSchemaName(schema)
    // Validated before anything connects, so a bad option leaks nothing.
    const settings = {
      schema,
      maxBatchRows: positiveInt('maxBatchRows', options.maxBatchRows ?? 5000),
      maxBatchBytes: positiveInt('maxBatchBytes', options.maxBatchBytes ?? 8 * 1024 * 1024),
      gc: options.gc ?? true,
      onError: options.onError ?? (() => {}),
      checkTimeoutMs: positiveInt('checkTimeoutMs', options.checkTimeoutMs ?? 500),
      poolSize: positiveInt('poolSize', options.poolSize ?? 10)
    }
    const queryTimeoutMs = positiveInt('queryTimeoutMs', options.queryTimeoutMs ?? 30_000)
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: settings.poolSize,
      connectionTimeoutMillis: positiveInt('connectionTimeoutMs', options.connectionTimeoutMs ?? 10_000),
      query_timeout: queryTimeoutMs,
      // Server side: a session that stays idle inside a transaction this long
      // is ended by Postgres. A transaction whose client stopped talking (a
      // hung link, a process frozen mid-compaction) would otherwise hold its
      // row locks and the document's advisory lock until TCP notices, which
      // can take hours; other instances' compactions and deletes wait on them.
      idle_in_transaction_session_timeout: queryTimeoutMs,
      // Lets the kernel notice a peer that vanished without closing the
      // connection, instead of leaving it open and idle forever.
      keepAlive: true,
      application_name: 'tandem'
    })
    // A pooled client that is idle when its connection breaks (Postgres
    // restarted, network cut, pg_terminate_backend) emits 'error' on the pool.
    // Without a listener that would be an uncaught exception; the pool already
    // discarded the client and the next query opens a fresh connection. A
    // client that is checked out reports to its holder instead: `pool.query`
    // listens itself, `transaction()` below does.
    pool.on('error', (err) => { settings.onError(err) })

    const adapter = new PostgresPersistence(pool, settings)
    try {
      await adapter.migrate()
    } catch (err) {
      await pool.end().catch(() => {})
      throw wrap(err, `cannot open Postgres schema "${schema}"`)
    }
    return adapter
  }

  async load (docName: string): Promise<Uint8Array[]> {
    this.assertOpen()
    const res = await this.query<{ update: Buffer }>(
      `SELECT update FROM ${this.table} WHERE doc = $1 ORDER BY id`,
      [docName],
      `cannot load "${docName}"`
    )
    // Plain views rather than Buffers: the interface speaks Uint8Array, and
    // Buffer#slice shares memory where Uint8Array#slice copies.
    return res.rows.map((r) => new Uint8Array(r.update.buffer, r.update.byteOffset, r.update.byteLength))
  }

  /**
   * Appends one update. Calls that arrive while an INSERT is in flight wait
   * and go together in the next one, so a burst of keystrokes costs one round
   * trip. The promise settles only with the outcome of the INSERT that
   * carried this update.
   */
  store (docName: string, update: Uint8Array): Promise<void> {
    if (this.closing !== null) return Promise.reject(new StorageError('Postgres storage is closed'))
    if (!(update instanceof Uint8Array)) return Promise.reject(new StorageError('update must be a Uint8Array'))
    // Checked here rather than by Postgres: one bad name in a batch would
    // otherwise fail every other write that shares its INSERT.
    if (docName.includes('\u0000') || LONE_SURROGATE.test(docName)) {
      return Promise.reject(new StorageError('document name cannot be stored in Postgres text'))
    }
    const stored = new Promise<void>((resolve, reject) => {
      this.queue.push({
        doc: docName,
        update: Buffer.from(update.buffer, update.byteOffset, update.byteLength),
        resolve,
        reject
      })
      // Starting on the next microtask lets a synchronous burst of calls
      // share the first INSERT too, at no cost in latency.
      if (this.inFlight === null) this.inFlight = Promise.resolve().then(() => this.drain())
    })
    this.lastWrite = stored
    return stored
  }

  /**
   * Merges the document's rows into its newest merged row and deletes the
   * others, by id, in one transaction. Rows stored meanwhile are untouched.
   * Returns at once when another session is compacting the same document.
   */
  compact (docName: string): Promise<number | undefined> {
    if (this.closing !== null) return Promise.reject(new StorageError('Postgres storage is closed'))
    let running = this.compacting.get(docName)
    if (running === undefined) {
      running = this.compactNow(docName).finally(() => this.compacting.delete(docName))
      this.compacting.set(docName, running)
    }
    return running
  }

  async delete (docName: string): Promise<void> {
    this.assertOpen()
    // Writes handed over before this call belong before the delete.
    await this.flush()
    await this.transaction(`cannot delete "${docName}"`, async (client) => {
      // Waits for a compaction of the document to finish. Both touch the same
      // rows in different orders, which would otherwise deadlock.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [this.schema, docName])
      await this.lockVersions(client, docName)
      await client.query(`DELETE FROM ${this.table} WHERE doc = $1`, [docName])
      await client.query(`DELETE FROM ${this.versions} WHERE doc = $1`, [docName])
      await client.query(`DELETE FROM ${this.authors} WHERE doc = $1`, [docName])
    })
  }

  /**
   * Every instance plans and writes a document's versions under one
   * transaction-scoped advisory lock, so two instances that record an
   * automatic version of the same state at the same moment see each other:
   * the second finds the first's version holding its state and skips.
   */
  async addVersion (docName: string, version: NewVersion, policy: VersionPolicy): Promise<AddVersionResult> {
    this.assertOpen()
    return await this.transaction(`cannot store a version of "${docName}"`, async (client) => {
      await this.lockVersions(client, docName)
      const rows = await this.versionRows(client, docName)
      const recorded = (await client.query<{ author: string }>(`SELECT author FROM ${this.authors} WHERE doc = $1`, [docName])).rows.map((r) => r.author)
      const plan = await planAdd(rows, (seq) => this.versionBody(client, seq), version, policy, recorded)
      if ('result' in plan) return plan.result
      const seq = await this.applyChain(client, docName, plan.ops)
      // Authors recorded after the read above stay for the next version.
      await client.query(`DELETE FROM ${this.authors} WHERE doc = $1 AND author = ANY($2::text[])`, [docName, recorded])
      return { added: versionInfo({ ...plan.row, seq }) }
    })
  }

  async listVersions (docName: string, options: { after?: string; limit?: number } = {}): Promise<VersionInfo[]> {
    this.assertOpen()
    const before = options.after === undefined ? Number.MAX_SAFE_INTEGER : parseVersionId(options.after) ?? 0
    const res = await this.query<PgVersionRow>(
      `SELECT ${META_COLUMNS} FROM ${this.versions} WHERE doc = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
      [docName, before, options.limit ?? 100],
      `cannot list the versions of "${docName}"`
    )
    return res.rows.map((r) => versionInfo(toRow(r)))
  }

  async getVersion (docName: string, id: string): Promise<{ version: VersionInfo; update: Uint8Array } | null> {
    this.assertOpen()
    const seq = parseVersionId(id)
    if (seq === undefined) return null
    // One statement, so a fold running meanwhile (which rewrites and deletes
    // rows of the chain) is seen entirely or not at all.
    const res = await this.query<PgVersionRow & { data: Buffer }>(
      `SELECT ${META_COLUMNS}, data FROM ${this.versions}
       WHERE doc = $1 AND seq <= $2
         AND seq >= COALESCE((SELECT max(seq) FROM ${this.versions} WHERE doc = $1 AND seq <= $2 AND keyframe), 0)
       ORDER BY seq`,
      [docName, seq],
      `cannot read a version of "${docName}"`
    )
    const last = res.rows[res.rows.length - 1]
    if (last === undefined || Number(last.seq) !== seq) return null
    return { version: versionInfo(toRow(last)), update: materialize(res.rows.map((r) => bytes(r.data))) }
  }

  async deleteVersion (docName: string, id: string): Promise<boolean> {
    this.assertOpen()
    const seq = parseVersionId(id)
    if (seq === undefined) return false
    return await this.transaction(`cannot delete a version of "${docName}"`, async (client) => {
      await this.lockVersions(client, docName)
      const ops = await planDelete(await this.versionRows(client, docName), (s) => this.versionBody(client, s), seq)
      if (ops === null) return false
      await this.applyChain(client, docName, ops)
      return true
    })
  }

  async addAuthors (docName: string, authors: string[]): Promise<void> {
    this.assertOpen()
    if (authors.length === 0) return
    await this.query(
      `INSERT INTO ${this.authors} (doc, author) SELECT $1, a FROM unnest($2::text[]) AS a ON CONFLICT DO NOTHING`,
      [docName, authors],
      `cannot record the authors of "${docName}"`
    )
  }

  private async lockVersions (client: pg.PoolClient, docName: string): Promise<void> {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [this.schema, `versions:${docName}`])
  }

  private async versionRows (client: pg.PoolClient, docName: string): Promise<VersionRow[]> {
    const res = await client.query<PgVersionRow>(`SELECT ${META_COLUMNS} FROM ${this.versions} WHERE doc = $1 ORDER BY seq`, [docName])
    return res.rows.map(toRow)
  }

  private async versionBody (client: pg.PoolClient, seq: number): Promise<VersionBody> {
    const res = await client.query<{ sv: Buffer; data: Buffer }>(`SELECT sv, data FROM ${this.versions} WHERE seq = $1`, [seq])
    if (res.rows.length === 0) throw new StorageError(`the data of version ${seq} is missing`)
    return { sv: bytes(res.rows[0].sv), data: bytes(res.rows[0].data) }
  }

  /** Writes a plan's operations in the caller's transaction; returns the inserted row's seq (0 when none). */
  private async applyChain (client: pg.PoolClient, docName: string, ops: ChainOp[]): Promise<number> {
    let inserted = 0
    for (const op of ops) {
      if (op.op === 'delete') {
        await client.query(`DELETE FROM ${this.versions} WHERE seq = $1`, [op.seq])
      } else if (op.op === 'rewrite') {
        await client.query(
          `UPDATE ${this.versions} SET keyframe = $2, stored_bytes = $3, data = $4 WHERE seq = $1`,
          [op.row.seq, op.row.keyframe, op.row.storedBytes, buffer(op.body.data)]
        )
      } else {
        const { row, body } = op
        const res = await client.query<{ seq: string }>(
          `INSERT INTO ${this.versions} (doc, kind, label, authors, created_at, bytes, keyframe, stored_bytes, sv, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
          [docName, row.kind, row.label, row.authors, new Date(row.createdAt), row.bytes, row.keyframe, row.storedBytes, buffer(body.sv), buffer(body.data)]
        )
        inserted = Number(res.rows[0].seq)
      }
    }
    return inserted
  }

  async list (options: { after?: string; limit?: number } = {}): Promise<string[]> {
    this.assertOpen()
    const limit = options.limit ?? null
    if (limit !== null && limit <= 0) return []
    // A loose index scan: one index probe per distinct name, instead of
    // reading every row as SELECT DISTINCT would.
    const res = await this.query<{ doc: string }>(
      `WITH RECURSIVE names AS (
        (SELECT doc FROM ${this.table} WHERE doc > $1 ORDER BY doc LIMIT 1)
        UNION ALL
        SELECT (SELECT u.doc FROM ${this.table} u WHERE u.doc > names.doc ORDER BY u.doc LIMIT 1)
        FROM names WHERE names.doc IS NOT NULL
      )
      SELECT doc FROM names WHERE doc IS NOT NULL LIMIT $2`,
      [options.after ?? '', limit],
      'cannot list documents'
    )
    return res.rows.map((r) => r.doc)
  }

  /**
   * Resolves when Postgres answers a trivial query; rejects with a
   * `StorageError` saying why otherwise, and always within `checkTimeoutMs`:
   * a hung link, a pool whose connections all wait on one, or a connection
   * that cannot be opened are all answered by the deadline.
   *
   * Concurrent checks share one probe, so a health checker that polls a hung
   * database does not pile up connections. The probe's own query has the
   * same timeout, and a connection whose query timed out is discarded by the
   * pool: a health check also weeds out a connection that died silently.
   */
  async check (): Promise<void> {
    this.assertOpen()
    if (this.probe === null) {
      const probe = this.pool.query({ text: 'SELECT 1', query_timeout: this.checkTimeoutMs } as pg.QueryConfig)
        .then(() => {}, (err: unknown) => { throw wrap(err, 'Postgres is unreachable') })
        .finally(() => { if (this.probe === probe) this.probe = null })
      // Nobody may be waiting any more when it settles.
      probe.catch(() => {})
      this.probe = probe
    }
    await deadline(this.probe, this.checkTimeoutMs, `Postgres did not answer within ${this.checkTimeoutMs} ms`)
  }

  /**
   * Stores what is queued, waits for running compactions, and closes the pool.
   * Safe to call twice.
   */
  close (): Promise<void> {
    if (this.closing === null) {
      this.closing = (async () => {
        await this.flush()
        await Promise.allSettled([...this.compacting.values()])
        await this.pool.end()
        await this.merger.close()
      })()
    }
    return this.closing
  }

  /**
   * Resolves once every write queued before the call has settled. Batches go
   * out in call order, so that is when the latest write settles; waiting for
   * an empty queue instead could wait forever on a busy server.
   */
  private async flush (): Promise<void> {
    await this.lastWrite.catch(() => {})
  }

  /** Sends batches until the queue is empty; never rejects. */
  private async drain (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch()
        try {
          const insert = {
            // Named: parsed and planned once per connection.
            name: `tandem-store-${this.schema}`,
            // ORDER BY ordinality: ids follow the order in which store() was
            // called, so load() replays them in that order.
            text: `INSERT INTO ${this.table} (doc, update)
              SELECT b.doc, b.update
              FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS b(doc, update, n)
              ORDER BY b.n`,
            values: [batch.map((w) => w.doc), batch.map((w) => w.update)]
          }
          // A retried INSERT may store the batch twice if the first one
          // committed just before its connection broke; Yjs ignores duplicates.
          await this.againOnLostConnection(() => this.pool.query(insert))
        } catch (err) {
          const failure = wrap(err, `cannot store ${batch.length} update(s)`)
          for (const w of batch) w.reject(failure)
          continue
        }
        this.stats.writes++
        this.stats.rows += batch.length
        for (const w of batch) w.resolve()
      }
    } finally {
      this.inFlight = null
    }
  }

  private takeBatch (): PendingWrite[] {
    let bytes = 0
    let n = 0
    while (n < this.queue.length && n < this.maxBatchRows) {
      bytes += this.queue[n].update.byteLength
      if (n > 0 && bytes > this.maxBatchBytes) break
      n++
    }
    return this.queue.splice(0, n)
  }

  private async compactNow (docName: string): Promise<number | undefined> {
    return await this.transaction(`cannot compact "${docName}"`, async (client) => {
      // Transaction-scoped: released by COMMIT or ROLLBACK, and by Postgres
      // itself if this connection dies halfway.
      const lock = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) AS locked',
        [this.schema, docName]
      )
      if (!lock.rows[0].locked) {
        this.stats.compactionsSkipped++
        return undefined
      }
      const res = await client.query<{ id: string; update: Buffer }>(
        `SELECT id, update FROM ${this.table} WHERE doc = $1 ORDER BY id`,
        [docName]
      )
      if (res.rows.length < 2) return undefined
      const merged = await this.merge(res.rows.map((r) => r.update))
      const ids = res.rows.map((r) => r.id)
      const newest = ids.pop() as string
      // The merged update replaces the newest merged row rather than going
      // into a new one, so load() keeps returning rows in the order they
      // were stored: rows that arrived meanwhile have larger ids and must
      // stay after it.
      await client.query(`UPDATE ${this.table} SET update = $1 WHERE id = $2`, [merged, newest])
      await client.query(`DELETE FROM ${this.table} WHERE id = ANY($1::bigint[])`, [ids])
      this.stats.compactions++
      return merged.byteLength
    })
  }

  /**
   * Runs `fn` in a transaction on one pooled connection. Rejects with a
   * `StorageError` whose message starts with `what`.
   *
   * While the connection is checked out, the pool does not listen to it: a
   * connection that breaks now (Postgres terminated the backend, restarted,
   * failed over; the network cut it) emits 'error' on the client, and an
   * 'error' event nobody listens to ends the process. The listener here
   * turns it into a failure of this call; the statement in flight rejects
   * on its own.
   */
  private async transaction<T> (what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw wrap(err, what)
    }
    let broken: Error | undefined
    const onError = (err: Error): void => { broken ??= err }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      if (broken === undefined && answeredByServer(err)) {
        // The connection works and is idle: roll back and keep it. One that
        // cannot even roll back is dropped rather than handed to the next
        // caller.
        await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken ??= rollbackErr })
      } else {
        // Broken, or a statement timed out and may still be running: a
        // ROLLBACK would queue behind it for another full timeout. Closing
        // the connection makes Postgres roll back on its own.
        broken ??= err instanceof Error ? err : new Error(String(err))
      }
      throw wrap(err, what)
    } finally {
      // Released first: the pool listens again before this listener goes.
      client.release(broken)
      client.off('error', onError)
    }
  }

  private async merge (updates: Uint8Array[]): Promise<Buffer> {
    let merged: Uint8Array
    if (this.gc) {
      // Applying to a document drops the content of deleted items, which
      // mergeUpdates cannot do (and a document poisoned with deep nesting
      // before updates were checked on arrival still merges, without
      // recursion). Updates with missing dependencies are kept as pending and
      // still part of the encoded state. Off the event loop: a large
      // document takes hundreds of milliseconds.
      merged = (await this.merger.merge(updates)).merged
    } else {
      merged = Y.mergeUpdates(updates)
    }
    return Buffer.from(merged.buffer, merged.byteOffset, merged.byteLength)
  }

  private async migrate (): Promise<void> {
    const s = quoteIdent(this.schema)
    await this.transaction(`cannot migrate schema "${this.schema}"`, async (client) => {
      // Instances starting together would otherwise race on CREATE ... IF NOT
      // EXISTS, which is not safe against concurrent creation.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('tandem:migrate'), hashtext($1))", [this.schema])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        version integer NOT NULL
      )`)
      const res = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version`)
      const current = res.rows[0]?.version ?? 0
      if (current > SCHEMA_VERSION) {
        throw new StorageError(
          `schema "${this.schema}" is at version ${current}; this build knows up to ${SCHEMA_VERSION}`
        )
      }
      for (let v = current; v < SCHEMA_VERSION; v++) {
        for (const sql of MIGRATIONS[v](s)) await client.query(sql)
      }
      await client.query(
        `INSERT INTO ${s}.schema_version (version) VALUES ($1)
         ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version`,
        [SCHEMA_VERSION]
      )
    })
  }

  private async query<R extends pg.QueryResultRow> (text: string, values: unknown[], what: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.againOnLostConnection(() => this.pool.query<R>(text, values))
    } catch (err) {
      throw wrap(err, what)
    }
  }

  /**
   * Runs `run`, and again when its connection was lost rather than its
   * statement refused. After a failover, a restart or a pooler reset every
   * idle pooled connection is dead, and the pool learns it only when it
   * reads the end of each one: without another try, the first statement on
   * each of them would fail although Postgres is up again. Each failed try
   * makes the pool discard one dead connection, so at most `poolSize` of
   * them can be met before a fresh one is opened. Timeouts are not retried:
   * the link may hang, and the caller has waited enough.
   */
  private async againOnLostConnection<T> (run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await run()
      } catch (err) {
        if (!connectionLost(err) || attempt >= this.poolSize || this.closing !== null) throw err
      }
      // Lets the pool read the ends of the other dead connections first,
      // when they have arrived already, instead of trying them one by one.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  private assertOpen (): void {
    if (this.closing !== null) throw new StorageError('Postgres storage is closed')
  }
}

const META_COLUMNS = 'seq, kind, label, authors, created_at, bytes, keyframe, stored_bytes'

interface PgVersionRow {
  seq: string
  kind: VersionRow['kind']
  label: string | null
  authors: string[]
  created_at: Date
  bytes: string
  keyframe: boolean
  stored_bytes: string
}

function toRow (r: PgVersionRow): VersionRow {
  return {
    seq: Number(r.seq),
    kind: r.kind,
    label: r.label,
    authors: r.authors,
    createdAt: r.created_at.getTime(),
    bytes: Number(r.bytes),
    keyframe: r.keyframe,
    storedBytes: Number(r.stored_bytes)
  }
}

/** A plain view of a Buffer (the interface speaks Uint8Array). */
function bytes (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function buffer (u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/**
 * True when the error is Postgres' answer to a statement (or a decision of
 * this adapter) on a connection that is still in step: it can take a
 * ROLLBACK at once. Timeouts and connection failures are not.
 */
function answeredByServer (err: unknown): boolean {
  if (err instanceof StorageError) return true
  if (!(err instanceof pg.DatabaseError)) return false
  // Class 57 (operator intervention: admin shutdown, crash shutdown, cannot
  // connect now) and 08 (connection exception) end the session.
  return !/^(57P|08)/.test(err.code ?? '')
}

/** True when the connection broke under a statement (terminated, reset), as opposed to Postgres refusing it. */
function connectionLost (err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return /^(57P01|57P02|08)/.test(err.code ?? '')
  if (!(err instanceof Error)) return false
  const code = (err as NodeJS.ErrnoException).code
  return err.message === 'Connection terminated unexpectedly' || code === 'ECONNRESET' || code === 'EPIPE'
}

/** `promise`, or a rejection with a `StorageError` saying `message` after `ms`. */
async function deadline<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StorageError(message)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

function wrap (err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err
  const reason = err instanceof Error ? err.message : String(err)
  return new StorageError(`${what}: ${reason}`, { cause: err })
}

/** Quotes an SQL identifier; the schema name never reaches SQL unquoted. */
function quoteIdent (name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function validateSchemaName (schema: string): void {
  // 63 bytes is Postgres' identifier limit; longer names are silently cut,
  // which could make two configured schemas the same one.
  if (schema.length === 0 || Buffer.byteLength(schema) > 63 || schema.includes('\u0000')) {
    throw new RangeError(`invalid Postgres schema name ${JSON.stringify(schema)}`)
  }
}

function positiveInt (name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`)
  return value
}

