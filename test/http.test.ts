/**
 * The HTTP API over real HTTP against a real server: status codes, auth,
 * bodies that reproduce the document in a fresh Y.Doc, metrics that move.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { signToken } from '../src/auth.js'
import { MemoryPersistence } from '../persistence/memory.js'
import { StorageError } from '../persistence/types.js'
import { testScope, until, type Running } from './helpers.js'

const SECRET = 'http-test-secret-long-enough'
const { serve, open, defer } = testScope()
const metric = async (running: Running, pattern: RegExp): Promise<number> => {
  const text = await (await fetch(`${running.http}/metrics`)).text()
  const m = pattern.exec(text)
  return m === null ? 0 : Number(m[1])
}

describe('HTTP API', () => {
  it('GET /healthz reports status, version and uptime; 503 when storage is unreachable', async () => {
    class Unreachable extends MemoryPersistence {
      down = false
      override async check () { if (this.down) throw new StorageError('connection refused') }
    }
    const storage = new Unreachable()
    const running = await serve({ persistence: storage })
    const ok = await fetch(`${running.http}/healthz`)
    expect(ok.status).toBe(200)
    const body = await ok.json()
    expect(body).toMatchObject({ status: 'ok', version: '0.1.0' })
    expect(typeof body.uptimeSec).toBe('number')
    storage.down = true
    const degraded = await fetch(`${running.http}/healthz`)
    expect(degraded.status).toBe(503)
    expect(await degraded.json()).toMatchObject({ status: 'degraded', reason: expect.stringContaining('connection refused') })
  })

  it('GET /docs/:name returns the doc as one update (404 if never written) and ?format=json', async () => {
    const running = await serve()
    expect((await fetch(`${running.http}/docs/nothing-here`)).status).toBe(404)
    const a = open(running.url, 'reports/q1')
    await a.synced()
    a.doc.getText('title').insert(0, 'Q1')
    a.doc.getMap('meta').set('owner', 'ann')
    a.doc.getArray('rows').push([1, 2, 3])
    await until(async () => (await fetch(`${running.http}/docs/reports%2Fq1`)).status === 200, 'the doc to be readable')
    const res = await fetch(`${running.http}/docs/reports%2Fq1`)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, new Uint8Array(await res.arrayBuffer()))
    expect(fresh.getText('title').toString()).toBe('Q1')
    expect(fresh.getMap('meta').get('owner')).toBe('ann')
    const json = await (await fetch(`${running.http}/docs/reports%2Fq1?format=json`)).json()
    expect(json).toEqual({ title: 'Q1', meta: { owner: 'ann' }, rows: [1, 2, 3] })
    expect((await fetch(`${running.http}/docs/reports%2Fq1?format=yaml`)).status).toBe(400)
  })

  it('POST /docs/:name/update applies, stores and relays; rejects bad and oversized bodies', async () => {
    const storage = new MemoryPersistence()
    const running = await serve({ persistence: storage, maxMessageBytes: 64 * 1024 })
    const listener = open(running.url, 'posted')
    await listener.synced()
    const source = new Y.Doc()
    source.getText('text').insert(0, 'from http')
    const res = await fetch(`${running.http}/docs/posted/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })
    expect(res.status).toBe(200)
    await until(() => listener.doc.getText('text').toString() === 'from http', 'the listener to receive the posted update')
    const stored = new Y.Doc()
    for (const row of await storage.load('posted')) Y.applyUpdate(stored, row)
    expect(stored.getText('text').toString()).toBe('from http')
    const bad = await fetch(`${running.http}/docs/posted/update`, { method: 'POST', body: new Uint8Array([9, 9, 9, 9, 9]) })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.code).toBe('UPDATE_INVALID')
    const big = await fetch(`${running.http}/docs/posted/update`, { method: 'POST', body: new Uint8Array(128 * 1024) })
    expect(big.status).toBe(413)
    expect((await fetch(`${running.http}/docs/posted/update`, { method: 'PUT' })).status).toBe(405)
    expect(listener.doc.getText('text').toString()).toBe('from http')
  })

  it('GET /docs/:name/presence lists the awareness states', async () => {
    const running = await serve()
    const a = open(running.url, 'room/presence')
    await a.synced()
    a.provider.awareness.setLocalStateField('user', { name: 'ann' })
    await until(async () => {
      const list = await (await fetch(`${running.http}/docs/room%2Fpresence/presence`)).json()
      return list.some((p: { clientId: number; state: { user?: { name: string } } }) => p.clientId === a.doc.clientID && p.state.user?.name === 'ann')
    }, 'ann in the presence list')
  })

  it('DELETE /docs/:name closes its connections (4410) and removes it; GET /docs pages through names', async () => {
    const storage = new MemoryPersistence()
    const running = await serve({ persistence: storage, authSecret: SECRET })
    const admin = await signToken(SECRET, { sub: 'admin', docs: { '*': 'write' } })
    const user = await signToken(SECRET, { sub: 'u', docs: { 'd*': 'write' } })
    const auth = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } })
    for (const name of ['d1', 'd2', 'd3', 'd4', 'd5']) {
      const doc = new Y.Doc()
      doc.getText('text').insert(0, name)
      expect((await fetch(`${running.http}/docs/${name}/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(doc)), ...auth(user) })).status).toBe(200)
    }
    expect((await fetch(`${running.http}/docs`, auth(user))).status).toBe(403)
    const page1 = await (await fetch(`${running.http}/docs?limit=2`, auth(admin))).json()
    expect(page1).toEqual({ docs: ['d1', 'd2'], next: 'd2' })
    const page3 = await (await fetch(`${running.http}/docs?limit=2&after=d4`, auth(admin))).json()
    expect(page3).toEqual({ docs: ['d5'], next: null })

    const c = open(running.url, 'd3', { token: user })
    await c.synced()
    const closes: number[] = []
    c.provider.on('connection-close', (event: { code: number } | null) => { if (event !== null) closes.push(event.code) })
    expect((await fetch(`${running.http}/docs/d3`, { method: 'DELETE', ...auth(user) })).status).toBe(403)
    const del = await fetch(`${running.http}/docs/d3`, { method: 'DELETE', ...auth(admin) })
    expect(del.status).toBe(200)
    await until(() => closes.length > 0, 'the connection to be closed')
    expect(closes[0]).toBe(4410)
    c.destroy()
    expect(await storage.load('d3')).toEqual([])
    expect((await (await fetch(`${running.http}/docs`, auth(admin))).json()).docs).toEqual(['d1', 'd2', 'd4', 'd5'])
    expect((await fetch(`${running.http}/docs/d3`, auth(admin))).status).toBe(404)
  })

  it('GET /metrics changes as clients connect and edit', async () => {
    const running = await serve()
    const res = await fetch(`${running.http}/metrics`)
    expect(res.headers.get('content-type')).toMatch(/text\/plain/)
    expect(await metric(running, /^tandem_connections (\d+)/m)).toBe(0)
    const a = open(running.url, 'metered')
    const b = open(running.url, 'metered')
    await Promise.all([a.synced(), b.synced()])
    expect(await metric(running, /^tandem_connections (\d+)/m)).toBe(2)
    expect(await metric(running, /^tandem_rooms_loaded (\d+)/m)).toBe(1)
    a.doc.getText('text').insert(0, 'x')
    await until(() => b.doc.getText('text').toString() === 'x', 'the edit')
    expect(await metric(running, /^tandem_updates_applied_total\{origin="connection"\} (\d+)/m)).toBeGreaterThanOrEqual(1)
    expect(await metric(running, /^tandem_storage_write_seconds_count (\d+)/m)).toBeGreaterThanOrEqual(1)
    expect(await metric(running, /^tandem_messages_in_total\{type="sync-update"\} (\d+)/m)).toBeGreaterThanOrEqual(1)
    expect(await metric(running, /^tandem_bytes_out_total (\d+)/m)).toBeGreaterThan(0)
    expect(await metric(running, /^tandem_process_resident_memory_bytes (\d+)/m)).toBeGreaterThan(0)
    a.destroy()
    await until(async () => await metric(running, /^tandem_connections (\d+)/m) === 1, 'the gauge to drop')
    expect(await metric(running, /^tandem_closes_total\{code="\d+"\} (\d+)/m)).toBeGreaterThanOrEqual(1)
  })

  it('answers unknown routes with a JSON 404', async () => {
    const running = await serve()
    const res = await fetch(`${running.http}/nope`)
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('NOT_FOUND')
  })
})

describe('webhooks', () => {
  it('POSTs {doc, updatedAt} to --webhook-url after a document changes, signed', async () => {
    const { createServer: createHttp } = await import('node:http')
    const { createHmac } = await import('node:crypto')
    const received: Array<{ body: string; signature: string | undefined }> = []
    const receiver = createHttp((req, res) => {
      let body = ''
      req.on('data', (c) => { body += c })
      req.on('end', () => {
        received.push({ body, signature: req.headers['x-tandem-signature'] as string | undefined })
        res.writeHead(204)
        res.end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    defer(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
    const port = (receiver.address() as import('node:net').AddressInfo).port
    const running = await serve({ webhookUrl: `http://127.0.0.1:${port}/hook`, webhookSecret: 'hook-secret' })
    const a = open(running.url, 'hooked/doc')
    await a.synced()
    a.doc.getText('text').insert(0, 'x')
    a.doc.getText('text').insert(0, 'y')
    // Debounced per document (2 s by default): one notification for the burst.
    await until(() => received.length >= 1, 'the webhook to arrive', 10_000)
    const { body, signature } = received[0]
    expect(JSON.parse(body)).toMatchObject({ doc: 'hooked/doc' })
    expect(Number.isNaN(Date.parse(JSON.parse(body).updatedAt))).toBe(false)
    expect(signature).toBe(`sha256=${createHmac('sha256', 'hook-secret').update(body).digest('hex')}`)
    expect(received.length).toBe(1)
  })
})
