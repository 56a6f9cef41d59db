/**
 * The Postgres adapter when Postgres or the network fails under it: backends
 * terminated in every state a connection can be in (idle in the pool, checked
 * out, blocked inside a transaction, holding or waiting for an advisory lock,
 * during the start-up migration) and links that hang or are cut, through a
 * TCP proxy this file owns. The process must never die: the operation
 * rejects with a StorageError, the pool recovers, nothing stored is lost.
 *
 * Each test has its own schema (dropped at the end); backends are picked by
 * the schema their statement names or by the proxy's ports, never by a name
 * other test runs could share.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresPersistence, type PostgresOptions } from '../persistence/postgres.js'
import { StorageError } from '../persistence/types.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'
import { until } from './helpers.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const schemaPrefix = `t_faults_${randomBytes(4).toString('hex')}`
const schemas: string[] = []
function freshSchema (): string {
  const schema = `${schemaPrefix}_${schemas.length}`
  schemas.push(schema)
  return schema
}

let admin: pg.Client
const cleanups: Array<() => Promise<void> | void> = []

/**
 * Whatever escapes as an uncaught exception or unhandled rejection while a
 * test runs: exactly what would end a production process.
 */
const escaped: unknown[] = []
const onEscape = (err: unknown): void => { escaped.push(err) }

beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  process.on('uncaughtException', onEscape)
  process.on('unhandledRejection', onEscape)
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  expect(escaped.splice(0)).toEqual([])
})

afterAll(async () => {
  process.off('uncaughtException', onEscape)
  process.off('unhandledRejection', onEscape)
  try {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
  } finally {
    await admin.end()
  }
})

async function open (schema: string, options: Partial<PostgresOptions> = {}): Promise<{ p: PostgresPersistence; errors: Error[] }> {
  const errors: Error[] = []
  const p = await PostgresPersistence.open({
    connectionString: DATABASE_URL,
    schema,
    onError: (err) => { errors.push(err) },
    ...options
  })
  cleanups.push(() => p.close())
  return { p, errors }
}

async function proxy (): Promise<{ proxy: TcpProxy; url: string }> {
  const url = new URL(DATABASE_URL)
  const started = await startTcpProxy(Number(url.port || 5432), url.hostname)
  cleanups.push(() => started.close())
  url.port = String(started.port)
  return { proxy: started, url: url.toString() }
}

/** A second session that holds locks for as long as the test wants. */
async function session (): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: DATABASE_URL })
  await c.connect()
  // A session the test ends while a statement still runs reports it here.
  c.on('error', () => {})
  cleanups.push(() => c.end().catch(() => {}))
  return c
}

/** The pid of the backend that waits on a lock while running a statement that contains `fragment`. */
async function blockedBackend (fragment: string): Promise<number> {
  let pid = 0
  await until(async () => {
    const res = await admin.query(
      `SELECT pid FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [`%${fragment}%`]
    )
    pid = res.rows[0]?.pid ?? 0
    return pid !== 0
  }, `a backend blocked in "${fragment}"`)
  return pid
}

async function terminate (pids: number[]): Promise<number> {
  if (pids.length === 0) return 0
  const res = await admin.query('SELECT pg_terminate_backend(pid) AS ok FROM unnest($1::int[]) AS pid', [pids])
  return res.rows.filter((r) => r.ok === true).length
}

/** The backends Postgres serves through `proxy`, found by the ports of the proxy's upstream sockets. */
async function backendsVia (proxy: TcpProxy): Promise<number[]> {
  const ports = proxy.upstreamPorts()
  if (ports.length === 0) return []
  const res = await admin.query(
    `SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND client_port = ANY($1::int[])`,
    [ports]
  )
  return res.rows.map((r) => r.pid as number)
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

async function rejection (promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => null, (err: unknown) => err)
}

describe('a Postgres backend terminated while the adapter uses it', () => {
  it('rejects a compaction blocked on a row lock, and keeps working', async () => {
    const schema = freshSchema()
    const { p } = await open(schema)
    for (let i = 0; i < 20; i++) await p.store('doc', tiny(i))
    const locker = await session()
    await locker.query('BEGIN')
    await locker.query(`SELECT id FROM "${schema}".updates WHERE doc = 'doc' FOR UPDATE`)

    // The compaction holds the document's advisory lock and waits on the rows.
    const compaction = rejection(p.compact('doc'))
    const pid = await blockedBackend(`UPDATE "${schema}".updates`)
    expect(await terminate([pid])).toBe(1)
    const err = await compaction
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).message).toMatch(/^cannot compact "doc"/)
    await locker.query('ROLLBACK')

    await p.store('doc', tiny(20))
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 21))
    // The advisory lock died with the backend: the next compaction runs.
    await p.compact('doc')
    expect(p.stats.compactions).toBe(1)
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 21))
  })

  it('rejects a delete blocked on a row lock, and loses nothing', async () => {
    const schema = freshSchema()
    const { p } = await open(schema)
    for (let i = 0; i < 20; i++) await p.store('doc', tiny(i))
    const locker = await session()
    await locker.query('BEGIN')
    await locker.query(`SELECT id FROM "${schema}".updates WHERE doc = 'doc' FOR UPDATE`)

    const deletion = rejection(p.delete('doc'))
    const pid = await blockedBackend(`DELETE FROM "${schema}".updates`)
    expect(await terminate([pid])).toBe(1)
    const err = await deletion
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).message).toMatch(/^cannot delete "doc"/)
    await locker.query('ROLLBACK')

    // The delete was rolled back with its backend: everything is still there.
    await p.store('doc', tiny(20))
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 21))
    await p.delete('doc')
    expect(await p.load('doc')).toEqual([])
  })

  it('rejects a delete waiting for the document\'s advisory lock', async () => {
    const schema = freshSchema()
    const { p } = await open(schema)
    for (let i = 0; i < 5; i++) await p.store('doc', tiny(i))
    // What a compaction on another instance would hold.
    const holder = await session()
    await holder.query('BEGIN')
    await holder.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [schema, 'doc'])

    const deletion = rejection(p.delete('doc'))
    const pid = await blockedBackend('pg_advisory_xact_lock(hashtext($1), hashtext($2))')
    expect(await terminate([pid])).toBe(1)
    expect(await deletion).toBeInstanceOf(StorageError)
    await holder.query('COMMIT')
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 5))
    await p.delete('doc')
    expect(await p.load('doc')).toEqual([])
  })

  it('rejects open when the migration\'s backend is terminated, and leaves nothing running', async () => {
    const schema = freshSchema()
    // Another instance migrating the same schema holds this lock.
    const holder = await session()
    await holder.query('BEGIN')
    await holder.query("SELECT pg_advisory_xact_lock(hashtext('tandem:migrate'), hashtext($1))", [schema])

    const opening = rejection(PostgresPersistence.open({ connectionString: DATABASE_URL, schema }))
    const pid = await blockedBackend("hashtext('tandem:migrate')")
    expect(await terminate([pid])).toBe(1)
    const err = await opening
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).message).toMatch(/^cannot migrate schema ".*": terminating connection/)
    await holder.query('COMMIT')

    // The next start migrates normally.
    const { p } = await open(schema)
    await p.store('doc', tiny(1))
    expect(keysOf(await p.load('doc'))).toEqual([1])
  })

  it('survives every backend being terminated over and over while it stores, compacts, loads and deletes', async () => {
    const schema = freshSchema()
    const { proxy: px, url } = await proxy()
    const { p, errors } = await open(schema, { connectionString: url, queryTimeoutMs: 5000 })
    const stored = new Set<number>()
    const failedOps: string[] = []
    let next = 0
    let stop = false

    const writer = (async () => {
      while (!stop) {
        const batch = range(next, next + 5)
        next += 5
        const results = await Promise.allSettled(batch.map((n) => p.store('doc', tiny(n))))
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') stored.add(batch[i])
          else {
            expect(r.reason).toBeInstanceOf(StorageError)
            failedOps.push('store')
          }
        })
      }
    })()
    const other = (async () => {
      for (let i = 0; !stop; i++) {
        const op = i % 3 === 0 ? p.compact('doc') : i % 3 === 1 ? p.load('doc') : p.delete(`gone-${i}`)
        const err = await rejection(op)
        if (err !== null) {
          expect(err).toBeInstanceOf(StorageError)
          failedOps.push('other')
        }
      }
    })()

    // 20 rounds over about 5 s: every backend behind the proxy dies each round.
    let terminated = 0
    const deadline = Date.now() + 10_000
    for (let round = 0; round < 20 && Date.now() < deadline; round++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      terminated += await terminate(await backendsVia(px))
    }
    stop = true
    await Promise.all([writer, other])

    expect(terminated).toBeGreaterThan(20)
    // Every write that resolved is there; the pool works again.
    await p.store('doc', tiny(next))
    stored.add(next)
    const have = new Set(keysOf(await p.load('doc')))
    expect([...stored].filter((n) => !have.has(n))).toEqual([])
    await p.check()
    console.log(`terminate loop: ${terminated} backends terminated, ${stored.size} stores resolved, ${failedOps.length} operations rejected, ${errors.length} idle-connection errors reported`)
  })
})

describe('a hung or cut link to Postgres', () => {
  it('check() answers within checkTimeoutMs whatever the link does, and recovers', async () => {
    const schema = freshSchema()
    const { proxy: px, url } = await proxy()
    const { p } = await open(schema, { connectionString: url, queryTimeoutMs: 2000 })
    await p.store('doc', tiny(1))
    await p.check()

    const timed = async (): Promise<{ ms: number; err: unknown }> => {
      const started = performance.now()
      const err = await rejection(p.check())
      return { ms: performance.now() - started, err }
    }

    px.hang()
    // Pending writes tie up connections meanwhile; check() must not queue behind them.
    const hungWrites = [p.store('doc', tiny(2)), p.store('doc', tiny(3))].map(rejection)
    const hung = [await timed(), await timed(), await timed()]
    for (const { ms, err } of hung) {
      expect(err).toBeInstanceOf(StorageError)
      expect(ms).toBeLessThan(800)
    }
    expect((hung[0].err as Error).message).toMatch(/did not answer within 500 ms/)

    px.restore()
    await until(async () => (await rejection(p.check())) === null, 'check() to pass after the restore')
    // The writes held during the hang were either stored or rejected; either way the next one works.
    for (const err of await Promise.all(hungWrites)) if (err !== null) expect(err).toBeInstanceOf(StorageError)
    await p.store('doc', tiny(4))
    expect(keysOf(await p.load('doc'))).toEqual(expect.arrayContaining([1, 4]))

    px.cut()
    const cut = await timed()
    expect(cut.err).toBeInstanceOf(StorageError)
    expect(cut.ms).toBeLessThan(800)
    px.restore()
    await until(async () => (await rejection(p.check())) === null, 'check() to pass after the cut ends')
    console.log(`check(): hung link answered in ${hung.map((h) => h.ms.toFixed(0)).join(', ')} ms; cut link in ${cut.ms.toFixed(0)} ms`)
  })

  it('a transaction on a hung link rejects and releases its connection, and the next one works', async () => {
    const schema = freshSchema()
    const { proxy: px, url } = await proxy()
    const { p } = await open(schema, { connectionString: url, queryTimeoutMs: 1000, connectionTimeoutMs: 1000 })
    for (let i = 0; i < 5; i++) await p.store('doc', tiny(i))

    px.hang()
    const started = performance.now()
    const [compactErr, deleteErr] = await Promise.all([rejection(p.compact('doc')), rejection(p.delete('other'))])
    const tookMs = performance.now() - started
    expect(compactErr).toBeInstanceOf(StorageError)
    expect(deleteErr).toBeInstanceOf(StorageError)
    // One query timeout (or connection timeout), not one per statement.
    expect(tookMs).toBeLessThan(2500)
    px.restore()

    await p.store('doc', tiny(5))
    await p.compact('doc')
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 6))
  })

  it('a link cut inside a transaction rejects it, and the next one works', async () => {
    const schema = freshSchema()
    const { proxy: px, url } = await proxy()
    const { p } = await open(schema, { connectionString: url })
    for (let i = 0; i < 20; i++) await p.store('doc', tiny(i))
    const locker = await session()
    await locker.query('BEGIN')
    await locker.query(`SELECT id FROM "${schema}".updates WHERE doc = 'doc' FOR UPDATE`)

    const compaction = rejection(p.compact('doc'))
    await blockedBackend(`UPDATE "${schema}".updates`)
    px.cut()
    expect(await compaction).toBeInstanceOf(StorageError)
    await locker.query('ROLLBACK')
    px.restore()

    await p.store('doc', tiny(20))
    expect(keysOf(await p.load('doc'))).toEqual(range(0, 21))
  })
})
