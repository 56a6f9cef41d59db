/**
 * A restore answered by the real CLI is stored: `kill -9` right after the
 * answer loses neither the restore nor its backup, on LevelDB and Postgres.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, fetchDoc, snapshot, spawnCli, tempDir, until } from './helpers.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = `hd_${randomBytes(4).toString('hex')}`

let dir: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => { dir = await tempDir('tandem-history-kill-') })
afterAll(async () => {
  await dir.remove()
  const c = new pg.Client({ connectionString: DATABASE_URL })
  await c.connect()
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)
  } finally {
    await c.end()
  }
})

const STORAGES: Array<[string, () => string[]]> = [
  ['leveldb', () => ['--data', `${dir.path}/data`]],
  ['postgres', () => ['--persistence', 'postgres', '--database-url', DATABASE_URL, '--database-schema', SCHEMA]]
]

describe.each(STORAGES)('a restore on the CLI with %s', (_kind, args) => {
  it('survives kill -9 right after the answer, and its backup too', async () => {
    const first = await spawnCli(args())
    const a = client(first.url, 'kill/restore')
    const b = client(first.url, 'kill/restore')
    await Promise.all([a.synced(), b.synced()])
    a.doc.transact(() => {
      a.doc.getText('text').insert(0, 'Keep this paragraph. Delete this one by mistake.')
      a.doc.getMap('map').set('status', 'good')
      a.doc.getArray('array').push(['x', 'y'])
    })
    await until(() => b.doc.getArray('array').length === 2, 'b to sync')
    const version = await (await fetch(`${first.http}/docs/kill%2Frestore/versions`, { method: 'POST', body: '{"label":"good"}' })).json()
    const wanted = snapshot(a.doc)
    b.doc.getText('text').delete(21, 27)
    b.doc.getMap('map').set('status', 'broken')
    b.doc.getArray('array').delete(0, 2)
    await until(() => a.doc.getArray('array').length === 0, 'a to see the mistake')
    const broken = snapshot(a.doc)

    const res = await fetch(`${first.http}/docs/kill%2Frestore/versions/${version.id as string}/restore`, { method: 'POST' })
    expect(res.status).toBe(200)
    const { backup } = await res.json()
    first.child.kill('SIGKILL')
    await first.exited
    a.destroy()
    b.destroy()

    const second = await spawnCli(args())
    try {
      expect(snapshot(await fetchDoc(second.http, 'kill/restore'))).toEqual(wanted)
      const listed = await (await fetch(`${second.http}/docs/kill%2Frestore/versions`)).json()
      expect(listed.versions.map((v: { id: string }) => v.id)).toEqual([backup.id, version.id])
      // The backup undoes the restore, after the restart too.
      const fresh = client(second.url, 'kill/restore')
      await fresh.synced()
      expect((await fetch(`${second.http}/docs/kill%2Frestore/versions/${backup.id as string}/restore`, { method: 'POST' })).status).toBe(200)
      await until(() => JSON.stringify(snapshot(fresh.doc)) === JSON.stringify(broken), 'the client to show the state before the restore')
      fresh.destroy()
    } finally {
      second.child.kill('SIGKILL')
      await second.exited
    }
  })
})
