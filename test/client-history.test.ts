/**
 * `client.history` (tandem/client) against a real server with auth: the
 * client's token is used, a restore reaches the client over its socket,
 * refusals come back as HistoryError with the server's code. Also the
 * library API, `server.history`.
 */
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { signToken } from '../src/auth.js'
import { connect, HistoryError, type ConnectOptions, type TandemClient } from '../src/client/index.js'
import { httpUrlOf } from '../src/client/history.js'
import { testScope, until } from './helpers.js'

const SECRET = 'client-history-secret-long-enough'
const { serve, defer } = testScope()

function open (options: ConnectOptions): TandemClient {
  const client = connect({ WebSocket: WebSocket as any, maxBackoffMs: 200, ...options })
  defer(() => client.destroy())
  return client
}

describe('client.history', () => {
  it('creates, lists, reads, restores and deletes versions with the client\'s token', async () => {
    const running = await serve({ authSecret: SECRET })
    const token = await signToken(SECRET, { sub: 'ada', docs: { 'notes/*': 'write' } })
    const client = open({ url: running.url, doc: 'notes/client', token })
    await client.synced()
    const text = client.doc.getText('text')
    text.insert(0, 'first words')
    await client.saved()

    const version = await client.history.create('first')
    expect(version).toMatchObject({ label: 'first', kind: 'named', authors: ['ada'] })
    text.delete(0, 6)
    text.insert(text.length, ' and more')
    await client.saved()

    expect((await client.history.list()).versions.map((v) => v.id)).toEqual([version.id])
    const preview = await client.history.doc(version.id)
    expect(preview.getText('text').toString()).toBe('first words')
    preview.destroy()
    expect(await client.history.json(version.id)).toEqual({ text: 'first words' })
    expect(new Uint8Array(await client.history.get(version.id)).byteLength).toBe(version.bytes)

    const { restored, backup } = await client.history.restore(version.id)
    expect(restored).toBe(version.id)
    expect(backup.kind).toBe('backup')
    // The restore reaches this client like any change.
    await until(() => text.toString() === 'first words', 'the client to show the restored text')
    const page = await client.history.list({ limit: 1 })
    expect(page.versions.map((v) => v.id)).toEqual([backup.id])
    expect(page.next).toBe(backup.id)
    expect((await client.history.list({ limit: 1, after: page.next! })).versions.map((v) => v.id)).toEqual([version.id])
    await client.history.delete(backup.id)
    expect((await client.history.list()).versions).toHaveLength(1)
  })

  it('throws HistoryError with the server\'s code and status', async () => {
    const running = await serve({ authSecret: SECRET })
    const reader = await signToken(SECRET, { sub: 'rita', docs: { 'notes/*': 'read' } })
    const writer = await signToken(SECRET, { sub: 'wes', docs: { 'notes/*': 'write' } })
    const w = open({ url: running.url, doc: 'notes/refused', token: writer })
    await w.synced()
    w.doc.getText('text').insert(0, 'x')
    await w.saved()
    const r = open({ url: running.url, doc: 'notes/refused', token: reader })
    await r.synced()
    const refused = await r.history.create('nope').catch((err: unknown) => err)
    expect(refused).toBeInstanceOf(HistoryError)
    expect(refused).toMatchObject({ code: 'FORBIDDEN', status: 403 })
    await expect(w.history.restore('424242')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 })
    await expect(w.history.create('x'.repeat(500))).rejects.toMatchObject({ code: 'LABEL_TOO_LONG', status: 400 })
    // A token refreshed in the provider's params is used from then on.
    w.provider.params.token = reader
    await expect(w.history.create('as reader now')).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it('maps WebSocket URLs to the HTTP base URL', () => {
    expect(httpUrlOf('ws://localhost:1234')).toBe('http://localhost:1234')
    expect(httpUrlOf('wss://collab.example.com/')).toBe('https://collab.example.com')
    expect(httpUrlOf('ws://host:1/prefix?x=1')).toBe('http://host:1/prefix')
  })
})

describe('server.history', () => {
  it('gives a host application the same operations', async () => {
    const running = await serve()
    const client = open({ url: running.url, doc: 'host/doc' })
    await client.synced()
    client.doc.getMap('map').set('k', 'v1')
    await client.saved()
    const { history } = running.server
    const version = await history.create('host/doc', { label: 'by the host', userId: 'host-app' })
    expect(version.label).toBe('by the host')
    client.doc.getMap('map').set('k', 'v2')
    await client.saved()
    expect((await history.list('host/doc')).versions).toHaveLength(1)
    const { update } = await history.get('host/doc', version.id)
    expect(update.byteLength).toBe(version.bytes)
    const { backup } = await history.restore('host/doc', version.id, { userId: 'host-app' })
    await until(() => client.doc.getMap('map').get('k') === 'v1', 'the client to see the restore')
    await history.delete('host/doc', backup.id)
    await expect(history.get('host/doc', backup.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(history.list('never/written')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(history.create('host/doc', { label: 'x'.repeat(201) })).rejects.toMatchObject({ code: 'LABEL_TOO_LONG' })
  })
})
