/**
 * Version history through the HTTP API of a real server on real LevelDB and
 * real Postgres, with stock y-websocket providers: named versions, restore
 * seen by connected clients, undo by the backup, offline edits merging on top
 * of a restore, automatic versions with their authors, grants, deletion.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { ServerOptions } from '../src/index.js'
import { signToken } from '../src/auth.js'
import { fetchDoc, tempDir, testScope, until, type Client, type Running } from './helpers.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SECRET = 'history-test-secret-long-enough'
const schemaPrefix = `h_${randomBytes(4).toString('hex')}`
const schemas: string[] = []

afterAll(async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
})

const { serve, open, defer } = testScope()

/** Server options for a fresh, empty store of each kind. */
const STORAGES: Array<[string, () => Promise<ServerOptions>]> = [
  ['leveldb', async () => {
    const dir = await tempDir('tandem-history-')
    defer(() => dir.remove())
    return { persistence: 'leveldb', dataDir: dir.path }
  }],
  ['postgres', async () => {
    const schema = `${schemaPrefix}_${schemas.length}`
    schemas.push(schema)
    return { persistence: 'postgres', databaseUrl: DATABASE_URL, databaseSchema: schema }
  }]
]

interface Api {
  list: (doc: string, query?: string) => Promise<{ status: number; body: any }>
  create: (doc: string, body?: unknown) => Promise<{ status: number; body: any }>
  json: (doc: string, id: string) => Promise<{ status: number; body: any }>
  restore: (doc: string, id: string) => Promise<{ status: number; body: any }>
}

function api (running: Running, token?: string): Api {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const call = async (method: string, path: string, body?: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${running.http}${path}`, { method, headers, body })
    const text = await res.text()
    return { status: res.status, body: text === '' ? null : JSON.parse(text) }
  }
  const doc = (name: string): string => `/docs/${encodeURIComponent(name)}`
  return {
    list: (name, query = '') => call('GET', `${doc(name)}/versions${query}`),
    create: (name, body) => call('POST', `${doc(name)}/versions`, body === undefined ? undefined : JSON.stringify(body)),
    json: (name, id) => call('GET', `${doc(name)}/versions/${id}?format=json`),
    restore: (name, id) => call('POST', `${doc(name)}/versions/${id}/restore`)
  }
}

/** Text, map and array content of a client's document. */
function contentOf (doc: Y.Doc): { text: string; map: unknown; array: unknown } {
  return { text: doc.getText('text').toString(), map: doc.getMap('map').toJSON(), array: doc.getArray('array').toJSON() }
}

/** Counts the provider's disconnects, to show a restore needs none. */
function disconnects (c: Client): () => number {
  let n = 0
  c.provider.on('status', ({ status }: { status: string }) => { if (status === 'disconnected') n++ })
  return () => n
}

describe.each(STORAGES)('version history on %s', (_kind, storage) => {
  it('keeps the content of named versions while the document changes', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const a = open(running.url, 'notes/plan')
    const b = open(running.url, 'notes/plan')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'Draft one')
    a.doc.getMap('map').set('status', 'draft')
    await until(() => b.doc.getText('text').toString() === 'Draft one', 'b to see the draft')
    const first = await http.create('notes/plan', { label: 'first draft' })
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ label: 'first draft', kind: 'named', authors: [] })
    expect(first.body.bytes).toBeGreaterThan(0)

    b.doc.getText('text').delete(0, 5)
    b.doc.getText('text').insert(0, 'Final')
    b.doc.getMap('map').set('status', 'final')
    await until(() => a.doc.getText('text').toString() === 'Final one', 'a to see the edit')
    const second = await http.create('notes/plan', {})
    expect(second.status).toBe(201)
    expect(second.body.label).toBeNull()
    a.doc.getText('text').insert(0, 'Later: ')

    const listed = await http.list('notes/plan')
    expect(listed.status).toBe(200)
    expect(listed.body.versions.map((v: any) => v.id)).toEqual([second.body.id, first.body.id])
    expect(listed.body.next).toBeNull()
    expect((await http.json('notes/plan', first.body.id)).body).toEqual({ text: 'Draft one', map: { status: 'draft' } })
    expect((await http.json('notes/plan', second.body.id)).body).toEqual({ text: 'Final one', map: { status: 'final' } })
    // The binary form is the whole document as of the version.
    const res = await fetch(`${running.http}/docs/notes%2Fplan/versions/${first.body.id}`)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    const doc = new Y.Doc()
    Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
    expect(doc.getText('text').toString()).toBe('Draft one')
    // The JSON of a version has the shape of GET /docs/:name?format=json.
    await until(async () => (await fetchDoc(running.http, 'notes/plan')).getText('text').toString() === 'Later: Final one', 'the last edit to be stored')
    const live = await (await fetch(`${running.http}/docs/notes%2Fplan?format=json`)).json()
    expect(Object.keys(live).sort()).toEqual(Object.keys((await http.json('notes/plan', first.body.id)).body).sort())
  })

  it('restores text, map and array for every connected client, and the backup undoes it', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const a = open(running.url, 'restore/me')
    const b = open(running.url, 'restore/me')
    await Promise.all([a.synced(), b.synced()])
    a.doc.transact(() => {
      a.doc.getText('text').insert(0, 'The quick brown fox jumps over the lazy dog')
      a.doc.getMap('map').set('title', 'Plan')
      a.doc.getMap('map').set('owner', 'ann')
      a.doc.getArray('array').push([1, 2, 3])
    })
    await until(() => b.doc.getArray('array').length === 3, 'b to sync')
    const version = await http.create('restore/me', { label: 'good' })
    const wanted = contentOf(a.doc)

    // Someone deletes a section and changes everything else.
    a.doc.getText('text').delete(4, 16)
    a.doc.getMap('map').set('title', 'Changed')
    a.doc.getMap('map').delete('owner')
    b.doc.getArray('array').delete(0, 1)
    b.doc.getArray('array').push([4])
    b.doc.getMap('map').set('extra', true)
    await until(() => JSON.stringify(contentOf(a.doc)) === JSON.stringify(contentOf(b.doc)) && b.doc.getText('text').length === 27, 'the clients to converge')
    const before = contentOf(a.doc)
    const dropsA = disconnects(a)
    const dropsB = disconnects(b)

    const restored = await http.restore('restore/me', version.body.id)
    expect(restored.status).toBe(200)
    expect(restored.body.restored).toBe(version.body.id)
    expect(restored.body.backup).toMatchObject({ kind: 'backup', label: null })
    // Both clients show the version, deleted text included, without reconnecting.
    await until(() => JSON.stringify(contentOf(a.doc)) === JSON.stringify(wanted), 'a to show the restored version')
    await until(() => JSON.stringify(contentOf(b.doc)) === JSON.stringify(wanted), 'b to show the restored version')
    expect(a.doc.getText('text').toString()).toBe('The quick brown fox jumps over the lazy dog')
    expect(contentOf(await fetchDoc(running.http, 'restore/me'))).toEqual(wanted)
    expect(dropsA() + dropsB()).toBe(0)

    // The backup holds the state before the restore; restoring it undoes the restore.
    expect((await http.json('restore/me', restored.body.backup.id)).body).toEqual(before)
    const undo = await http.restore('restore/me', restored.body.backup.id)
    expect(undo.status).toBe(200)
    await until(() => JSON.stringify(contentOf(a.doc)) === JSON.stringify(before), 'a to show the state before the restore')
    await until(() => JSON.stringify(contentOf(b.doc)) === JSON.stringify(before), 'b to show the state before the restore')
    const kinds = (await http.list('restore/me')).body.versions.map((v: any) => v.kind)
    expect(kinds).toEqual(['backup', 'backup', 'named'])
  })

  it('merges the edits of a client that was offline during a restore on top of it', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const online = open(running.url, 'offline/merge')
    const offline = open(running.url, 'offline/merge')
    await Promise.all([online.synced(), offline.synced()])
    online.doc.getText('text').insert(0, 'alpha beta gamma delta')
    online.doc.getMap('map').set('a', 1)
    await until(() => offline.doc.getText('text').length === 22, 'the second client to sync')
    const version = await http.create('offline/merge', { label: 'before the mistake' })
    online.doc.getText('text').delete(6, 5) // "beta "
    await until(() => offline.doc.getText('text').toString() === 'alpha gamma delta', 'the deletion to reach the second client')

    // The second client goes offline and keeps writing.
    offline.provider.disconnect()
    offline.doc.getText('text').insert('alpha gamma'.length, ' (offline)')
    offline.doc.getMap('map').set('offline', true)
    const restored = await http.restore('offline/merge', version.body.id)
    expect(restored.status).toBe(200)
    await until(() => online.doc.getText('text').toString() === 'alpha beta gamma delta', 'the restore to reach the online client')

    offline.provider.connect()
    const merged = 'alpha beta gamma (offline) delta'
    await until(() => online.doc.getText('text').toString() === merged, 'the offline edit to merge for the online client', 10_000)
    await until(() => offline.doc.getText('text').toString() === merged, 'the restore to reach the returning client', 10_000)
    expect(online.doc.getMap('map').toJSON()).toEqual({ a: 1, offline: true })
    await until(async () => (await fetchDoc(running.http, 'offline/merge')).getText('text').toString() === merged, 'the merge to be stored')
  })

  it('takes automatic versions after idle with the authors of both writers, and none while idle', async () => {
    const running = await serve({ ...await storage(), authSecret: SECRET, historyIdleMs: 300 })
    const alice = await signToken(SECRET, { sub: 'alice', docs: { 'auto/*': 'write' } })
    const bob = await signToken(SECRET, { sub: 'bob', docs: { 'auto/*': 'write' } })
    const http = api(running, alice)
    const a = open(running.url, 'auto/doc', { token: alice })
    const b = open(running.url, 'auto/doc', { token: bob })
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'from alice ')
    b.doc.getText('text').insert(0, 'from bob ')
    await until(async () => (await http.list('auto/doc')).body?.versions?.length === 1, 'an automatic version', 10_000)
    const [first] = (await http.list('auto/doc')).body.versions
    expect(first).toMatchObject({ kind: 'auto', label: null, authors: ['alice', 'bob'] })
    expect((await http.json('auto/doc', first.id)).body.text).toContain('from alice')
    // Idle: no new versions.
    await new Promise((resolve) => setTimeout(resolve, 1200))
    expect((await http.list('auto/doc')).body.versions).toHaveLength(1)

    // Bob leaves; alice edits alone, and the version names only her.
    b.destroy()
    a.doc.getText('text').insert(0, 'again ')
    await until(async () => (await http.list('auto/doc')).body.versions.length === 2, 'a second automatic version', 10_000)
    expect((await http.list('auto/doc')).body.versions[0]).toMatchObject({ kind: 'auto', authors: ['alice'] })
  })

  it('takes the version of a document whose clients left before it was due, and the ones due at close', async () => {
    const options = { ...await storage(), historyIdleMs: 300 }
    const running = await serve(options)
    const http = api(running)
    const c = open(running.url, 'auto/left')
    await c.synced()
    c.doc.getText('text').insert(0, 'written then left')
    await until(async () => (await fetchDoc(running.http, 'auto/left')).getText('text').length > 0, 'the edit to be stored')
    c.destroy()
    await until(async () => (await http.list('auto/left')).body?.versions?.length === 1, 'the version of the unloaded document', 10_000)

    // A long idle period: the version is still due when the server closes.
    await running.server.close()
    const closing = await serve({ ...options, historyIdleMs: 60_000 })
    const source = new Y.Doc()
    source.getText('text').insert(0, 'due at close')
    expect((await fetch(`${closing.http}/docs/auto%2Fclose/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })).status).toBe(200)
    expect((await api(closing).list('auto/close')).body.versions).toEqual([])
    await closing.server.close()
    const again = await serve(options)
    const versions = (await api(again).list('auto/close')).body.versions
    expect(versions).toHaveLength(1)
    expect((await api(again).json('auto/close', versions[0].id)).body).toEqual({ text: 'due at close' })
  })

  it('lets read grants list and read versions but not create, restore or delete them', async () => {
    const running = await serve({ ...await storage(), authSecret: SECRET })
    const writer = await signToken(SECRET, { sub: 'w', docs: { 'grants/*': 'write' } })
    const reader = await signToken(SECRET, { sub: 'r', docs: { 'grants/*': 'read' } })
    const c = open(running.url, 'grants/doc', { token: writer })
    await c.synced()
    c.doc.getText('text').insert(0, 'x')
    await until(async () => (await fetch(`${running.http}/docs/grants%2Fdoc?token=${writer}`)).status === 200, 'the doc to exist')
    const version = await api(running, writer).create('grants/doc', { label: 'v' })
    expect(version.status).toBe(201)
    const r = api(running, reader)
    expect((await r.list('grants/doc')).status).toBe(200)
    expect((await r.json('grants/doc', version.body.id)).status).toBe(200)
    const forbidden = [
      await r.create('grants/doc', { label: 'no' }),
      await r.restore('grants/doc', version.body.id),
      { status: (await fetch(`${running.http}/docs/grants%2Fdoc/versions/${version.body.id}?token=${reader}`, { method: 'DELETE' })).status, body: null }
    ]
    expect(forbidden.map((f) => f.status)).toEqual([403, 403, 403])
    expect(forbidden[0].body.error.code).toBe('FORBIDDEN')
    expect((await api(running).list('grants/doc')).status).toBe(401)
    expect((await api(running, writer).list('grants/doc')).body.versions).toHaveLength(1)
    // A write grant deletes one version.
    const del = await fetch(`${running.http}/docs/grants%2Fdoc/versions/${version.body.id}?token=${writer}`, { method: 'DELETE' })
    expect(del.status).toBe(200)
    expect((await api(running, writer).list('grants/doc')).body.versions).toEqual([])
  })

  it('deletes the versions of a deleted document', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const source = new Y.Doc()
    source.getText('text').insert(0, 'doomed')
    await fetch(`${running.http}/docs/doomed/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })
    await fetch(`${running.http}/docs/kept/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })
    const doomed = await http.create('doomed', { label: 'a' })
    await http.create('kept', { label: 'b' })
    expect((await fetch(`${running.http}/docs/doomed`, { method: 'DELETE' })).status).toBe(200)
    expect((await http.list('doomed')).status).toBe(404)
    expect((await http.json('doomed', doomed.body.id)).status).toBe(404)
    expect((await http.list('kept')).body.versions).toHaveLength(1)
  })

  it('answers 404 for unknown documents and versions, 400 for bad labels, bodies and pages', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const source = new Y.Doc()
    source.getText('text').insert(0, 'x')
    await fetch(`${running.http}/docs/known/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })
    const unknownDoc = await http.list('unknown')
    expect(unknownDoc.status).toBe(404)
    expect(unknownDoc.body.error.code).toBe('NOT_FOUND')
    expect((await http.create('unknown', {})).status).toBe(404)
    expect((await http.list('known')).body).toEqual({ versions: [], next: null })
    expect((await http.json('known', '12345')).status).toBe(404)
    expect((await http.json('known', 'not-an-id')).status).toBe(404)
    expect((await http.restore('known', '12345')).status).toBe(404)
    expect((await fetch(`${running.http}/docs/known/versions/12345`, { method: 'DELETE' })).status).toBe(404)
    const long = await http.create('known', { label: 'x'.repeat(201) })
    expect(long.status).toBe(400)
    expect(long.body.error.code).toBe('LABEL_TOO_LONG')
    // 200 characters are fine, counted as characters (an emoji is one).
    expect((await http.create('known', { label: '🙂'.repeat(200) })).status).toBe(201)
    const notJson = await fetch(`${running.http}/docs/known/versions`, { method: 'POST', body: '{label' })
    expect(notJson.status).toBe(400)
    expect((await notJson.json()).error.code).toBe('BODY_INVALID')
    expect((await http.create('known', ['array'])).status).toBe(400)
    expect((await http.create('known', { label: 7 })).status).toBe(400)
    expect((await http.list('known', '?limit=0')).status).toBe(400)
    expect((await http.list('known', '?limit=1001')).status).toBe(400)
    expect((await fetch(`${running.http}/docs/known/versions/1?format=yaml`)).status).toBe(400)
  })

  it('pages through versions newest first', async () => {
    const running = await serve(await storage())
    const http = api(running)
    const c = open(running.url, 'paged')
    await c.synced()
    const ids: string[] = []
    for (let i = 0; i < 7; i++) {
      c.doc.getText('text').insert(0, `${i}`)
      await until(async () => (await fetchDoc(running.http, 'paged')).getText('text').length === i + 1, 'the edit to be stored')
      ids.push((await http.create('paged', { label: `v${i}` })).body.id)
    }
    const first = await http.list('paged', '?limit=3')
    expect(first.body.versions.map((v: any) => v.label)).toEqual(['v6', 'v5', 'v4'])
    const second = await http.list('paged', `?limit=3&after=${first.body.next}`)
    expect(second.body.versions.map((v: any) => v.label)).toEqual(['v3', 'v2', 'v1'])
    const third = await http.list('paged', `?limit=3&after=${second.body.next}`)
    expect(third.body).toEqual({ versions: [expect.objectContaining({ label: 'v0' })], next: null })
  })
})

describe('version routes and document names', () => {
  it('reads a document named x/versions with its slash encoded; /docs/x/versions lists the versions of x', async () => {
    const running = await serve()
    const source = new Y.Doc()
    source.getText('text').insert(0, 'a document named x/versions')
    expect((await fetch(`${running.http}/docs/x%2Fversions/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })).status).toBe(200)
    const doc = await fetchDoc(running.http, 'x/versions')
    expect(doc.getText('text').toString()).toBe('a document named x/versions')
    // Unencoded, the path names the versions of "x", which does not exist.
    expect((await fetch(`${running.http}/docs/x/versions`)).status).toBe(404)
    expect((await (await fetch(`${running.http}/docs/x%2Fversions/versions`)).json())).toEqual({ versions: [], next: null })
    expect((await fetch(`${running.http}/docs/x%2Fversions/versions`, { method: 'POST' })).status).toBe(201)
    expect((await (await fetch(`${running.http}/docs/x%2Fversions/versions`)).json()).versions).toHaveLength(1)
  })

  it('answers CORS preflights for allowed origins only', async () => {
    const running = await serve({ allowedOrigins: ['https://app.example.com'] })
    const preflight = (origin: string): Promise<Response> => fetch(`${running.http}/docs/a/versions`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }
    })
    const ok = await preflight('https://app.example.com')
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(ok.headers.get('access-control-allow-headers')).toContain('Authorization')
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull()
    const other = await preflight('https://evil.example.com')
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })
})
