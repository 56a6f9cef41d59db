/**
 * Auth and limits on a real server: decided at the upgrade with real HTTP
 * statuses, read-only connections never change anything, expiry closes live
 * sockets, awareness cannot be forged, and each limit closes with its code.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import WebSocket from 'ws'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { signToken, type Claims } from '../src/auth.js'
import { MemoryPersistence } from '../persistence/memory.js'
import { decodeMessage, encodeAwareness, encodeSyncStep1, encodeSyncUpdate } from '../src/protocol.js'
import { rawSocket, testScope, until, type Client } from './helpers.js'

const SECRET = 'a-test-secret-of-sufficient-length'
const scope = testScope()
const serve = scope.serve
const open = (url: string, room: string, token?: string): Client => scope.open(url, room, token === undefined ? undefined : { token })
const token = (claims: Claims, expiresIn?: number) => signToken(SECRET, claims, { expiresIn })

/** The HTTP status an upgrade is answered with (101 when it succeeds). */
function upgradeStatus (url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => { ws.close(); resolve(101) })
    ws.on('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode ?? 0) })
    ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
  })
}

/** An awareness frame for `clientId` whose clock is `clock`. */
function awarenessFromClock (clientId: number, state: Record<string, unknown>, clock: number): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, clientId)
  encoding.writeVarUint(e, clock)
  encoding.writeVarString(e, JSON.stringify(state))
  return encodeAwareness(encoding.toUint8Array(e))
}

function awarenessFrom (clientId: number, state: Record<string, unknown>): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = clientId
  const awareness = new awarenessProtocol.Awareness(doc)
  awareness.setLocalState(state)
  const update = awarenessProtocol.encodeAwarenessUpdate(awareness, [clientId])
  awareness.destroy()
  return encodeAwareness(update)
}

describe('authentication at the upgrade', () => {
  it('answers 401 without, with a bad or an expired token, 403 without a grant, 101 with one', async () => {
    const running = await serve({ authSecret: SECRET })
    const good = await token({ sub: 'alice', docs: { 'notes/*': 'write', lobby: 'read' } }, 60)
    const expired = await signToken(SECRET, { sub: 'alice', docs: { '*': 'write' }, exp: Math.floor(Date.now() / 1000) - 60 })
    const forged = await signToken('another-secret-of-enough-length', { sub: 'alice', docs: { '*': 'write' } })
    expect(await upgradeStatus(`${running.url}/notes/a`)).toBe(401)
    expect(await upgradeStatus(`${running.url}/notes/a?token=garbage`)).toBe(401)
    expect(await upgradeStatus(`${running.url}/notes/a?token=${forged}`)).toBe(401)
    expect(await upgradeStatus(`${running.url}/notes/a?token=${expired}`)).toBe(401)
    expect(await upgradeStatus(`${running.url}/secret?token=${good}`)).toBe(403)
    expect(await upgradeStatus(`${running.url}/notes/a?token=${good}`)).toBe(101)
    expect(await upgradeStatus(`${running.url}/lobby`, { Authorization: `Bearer ${good}` })).toBe(101)
    // The same rules on HTTP.
    expect((await fetch(`${running.http}/docs/notes%2Fa`)).status).toBe(401)
    expect((await fetch(`${running.http}/docs/secret?token=${good}`)).status).toBe(403)
    expect((await fetch(`${running.http}/docs/lobby/update?token=${good}`, { method: 'POST', body: new Uint8Array([0, 0]) })).status).toBe(403)
    const body = await (await fetch(`${running.http}/docs/secret?token=${good}`)).json()
    expect(body.error.code).toBe('FORBIDDEN')
  })

  it('lets a read grant sync and publish presence but never applies, stores or relays its updates', async () => {
    const storage = new MemoryPersistence()
    const running = await serve({ authSecret: SECRET, persistence: storage })
    const writerToken = await token({ sub: 'w', docs: { lobby: 'write' } })
    const readerToken = await token({ sub: 'r', docs: { lobby: 'read' } })
    const writer = open(running.url, 'lobby', writerToken)
    const reader = open(running.url, 'lobby', readerToken)
    await Promise.all([writer.synced(), reader.synced()])
    writer.doc.getText('text').insert(0, 'from writer')
    await until(() => reader.doc.getText('text').toString() === 'from writer', 'the reader to receive the writer\'s edit')
    reader.doc.getText('text').insert(0, 'from reader ')
    reader.provider.awareness.setLocalStateField('user', 'reader')
    await until(() => [...writer.provider.awareness.getStates().values()].some((s) => s.user === 'reader'), 'the writer to see the reader\'s presence')
    writer.doc.getText('text').insert(0, '!')
    await until(() => reader.doc.getText('text').toString().includes('!'), 'a later edit to arrive')
    expect(writer.doc.getText('text').toString()).toBe('!from writer')
    const rows = await storage.load('lobby')
    const stored = new Y.Doc()
    for (const row of rows) Y.applyUpdate(stored, row)
    expect(stored.getText('text').toString()).toBe('!from writer')
    const metrics = await (await fetch(`${running.http}/metrics`)).text()
    expect(metrics).toMatch(/tandem_updates_dropped_total\{reason="read-only"\} [1-9]/)
  })

  it('never asks a read-only client for what it holds, and asks a writer that holds something', async () => {
    const running = await serve({ authSecret: SECRET })
    const readerToken = await token({ sub: 'r', docs: { shelf: 'read' } })
    const writerToken = await token({ sub: 'w', docs: { shelf: 'write' } })
    // Both hold an offline edit: a non-empty state vector.
    const offline = new Y.Doc()
    offline.getText('text').insert(0, 'offline')
    const request = encodeSyncStep1(Y.encodeStateVector(offline))
    const reader = await rawSocket(`${running.url}/shelf?token=${readerToken}`)
    const writer = await rawSocket(`${running.url}/shelf?token=${writerToken}`)
    // Asked twice: the second answer comes after anything the first request caused.
    for (const ws of [reader, writer]) { ws.send(request); ws.send(request) }
    const types = (ws: typeof reader) => ws.frames.map((f) => decodeMessage(f).type)
    await until(() => types(reader).filter((t) => t === 'sync-step2').length === 2 && types(writer).filter((t) => t === 'sync-step2').length === 2, 'both answers to both')
    expect(types(reader)).toEqual(['sync-step2', 'sync-step2'])
    expect(types(writer)).toEqual(['sync-step1', 'sync-step2', 'sync-step2'])
    reader.close()
    writer.close()
  })

  it('closes a live connection with 4001 (which the stock client retries) when its token expires', async () => {
    const running = await serve({ authSecret: SECRET })
    const shortLived = await token({ sub: 'x', docs: { '*': 'write' } }, 2)
    const ws = await rawSocket(`${running.url}/expiring?token=${shortLived}`)
    const closed = await ws.closedWith
    expect(closed.code).toBe(4001)
  })

  it('uses the authenticate hook instead of JWT when given', async () => {
    const running = await serve({
      hooks: {
        authenticate: (req) => req.headers['x-session'] === 'ok'
          ? { userId: 'hooked', access: 'write' }
          : { reject: 401, message: 'no session' }
      }
    })
    expect(await upgradeStatus(`${running.url}/doc`)).toBe(401)
    expect(await upgradeStatus(`${running.url}/doc`, { 'x-session': 'ok' })).toBe(101)
  })
})

describe('awareness ownership', () => {
  it('drops entries for client ids another user announced', async () => {
    const running = await serve({ authSecret: SECRET })
    const aliceToken = await token({ sub: 'alice', docs: { owned: 'write' } })
    const malloryToken = await token({ sub: 'mallory', docs: { owned: 'write' } })
    const alice = open(running.url, 'owned', aliceToken)
    await alice.synced()
    alice.provider.awareness.setLocalStateField('user', 'alice')
    const watcher = open(running.url, 'owned', aliceToken)
    await watcher.synced()
    await until(() => watcher.provider.awareness.getStates().get(alice.doc.clientID)?.user === 'alice', 'the watcher to see alice')
    const attacker = await rawSocket(`${running.url}/owned?token=${malloryToken}`)
    // A newer clock than alice's, and a removal: both claims on an id mallory does not own.
    attacker.send(awarenessFromClock(alice.doc.clientID, { user: 'mallory' }, 10))
    const removal = encoding.createEncoder()
    encoding.writeVarUint(removal, 1)
    encoding.writeVarUint(removal, alice.doc.clientID)
    encoding.writeVarUint(removal, alice.provider.awareness.meta.get(alice.doc.clientID)?.clock ?? 1)
    encoding.writeVarString(removal, 'null')
    attacker.send(encodeAwareness(encoding.toUint8Array(removal)))
    attacker.send(awarenessFrom(777, { user: 'attacker-self' }))
    await until(() => watcher.provider.awareness.getStates().get(777)?.user === 'attacker-self', 'the attacker\'s own state')
    expect(watcher.provider.awareness.getStates().get(alice.doc.clientID)?.user).toBe('alice')
    const metrics = await (await fetch(`${running.http}/metrics`)).text()
    expect(metrics).toMatch(/tandem_awareness_forged_total 2/)
    attacker.close()
  })

  it('lets the same user take over its client id from a socket not yet known dead', async () => {
    const running = await serve({ authSecret: SECRET, pingIntervalMs: 60_000 })
    const bobToken = await token({ sub: 'bob', docs: { flap: 'write' } })
    const watcher = open(running.url, 'flap', bobToken)
    await watcher.synced()
    // The old socket stays open on the server (it answers pings), as after a network flap.
    const old = await rawSocket(`${running.url}/flap?token=${bobToken}`)
    old.send(awarenessFrom(4242, { user: 'bob-old' }))
    await until(() => watcher.provider.awareness.getStates().get(4242)?.user === 'bob-old', 'the first announcement')
    const fresh = await rawSocket(`${running.url}/flap?token=${bobToken}`)
    // A newer clock than the first announcement.
    fresh.send(awarenessFromClock(4242, { user: 'bob-new' }, 5))
    await until(() => watcher.provider.awareness.getStates().get(4242)?.user === 'bob-new', 'the takeover')
    old.close()
    await old.closedWith
    // The old socket's close must not remove the state the new one owns.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(watcher.provider.awareness.getStates().get(4242)?.user).toBe('bob-new')
    fresh.close()
    await until(() => !watcher.provider.awareness.getStates().has(4242), 'the state to go with the new socket')
  })
})

describe('limits', () => {
  it('closes a connection over the message rate with 1008', async () => {
    const running = await serve({ rateLimitMessagesPerSec: 50 })
    const ws = await rawSocket(`${running.url}/rate`)
    const update = encodeSyncUpdate(Y.encodeStateAsUpdate(new Y.Doc()))
    for (let i = 0; i < 500 && ws.readyState === ws.OPEN; i++) ws.send(update)
    const closed = await ws.closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/rate limit/)
  })

  it('refuses connections over the per-address limit with 429', async () => {
    const running = await serve({ maxConnectionsPerIp: 3 })
    const sockets = await Promise.all([1, 2, 3].map(() => rawSocket(`${running.url}/ip`)))
    expect(await upgradeStatus(`${running.url}/ip`)).toBe(429)
    sockets[0].close()
    await sockets[0].closedWith
    await until(async () => await upgradeStatus(`${running.url}/ip`) === 101, 'a slot to free up')
    for (const s of sockets) s.close()
  })

  it('ignores X-Forwarded-For unless trustProxy is set', async () => {
    const running = await serve({ maxConnectionsPerIp: 1 })
    const first = await rawSocket(`${running.url}/xff`, { headers: { 'X-Forwarded-For': '10.0.0.1' } })
    expect(await upgradeStatus(`${running.url}/xff`, { 'X-Forwarded-For': '10.0.0.2' })).toBe(429)
    first.close()
  })

  it('enforces the origin allow-list and document-name rules at the upgrade', async () => {
    const running = await serve({ allowedOrigins: ['https://app.example.com'] })
    expect(await upgradeStatus(`${running.url}/doc`, { Origin: 'https://evil.example.net' })).toBe(403)
    expect(await upgradeStatus(`${running.url}/doc`, { Origin: 'https://app.example.com' })).toBe(101)
    expect(await upgradeStatus(`${running.url}/doc`)).toBe(101)
    expect(await upgradeStatus(`${running.url}/bad%01name`)).toBe(400)
    expect(await upgradeStatus(`${running.url}/${'x'.repeat(600)}`)).toBe(400)
    expect(await upgradeStatus(`${running.url}/%E0%A4%A`)).toBe(400)
    expect(await upgradeStatus(`${running.url}/`)).toBe(400)
  })

  it('drops a slow consumer instead of buffering without bound', async () => {
    const running = await serve({ maxBufferedBytes: 256 * 1024, maxMessageBytes: 256 * 1024 })
    const writer = open(running.url, 'slow')
    await writer.synced()
    const slow = await rawSocket(`${running.url}/slow`)
    // Stop reading: the kernel buffers fill and the server's send queue grows.
    ;(slow as unknown as { _socket: { pause: () => void } })._socket.pause()
    const chunk = 'x'.repeat(32 * 1024)
    for (let i = 0; i < 400; i++) {
      writer.doc.getArray('array').push([chunk])
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const metricsHasClose = async () => /tandem_closes_total\{code="1008"\} [1-9]/.test(await (await fetch(`${running.http}/metrics`)).text())
    await until(metricsHasClose, 'the slow consumer to be closed with 1008', 15_000)
    expect(writer.provider.wsconnected).toBe(true)
    slow.terminate()
  })

  it('bounds what a client may send while its document loads', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    class SlowStorage extends MemoryPersistence {
      override async load (name: string) { await gate; return super.load(name) }
    }
    const running = await serve({ persistence: new SlowStorage(), maxPendingBytes: 64 * 1024 })
    const ws = await rawSocket(`${running.url}/loading`)
    const update = encodeSyncUpdate(new Uint8Array(16 * 1024))
    for (let i = 0; i < 8; i++) ws.send(update)
    const closed = await ws.closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/before the document loaded/)
    release()
  })
})
