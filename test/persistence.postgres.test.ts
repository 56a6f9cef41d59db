import { randomBytes } from 'node:crypto'
import pg from 'pg'
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresPersistence, SCHEMA_VERSION, type PostgresOptions } from '../persistence/postgres.js'
import { StorageError } from '../persistence/types.js'
import { until } from './helpers.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const schemaPrefix = `t_${randomBytes(4).toString('hex')}`
const schemas: string[] = []
function freshSchema (suffix = ''): string {
  const schema = `${schemaPrefix}_${schemas.length}${suffix}`
  schemas.push(schema)
  return schema
}

/** A separate connection to look at and tamper with what the adapters wrote. */
let admin: pg.Client
const opened: PostgresPersistence[] = []

beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
})

afterAll(async () => {
  await Promise.allSettled(opened.map((p) => p.close()))
  try {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s.replace(/"/g, '""')}" CASCADE`)
  } finally {
    await admin.end()
  }
})

async function open (schema: string, options: Partial<PostgresOptions> = {}): Promise<PostgresPersistence> {
  const p = await PostgresPersistence.open({ connectionString: DATABASE_URL, schema, ...options })
  opened.push(p)
  return p
}

async function rowCount (schema: string, doc: string): Promise<number> {
  const res = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".updates WHERE doc = $1`, [doc])
  return res.rows[0].n as number
}

/** A small valid update per `n`: one map key `k<n>` from its own client. */
function tiny (n: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 100_000 + n
  doc.getMap('m').set(`k${n}`, n)
  return Y.encodeStateAsUpdate(doc)
}

function keysOf (updates: Uint8Array[]): number[] {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  return [...doc.getMap('m').keys()].map((k) => Number(k.slice(1))).sort((a, b) => a - b)
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

describe('postgres schema', () => {
  it('migrates idempotently: opened twice, and by several instances at once', async () => {
    const schema = freshSchema()
    const first = await open(schema)
    await first.store('doc', tiny(1))
    await first.close()

    // Several instances starting together must not trip over each other.
    const together = await Promise.all([open(schema), open(schema), open(schema)])
    for (const p of together) expect(keysOf(await p.load('doc'))).toEqual([1])
    await Promise.all(together.map((p) => p.close()))

    const version = await admin.query(`SELECT version FROM "${schema}".schema_version`)
    expect(version.rows).toEqual([{ version: SCHEMA_VERSION }])
    const indexes = await admin.query("SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'updates' ORDER BY indexname", [schema])
    expect(indexes.rows.map((r) => r.indexname)).toEqual(['updates_doc_id', 'updates_pkey'])
  })

  it('creates a schema from nothing when several instances start at once', async () => {
    const schema = freshSchema()
    const all = await Promise.all([open(schema), open(schema), open(schema)])
    await Promise.all(all.map((p, i) => p.store('doc', tiny(i))))
    expect(keysOf(await all[0].load('doc'))).toEqual([0, 1, 2])
    await Promise.all(all.map((p) => p.close()))
  })

  it('refuses a schema written by a newer version', async () => {
    const schema = freshSchema()
    await (await open(schema)).close()
    await admin.query(`UPDATE "${schema}".schema_version SET version = $1`, [SCHEMA_VERSION + 1])
    await expect(open(schema)).rejects.toBeInstanceOf(StorageError)
  })

  it('quotes the schema name', async () => {
    const schema = freshSchema(' "odd"; name')
    const p = await open(schema)
    await p.store('doc', tiny(7))
    expect(keysOf(await p.load('doc'))).toEqual([7])
    await p.close()
  })

  it('rejects invalid options before connecting', async () => {
    await expect(open('')).rejects.toBeInstanceOf(RangeError)
    await expect(open('x'.repeat(64))).rejects.toBeInstanceOf(RangeError)
    await expect(open(freshSchema(), { poolSize: 0 })).rejects.toBeInstanceOf(RangeError)
    await expect(open(freshSchema(), { checkTimeoutMs: 0 })).rejects.toBeInstanceOf(RangeError)
  })
})

describe('postgres availability', () => {
  it('rejects open with a StorageError when nothing listens', async () => {
    const err = await PostgresPersistence.open({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() })
      .then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).code).toBe('STORAGE_FAILED')
  })

  it('survives idle connections that Postgres closes, and reconnects', async () => {
    const schema = freshSchema()
    const errors: Error[] = []
    const p = await open(schema, { onError: (err) => { errors.push(err) } })
    await p.store('doc', tiny(1))
    // Terminate this adapter's idle connections only: their last statement
    // names its schema, which no other session uses.
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND state = 'idle' AND query LIKE $1`,
      [`%${schema}%`]
    )
    expect(killed.rowCount).toBeGreaterThan(0)
    await until(() => errors.length > 0, 'the pool to report the broken idle connection')
    await p.check()
    await p.store('doc', tiny(2))
    expect(keysOf(await p.load('doc'))).toEqual([1, 2])
  })

  it('rejects a document name Postgres cannot hold without failing the rest of the batch', async () => {
    const p = await open(freshSchema())
    const results = await Promise.allSettled([
      p.store('fine', tiny(1)),
      p.store('bad\u0000name', tiny(2)),
      p.store('lone \uD800 surrogate', tiny(3)),
      p.store('fine', tiny(4))
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
    expect(keysOf(await p.load('fine'))).toEqual([1, 4])
  })
})

describe('postgres compaction', () => {
  it('skips a document whose lock another session holds', async () => {
    const schema = freshSchema()
    const p = await open(schema)
    for (let i = 0; i < 5; i++) await p.store('doc', tiny(i))

    const holder = new pg.Client({ connectionString: DATABASE_URL })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [schema, 'doc'])
      await p.compact('doc')
      expect(p.stats.compactionsSkipped).toBe(1)
      expect(await rowCount(schema, 'doc')).toBe(5)
      // Other documents are not behind the same lock.
      await p.store('other', tiny(10))
      await p.store('other', tiny(11))
      await p.compact('other')
      expect(await rowCount(schema, 'other')).toBe(1)
      await holder.query('COMMIT')
    } finally {
      await holder.end()
    }
    await p.compact('doc')
    expect(await rowCount(schema, 'doc')).toBe(1)
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 5))
  })

  it('never loses or duplicates rows when two instances compact one document at once', async () => {
    const schema = freshSchema()
    const a = await open(schema)
    const b = await open(schema)
    let next = 0
    for (; next < 100; next++) await (next % 2 === 0 ? a : b).store('doc', tiny(next))

    for (let round = 0; round < 8; round++) {
      const stores: Array<Promise<void>> = []
      for (let i = 0; i < 20; i++, next++) stores.push((i % 2 === 0 ? a : b).store('doc', tiny(next)))
      await Promise.all([a.compact('doc'), b.compact('doc'), ...stores])
      expect(keysOf(await a.load('doc'))).toEqual(range(0, next))
    }
    // Compactions did happen, and some met the other instance's lock.
    expect(a.stats.compactions + b.stats.compactions).toBeGreaterThan(0)

    await Promise.all([a.compact('doc'), b.compact('doc')])
    await a.compact('doc')
    expect(await rowCount(schema, 'doc')).toBe(1)
    const loaded = await b.load('doc')
    expect(loaded).toHaveLength(1)
    expect(keysOf(loaded)).toEqual(range(0, next))
    // The merged state holds each update once: applying it to an empty
    // document yields exactly `next` map entries and no pending structs.
    const doc = new Y.Doc()
    Y.applyUpdate(doc, loaded[0])
    expect(doc.getMap('m').size).toBe(next)
    expect(doc.store.pendingStructs).toBeNull()
  })

  it('keeps stored rows in order: the merged row takes the place of the newest merged row', async () => {
    const schema = freshSchema()
    const p = await open(schema)
    for (let i = 0; i < 4; i++) await p.store('doc', tiny(i))
    await Promise.all([p.compact('doc'), p.store('doc', tiny(4)), p.store('doc', tiny(5))])
    const rows = await admin.query(`SELECT id FROM "${schema}".updates WHERE doc = 'doc' ORDER BY id`)
    const loaded = await p.load('doc')
    expect(loaded).toHaveLength(rows.rowCount ?? 0)
    // Whatever the interleaving, the last loaded row is the last stored one
    // unless the compaction merged it too.
    const last = keysOf([loaded[loaded.length - 1]])
    expect(last[last.length - 1]).toBe(5)
    expect(keysOf(loaded)).toEqual(range(0, 6))
  })

  it('does not bring back a document deleted while it was being compacted', async () => {
    const schema = freshSchema()
    const p = await open(schema)
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) await p.store('doc', tiny(i))
      await Promise.all([p.compact('doc'), p.delete('doc')])
      // Whichever runs first, the delete wins: a compaction that read the
      // rows before they were deleted must not write a merged row back.
      expect(await rowCount(schema, 'doc')).toBe(0)
    }
  })

  it('close waits for a background compaction', async () => {
    const schema = freshSchema()
    const p = await open(schema)
    await Promise.all(range(0, 5).map((i) => p.store('doc', tiny(i))))
    const compaction = p.compact('doc')
    await p.close()
    await compaction
    expect(p.stats.compactions).toBe(1)
    expect(await rowCount(schema, 'doc')).toBe(1)
  })
})
