/**
 * `PATCH /docs/:name` (JSON Patch over HTTP) and the server-side document
 * API, with stock providers connected and real storage: changes reach the
 * clients, survive kill -9, and errors change nothing.
 */
import { describe, expect, it } from 'vitest'
import { signToken } from '../src/auth.js'
import { spawnCli, tempDir, testScope, until, within } from './helpers.js'

const SECRET = 'a-test-secret-of-sufficient-length'
const scope = testScope()

function patch (http: string, doc: string, operations: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${http}/docs/${encodeURIComponent(doc)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json-patch+json', ...headers },
    body: typeof operations === 'string' ? operations : JSON.stringify(operations)
  })
}

async function stored (http: string, doc: string): Promise<Uint8Array> {
  const res = await fetch(`${http}/docs/${encodeURIComponent(doc)}`)
  return new Uint8Array(await res.arrayBuffer())
}

async function json (http: string, doc: string): Promise<unknown> {
  return (await fetch(`${http}/docs/${encodeURIComponent(doc)}?format=json`)).json()
}

describe('PATCH /docs/:name', () => {
  it('creates roots, edits maps, arrays and plain values inside them, and relays every change to connected clients', async () => {
    const running = await scope.serve()
    const c = scope.open(running.url, 'tasks')
    await c.synced()
    let res = await patch(running.http, 'tasks', [
      { op: 'add', path: '/meta', value: { title: 'Sprint' } },
      { op: 'add', path: '/tasks', value: [{ name: 'write', done: false }] },
      { op: 'add', path: '/notes', value: 'hello' }
    ])
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ stored: true, doc: 'tasks' })
    await until(() => c.doc.getArray('tasks').length === 1 && c.doc.getText('notes').toString() === 'hello' && c.doc.getMap('meta').get('title') === 'Sprint', 'the client to see the roots')
    res = await patch(running.http, 'tasks', [
      { op: 'add', path: '/tasks/-', value: { name: 'test', done: false } },
      { op: 'replace', path: '/tasks/0/done', value: true },
      { op: 'replace', path: '/meta/title', value: 'Sprint 2' },
      { op: 'remove', path: '/meta/missing-is-an-error' }
    ])
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body.error.code).toBe('PATCH_INVALID')
    expect(body.error.index).toBe(3)
    res = await patch(running.http, 'tasks', [
      { op: 'add', path: '/tasks/-', value: { name: 'test', done: false } },
      { op: 'replace', path: '/tasks/0/done', value: true },
      { op: 'replace', path: '/meta/title', value: 'Sprint 2' }
    ])
    expect(res.status).toBe(200)
    await until(() => c.doc.getArray('tasks').length === 2, 'the client to see the edited array')
    expect(c.doc.getArray('tasks').toJSON()).toEqual([{ name: 'write', done: true }, { name: 'test', done: false }])
    expect(c.doc.getMap('meta').get('title')).toBe('Sprint 2')
    expect(await json(running.http, 'tasks')).toEqual({ meta: { title: 'Sprint 2' }, tasks: [{ name: 'write', done: true }, { name: 'test', done: false }], notes: 'hello' })
  })

  it('changes nothing on a failing test (409) or a bad path (422), byte for byte, and applies with a passing test', async () => {
    const running = await scope.serve()
    expect((await patch(running.http, 'cond', [{ op: 'add', path: '/m', value: { version: 1, a: 'x' } }])).status).toBe(200)
    const before = await stored(running.http, 'cond')
    const failed = await patch(running.http, 'cond', [{ op: 'replace', path: '/m/a', value: 'y' }, { op: 'test', path: '/m/version', value: 2 }])
    expect(failed.status).toBe(409)
    expect((await failed.json()).error.code).toBe('PATCH_TEST_FAILED')
    const bad = await patch(running.http, 'cond', [{ op: 'replace', path: '/m/a', value: 'y' }, { op: 'add', path: '/m/a/b/c', value: 1 }])
    expect(bad.status).toBe(422)
    expect(Buffer.compare(Buffer.from(await stored(running.http, 'cond')), Buffer.from(before))).toBe(0)
    const ok = await patch(running.http, 'cond', [{ op: 'test', path: '/m/version', value: 1 }, { op: 'replace', path: '/m/a', value: 'y' }])
    expect(ok.status).toBe(200)
    expect(await json(running.http, 'cond')).toEqual({ m: { version: 1, a: 'y' } })
  })

  it('replaces text by its difference, so an offline client\'s insert stays where its author put it', async () => {
    const running = await scope.serve()
    const online = scope.open(running.url, 'fox')
    await online.synced()
    online.doc.getText('text').insert(0, 'The quick brown fox')
    const offline = scope.open(running.url, 'fox')
    await until(() => offline.doc.getText('text').toString() === 'The quick brown fox', 'the offline client to have the text')
    offline.provider.disconnect()
    offline.doc.getText('text').insert(4, 'very ')
    const res = await patch(running.http, 'fox', [{ op: 'replace', path: '/text', value: 'The quick red fox' }])
    expect(res.status).toBe(200)
    await until(() => online.doc.getText('text').toString() === 'The quick red fox', 'the online client to see the patch')
    offline.provider.connect()
    await until(() => offline.doc.getText('text').toString() === 'The very quick red fox' && online.doc.getText('text').toString() === 'The very quick red fox', 'both to merge')
  })

  it('answers 400 to malformed JSON, 415 to another content type, 403 to a read grant, 413 to an oversized body', async () => {
    const running = await scope.serve({ authSecret: SECRET, maxMessageBytes: 4096 })
    const writer = await signToken(SECRET, { sub: 'w', docs: { d: 'write' } })
    const reader = await signToken(SECRET, { sub: 'r', docs: { d: 'read' } })
    const auth = (t: string) => ({ authorization: `Bearer ${t}` })
    expect((await patch(running.http, 'd', '[{"op": "add",', auth(writer))).status).toBe(400)
    const wrongType = await fetch(`${running.http}/docs/d`, { method: 'PATCH', headers: { 'content-type': 'application/json', ...auth(writer) }, body: '[]' })
    expect(wrongType.status).toBe(415)
    expect((await patch(running.http, 'd', [{ op: 'add', path: '/m', value: {} }], auth(reader))).status).toBe(403)
    expect((await patch(running.http, 'd', [{ op: 'add', path: '/m', value: { big: 'x'.repeat(8000) } }], auth(writer))).status).toBe(413)
    expect((await patch(running.http, 'd', [{ op: 'add', path: '/m', value: { small: 1 } }], auth(writer))).status).toBe(200)
  })

  it('bounds the operations of one patch', async () => {
    const running = await scope.serve({ maxPatchOperations: 10 })
    const ops = Array.from({ length: 11 }, (_, i) => ({ op: 'add', path: `/m/k${i}`, value: i }))
    const res = await patch(running.http, 'ops', [{ op: 'add', path: '/m', value: {} }, ...ops.slice(0, 9)])
    expect(res.status).toBe(200)
    const over = await patch(running.http, 'ops', ops)
    expect(over.status).toBe(422)
    expect((await over.json()).error.message).toMatch(/at most 10/)
  })

  it('keeps an acknowledged patch across kill -9', async () => {
    const dir = await tempDir()
    scope.defer(() => dir.remove())
    const first = await spawnCli(['--data', dir.path])
    scope.defer(() => { first.child.kill('SIGKILL') })
    const watcher = scope.open(first.url, 'durable')
    await watcher.synced()
    const res = await patch(first.http, 'durable', [{ op: 'add', path: '/items', value: ['a', 'b'] }, { op: 'add', path: '/title', value: 'kept' }])
    expect(res.status).toBe(200)
    first.child.kill('SIGKILL')
    await first.exited
    const second = await spawnCli(['--data', dir.path])
    scope.defer(async () => { second.child.kill('SIGTERM'); await second.exited })
    expect(await json(second.http, 'durable')).toEqual({ items: ['a', 'b'], title: 'kept' })
  })
})

describe('server-side document API', () => {
  it('opens a document beside the clients, changes it durably, and unloads it once released', async () => {
    const running = await scope.serve()
    const c = scope.open(running.url, 'bot-doc')
    await c.synced()
    const handle = await running.server.openDocument('bot-doc')
    c.doc.getArray<string>('lines').push(['from the client'])
    await until(() => handle.doc.getArray('lines').length === 1, 'the handle to see the client\'s edit')
    await within(handle.change((doc) => { doc.getArray<string>('lines').push(['from the host']) }), 'the change to be stored')
    // Stored before it resolved, and relayed.
    expect(JSON.stringify(await json(running.http, 'bot-doc'))).toContain('from the host')
    await until(() => c.doc.getArray('lines').length === 2, 'the client to see the host\'s change')
    c.destroy()
    handle.release()
    handle.release()
    await until(async () => (await (await fetch(`${running.http}/healthz`)).json()).rooms === 0, 'the room to unload')
    await expect(handle.change(() => {})).rejects.toThrow(/released/)
  })

  it('refuses a change that would grow the document past its limit, and an invalid name', async () => {
    const running = await scope.serve({ maxDocumentBytes: 2048 })
    const handle = await running.server.openDocument('small')
    await handle.change((doc) => { doc.getText('t').insert(0, 'x'.repeat(3000)) })
    await expect(handle.change((doc) => { doc.getText('t').insert(0, 'y') })).rejects.toThrow(/grow past 2048/)
    handle.release()
    await expect(running.server.openDocument('')).rejects.toThrow(/empty/)
  })
})
