/**
 * Instances of the real CLI (child processes) on the real Postgres and Redis,
 * edited by stock y-websocket clients, while the links to Postgres or Redis
 * fail: Postgres backends terminated over and over, links that hang. Each
 * instance's link to the failing service goes through a TCP proxy this file
 * owns, so the faults hit these instances only, never the shared services
 * or other test runs.
 *
 * The run has its own Postgres schema and Redis key prefix, dropped and
 * deleted at the end.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresPersistence } from '../persistence/postgres.js'
import { client, spawnCli, until, type Client } from './helpers.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const RUN = randomBytes(4).toString('hex')
const SCHEMA = `t_faults_cluster_${RUN}`
const PREFIX = `tandem-test:faults-cluster-${RUN}:`
const HEARTBEAT_MS = 500

type Instance = Awaited<ReturnType<typeof spawnCli>>

const instances: Instance[] = []
const clients: Client[] = []
const cleanups: Array<() => Promise<void> | void> = []
/** Reads what the instances stored, directly (never through a proxy). */
let store: PostgresPersistence
let admin: pg.Client

beforeAll(async () => {
  store = await PostgresPersistence.open({ connectionString: DATABASE_URL, schema: SCHEMA })
  admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  const started = instances.splice(0)
  // Every instance must have stayed up, and must shut down cleanly.
  const aliveAtEnd = started.map((i) => i.child.exitCode === null)
  try {
    const codes = await Promise.all(started.map(async (i) => {
      if (i.child.exitCode === null) i.child.kill('SIGTERM')
      return await i.exited
    }))
    started.forEach((i, n) => { expect(aliveAtEnd[n], i.output()).toBe(true) })
    expect(codes).toEqual(started.map(() => 0))
  } finally {
    for (const fn of cleanups.splice(0).reverse()) await fn()
  }
})

afterAll(async () => {
  await store.close()
  await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)
  await admin.end()
  const redis = new Redis(REDIS_URL)
  try {
    const keys = await redis.keys(`${PREFIX}*`)
    if (keys.length > 0) await redis.del(...keys)
  } finally {
    await redis.quit()
  }
})

// ---------------------------------------------------------------------------
// Fixtures

async function proxyTo (serviceUrl: string, defaultPort: number): Promise<{ proxy: TcpProxy; url: string }> {
  const url = new URL(serviceUrl)
  const proxy = await startTcpProxy(Number(url.port || defaultPort), url.hostname)
  cleanups.push(() => proxy.close())
  url.port = String(proxy.port)
  return { proxy, url: url.toString() }
}

async function startInstance (urls: { database?: string; redis?: string } = {}, extra: string[] = []): Promise<Instance> {
  const instance = await spawnCli([
    ...extra,
    '--redis', urls.redis ?? REDIS_URL, '--redis-prefix', PREFIX,
    '--redis-heartbeat-ms', String(HEARTBEAT_MS), '--redis-instance-ttl-ms', '2000',
    '--persistence', 'postgres', '--database-url', urls.database ?? DATABASE_URL, '--database-schema', SCHEMA
  ])
  instances.push(instance)
  return instance
}

function docName (what: string): string {
  return `faults-${RUN}/${what}`
}

function connect (url: string, name: string): Client {
  const c = client(url, name)
  clients.push(c)
  return c
}

function items (doc: Y.Doc): string[] {
  return doc.getArray<string>('array').toArray()
}

async function storedItems (name: string): Promise<Set<string>> {
  const doc = new Y.Doc()
  for (const update of await store.load(name)) Y.applyUpdate(doc, update)
  const result = new Set(items(doc))
  doc.destroy()
  return result
}

async function healthz (http: string): Promise<{ status: number; reason: string; ms: number }> {
  const started = performance.now()
  const res = await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(5000) })
  const body = await res.json() as { status: string; reason?: string }
  return { status: res.status, reason: body.reason ?? body.status, ms: performance.now() - started }
}

/** The backends Postgres serves through `proxy`, by the ports of its upstream sockets. */
async function terminateVia (proxy: TcpProxy): Promise<number> {
  const ports = proxy.upstreamPorts()
  if (ports.length === 0) return 0
  const res = await admin.query(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE pid <> pg_backend_pid() AND client_port = ANY($1::int[])`,
    [ports]
  )
  return res.rows[0].n as number
}

// ---------------------------------------------------------------------------

describe('Postgres backends terminated under a working cluster', () => {
  it('keeps both instances up, converges, and stores everything a client was relayed', async () => {
    const name = docName('terminate-loop')
    const { proxy, url } = await proxyTo(DATABASE_URL, 5432)
    // Frequent compactions, so that terminations also land inside transactions.
    const often = ['--compact-after', '20']
    const [a, b] = await Promise.all([startInstance({ database: url }, often), startInstance({ database: url }, often)])
    const writers = [connect(a.url, name), connect(b.url, name)]
    const reader = connect(a.url, name)
    await Promise.all([...writers, reader].map((c) => c.synced()))
    let socketCloses = 0
    for (const c of [...writers, reader]) c.provider.on('connection-close', () => { socketCloses++ })

    const made = [0, 0]
    let editing = true
    const edits = writers.map(async (w, i) => {
      const deadline = Date.now() + 15_000
      while (editing && Date.now() < deadline) {
        w.doc.getArray<string>('array').push([`w${i}-${made[i]++}`])
        await new Promise((resolve) => setTimeout(resolve, 15))
      }
    })

    /**
     * Relayed means durable: whatever a client received from another client
     * was stored before it was relayed, so storage (read after the snapshot)
     * holds it.
     */
    const missingRelayed = async (): Promise<string[]> => {
      const relayed = new Set<string>()
      writers.forEach((w, i) => { for (const item of items(w.doc)) if (!item.startsWith(`w${i}-`)) relayed.add(item) })
      for (const item of items(reader.doc)) relayed.add(item)
      const stored = await storedItems(name)
      return [...relayed].filter((item) => !stored.has(item))
    }

    let terminated = 0
    const missing: string[] = []
    const loopDeadline = Date.now() + 8000
    for (let round = 0; round < 20 && Date.now() < loopDeadline; round++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      terminated += await terminateVia(proxy)
      if (round % 4 === 3) missing.push(...await missingRelayed())
    }
    editing = false
    await Promise.all(edits)
    expect(missing).toEqual([])
    expect(terminated).toBeGreaterThan(20)
    for (const i of [a, b]) expect(i.child.exitCode).toBe(null)

    const total = made[0] + made[1]
    await until(() => [...writers, reader].every((c) => items(c.doc).length === total), 'every client to converge', 20_000)
    expect(await missingRelayed()).toEqual([])
    await until(async () => (await storedItems(name)).size === total, 'storage to hold every edit', 10_000)

    // A fresh client, on either instance, loads everything.
    for (const instance of [a, b]) {
      const fresh = connect(instance.url, name)
      await fresh.synced()
      await until(() => items(fresh.doc).length === total, 'a fresh client to load everything')
    }
    await until(async () => (await healthz(a.http)).status === 200 && (await healthz(b.http)).status === 200, 'both instances to be healthy')
    const failedCompactions = [a, b].map((i) => i.output().split('\n').filter((l) => l.includes('compaction failed')).length)
    console.log(`terminate loop under two instances: ${terminated} backends terminated, ${total} edits, all stored and converged; clients saw ${socketCloses} socket closes; compactions failed: ${failedCompactions.join(' and ')}`)
  })
})

describe('a storage outage of 10 s', () => {
  it('keeps clients connected, relays and acknowledges nothing unstored, and catches up within 1 s of the end, logging the outage once', async () => {
    const name = docName('outage')
    const { proxy, url } = await proxyTo(DATABASE_URL, 5432)
    const [a, b] = await Promise.all([startInstance({ database: url }), startInstance({ database: url })])
    const ca = connect(a.url, name)
    const cb = connect(b.url, name)
    await Promise.all([ca.synced(), cb.synced()])
    ca.doc.getArray<string>('array').push(['before'])
    await until(() => items(cb.doc).includes('before'), 'the first edit to cross instances')
    let closes = 0
    for (const c of [ca, cb]) c.provider.on('connection-close', () => { closes++ })

    proxy.cut()
    const cutAt = Date.now()
    // Edits on both instances during the outage: none may be relayed (it is not stored).
    ca.doc.getArray<string>('array').push(['during-a'])
    cb.doc.getArray<string>('array').push(['during-b'])
    // An HTTP write is not acknowledged while storage is down.
    const extra = new Y.Doc()
    extra.getArray<string>('array').push(['during-http'])
    const post = fetch(`${a.http}/docs/${encodeURIComponent(name)}/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(extra)) })
    let answered: number | null = null
    void post.then((res) => { answered = res.status }, () => { answered = -1 })
    const leaks: string[] = []
    while (Date.now() - cutAt < 10_000) {
      if (items(ca.doc).includes('during-b')) leaks.push('a received b\'s unstored edit')
      if (items(cb.doc).includes('during-a')) leaks.push('b received a\'s unstored edit')
      if (answered === 200) leaks.push('an unstored HTTP write was acknowledged')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(leaks).toEqual([])
    expect(await store.load(name).then((rows) => rows.length)).toBeGreaterThan(0)

    proxy.restore()
    const restoredAt = Date.now()
    await until(() => ['during-a', 'during-b', 'during-http'].every((item) => items(ca.doc).includes(item) && items(cb.doc).includes(item)),
      'the edits made during the outage to reach both clients', 5000)
    const caughtUpMs = Date.now() - restoredAt
    const stored = await storedItems(name)
    for (const item of ['before', 'during-a', 'during-b', 'during-http']) expect(stored.has(item)).toBe(true)
    expect(closes).toBeLessThanOrEqual(2)
    expect(caughtUpMs).toBeLessThan(1000 + 500)
    // Log lines reach the output asynchronously: wait for the end line, then count.
    const count = (i: Instance, text: string) => i.output().split('\n').filter((l) => l.includes(text)).length
    await until(() => [a, b].every((i) => count(i, 'storage is back') >= 1), 'both instances to log the end of the outage', 5000)
    for (const i of [a, b]) {
      expect(count(i, 'storage is unavailable')).toBe(1)
      expect(count(i, 'storage is back')).toBe(1)
    }
    console.log(`storage outage of 10 s: clients saw ${closes} closes; edits made during it reached everyone ${caughtUpMs} ms after it ended`)
  }, 40_000)
})

describe('/healthz on a hung link', () => {
  it('answers 503 with a storage reason within 1 s while Postgres hangs, 200 after the restore', async () => {
    const { proxy, url } = await proxyTo(DATABASE_URL, 5432)
    const a = await startInstance({ database: url })
    // A document open on the instance, so pooled connections exist.
    const c = connect(a.url, docName('health-pg'))
    await c.synced()
    c.doc.getArray<string>('array').push(['x'])
    expect((await healthz(a.http)).status).toBe(200)

    proxy.hang()
    const hung = [await healthz(a.http), await healthz(a.http), await healthz(a.http)]
    for (const h of hung) {
      expect(h.status).toBe(503)
      expect(h.reason).toMatch(/^storage: /)
      expect(h.ms).toBeLessThan(1000)
    }

    proxy.restore()
    const restoredAt = performance.now()
    await until(async () => (await healthz(a.http)).status === 200, 'healthz to answer 200 after the restore', 5000)
    const healthyMs = performance.now() - restoredAt

    proxy.cut()
    const cut = await healthz(a.http)
    expect(cut.status).toBe(503)
    expect(cut.reason).toMatch(/^storage: /)
    expect(cut.ms).toBeLessThan(1000)
    proxy.restore()
    await until(async () => (await healthz(a.http)).status === 200, 'healthz to answer 200 after the cut ends', 5000)
    console.log(`/healthz, Postgres hung: ${hung.map((h) => h.ms.toFixed(0)).join(', ')} ms (${hung[0].reason}); 200 again ${healthyMs.toFixed(0)} ms after the restore; Postgres cut: ${cut.ms.toFixed(0)} ms`)
  })

  it('answers 503 with a fanout reason within 1 s while Redis hangs; after the restore the instance resyncs', async () => {
    const name = docName('health-redis')
    const { proxy, url } = await proxyTo(REDIS_URL, 6379)
    const [a, b] = await Promise.all([startInstance({ redis: url }), startInstance()])
    const ca = connect(a.url, name)
    const cb = connect(b.url, name)
    await Promise.all([ca.synced(), cb.synced()])
    cb.doc.getArray<string>('array').push(['before'])
    await until(() => items(ca.doc).includes('before'), 'the first edit to cross instances')
    expect((await healthz(a.http)).status).toBe(200)

    proxy.hang()
    const hungAt = performance.now()
    const early = await healthz(a.http)
    expect(early.status).toBe(503)
    expect(early.reason).toMatch(/^fanout: /)
    expect(early.ms).toBeLessThan(1000)

    // The edit on b during the hang is stored (Postgres is fine) but cannot reach a.
    cb.doc.getArray<string>('array').push(['during'])
    await until(() => a.output().includes('connection hung'), 'a to notice the hung link', 5000)
    const detectedMs = performance.now() - hungAt
    const late = await healthz(a.http)
    expect(late.status).toBe(503)
    expect(late.reason).toMatch(/^fanout: /)
    expect(late.ms).toBeLessThan(1000)
    expect(items(ca.doc)).not.toContain('during')

    proxy.restore()
    const restoredAt = performance.now()
    await until(() => items(ca.doc).includes('during'), 'the edit made during the hang to reach a\'s client', 5000)
    const resyncMs = performance.now() - restoredAt
    expect(resyncMs).toBeLessThan(2500)
    await until(async () => (await healthz(a.http)).status === 200, 'healthz to answer 200 after the restore', 5000)

    // Live both ways again.
    ca.doc.getArray<string>('array').push(['after-a'])
    await until(() => items(cb.doc).includes('after-a'), 'a live edit from a to reach b')
    const hungLines = a.output().split('\n').filter((l) => l.includes('connection hung'))
    expect(hungLines.length).toBeLessThanOrEqual(2)
    console.log(`/healthz, Redis hung: ${early.ms.toFixed(0)} ms before the hang was noticed (${early.reason}), ${late.ms.toFixed(0)} ms after (${late.reason}); hang noticed after ${detectedMs.toFixed(0)} ms (heartbeat ${HEARTBEAT_MS} ms); the edit made during the hang reached a's client ${resyncMs.toFixed(0)} ms after the restore`)
  })
})
