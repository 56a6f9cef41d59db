/**
 * Version history in a cluster: two servers sharing the real Redis and the
 * real Postgres (a schema and a key prefix of their own), stock clients on
 * each. Versions made on one are listed on the other, a restore through one
 * reaches the clients of both, and automatic versions are recorded once for
 * the cluster with the authors from both instances.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import type { ServerOptions } from '../src/index.js'
import { signToken } from '../src/auth.js'
import { testScope, until, type Running } from './helpers.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const SECRET = 'history-cluster-secret-long-enough'
const RUN = randomBytes(4).toString('hex')
const schemas: string[] = []

afterAll(async () => {
  const c = new pg.Client({ connectionString: DATABASE_URL })
  await c.connect()
  try {
    for (const schema of schemas) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await c.end()
  }
})

const { serve, open } = testScope()

/** Two instances on one fresh schema and key prefix. */
async function cluster (options: ServerOptions = {}): Promise<[Running, Running]> {
  const schema = `hc_${RUN}_${schemas.length}`
  schemas.push(schema)
  const shared: ServerOptions = {
    persistence: 'postgres',
    databaseUrl: DATABASE_URL,
    databaseSchema: schema,
    redisUrl: REDIS_URL,
    redisKeyPrefix: `tandem-test:${schema}:`,
    ...options
  }
  // One after the other: both migrate the same schema.
  const a = await serve(shared)
  const b = await serve(shared)
  return [a, b]
}

/** A count of `tandem_versions_total` on one instance. */
async function counted (running: Running, outcome: string): Promise<number> {
  const text = await (await fetch(`${running.http}/metrics`)).text()
  const m = new RegExp(`tandem_versions_total\\{kind="auto",outcome="${outcome}"\\} (\\d+)`).exec(text)
  return m === null ? 0 : Number(m[1])
}

async function versions (running: Running, doc: string, token?: string): Promise<any[]> {
  const res = await fetch(`${running.http}/docs/${encodeURIComponent(doc)}/versions${token === undefined ? '' : `?token=${token}`}`)
  return res.status === 200 ? (await res.json()).versions : []
}

describe('version history in a cluster', () => {
  it('lists a version made on one instance on the other, and a restore through one reaches the clients of both', async () => {
    const [a, b] = await cluster()
    const onA = open(a.url, 'cluster/doc')
    const onB = open(b.url, 'cluster/doc')
    await Promise.all([onA.synced(), onB.synced()])
    onA.doc.getText('text').insert(0, 'Written on A, kept in the version.')
    onA.doc.getMap('map').set('where', 'A')
    await until(() => onB.doc.getText('text').length > 0, 'B to receive the text')
    const made = await fetch(`${a.http}/docs/cluster%2Fdoc/versions`, { method: 'POST', body: '{"label":"from A"}' })
    expect(made.status).toBe(201)
    const version = await made.json()
    expect((await versions(b, 'cluster/doc')).map((v) => v.id)).toEqual([version.id])
    expect(await (await fetch(`${b.http}/docs/cluster%2Fdoc/versions/${version.id as string}?format=json`)).json())
      .toEqual({ text: 'Written on A, kept in the version.', map: { where: 'A' } })

    onB.doc.getText('text').delete(0, 13)
    onB.doc.getMap('map').set('where', 'B')
    await until(() => onA.doc.getMap('map').get('where') === 'B', 'A to receive the edit')

    // Restored through B: clients on both instances show the version.
    const restored = await fetch(`${b.http}/docs/cluster%2Fdoc/versions/${version.id as string}/restore`, { method: 'POST' })
    expect(restored.status).toBe(200)
    for (const c of [onA, onB]) {
      await until(() => c.doc.getText('text').toString() === 'Written on A, kept in the version.' && c.doc.getMap('map').get('where') === 'A', 'every client to show the restored version')
    }
    const { backup } = await restored.json()
    expect((await versions(a, 'cluster/doc')).map((v) => v.id)).toEqual([backup.id, version.id])
  })

  it('records an automatic version once for the cluster, with the authors of both instances', async () => {
    const [a, b] = await cluster({ authSecret: SECRET, historyIdleMs: 1000 })
    const alice = await signToken(SECRET, { sub: 'alice', docs: { '*': 'write' } })
    const bob = await signToken(SECRET, { sub: 'bob', docs: { '*': 'write' } })
    const onA = open(a.url, 'cluster/auto', { token: alice })
    const onB = open(b.url, 'cluster/auto', { token: bob })
    await Promise.all([onA.synced(), onB.synced()])
    onA.doc.getText('text').insert(0, 'alice on A. ')
    onB.doc.getText('text').insert(0, 'bob on B. ')
    await until(async () => (await versions(a, 'cluster/auto', alice)).length > 0, 'an automatic version', 10_000)
    // Both instances saw the changes and were due; give the second one time to try.
    await new Promise((resolve) => setTimeout(resolve, 2500))
    const listed = await versions(b, 'cluster/auto', bob)
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({ kind: 'auto', authors: ['alice', 'bob'] })
    // The other instance tried too and found the version already there.
    expect(await counted(a, 'added') + await counted(b, 'added')).toBe(1)
    expect(await counted(a, 'unchanged') + await counted(b, 'unchanged')).toBeGreaterThanOrEqual(1)
  })

  it('records one automatic version per interval for the cluster while edits go on everywhere', async () => {
    const [a, b] = await cluster({ historyIdleMs: 60_000, historyMaxIntervalMs: 1000 })
    const onA = open(a.url, 'cluster/busy')
    const onB = open(b.url, 'cluster/busy')
    await Promise.all([onA.synced(), onB.synced()])
    const started = Date.now()
    // Both instances get local edits without pause for 3.5 s.
    for (let i = 0; Date.now() - started < 3500; i++) {
      ;(i % 2 === 0 ? onA : onB).doc.getArray('array').push([i])
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    const listed = await versions(a, 'cluster/busy')
    // One per interval (about 3), not one per instance per interval (about 6).
    expect(listed.length).toBeGreaterThanOrEqual(2)
    expect(listed.length).toBeLessThanOrEqual(4)
    const times = listed.map((v) => Date.parse(v.createdAt)).sort((x, y) => x - y)
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(500)
    // The other instance reached the same intervals and left them to the first.
    expect(await counted(a, 'recent') + await counted(b, 'recent')).toBeGreaterThanOrEqual(1)
  })
})
