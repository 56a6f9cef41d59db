/**
 * Clients that hold a valid grant and send what no honest client sends:
 * each is refused (only the offender), counted, and the document, the room
 * and the other users' work are untouched.
 */
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { signToken, type Claims } from '../src/auth.js'
import { decodeMessage, encodeAwareness, encodeAwarenessUpdate, encodeSyncStep1, encodeSyncUpdate } from '../src/protocol.js'
import { rawSocket, tempDir, testScope, until, type Client } from './helpers.js'

const SECRET = 'a-test-secret-of-sufficient-length'
const scope = testScope()
const token = (claims: Claims, expiresIn?: number) => signToken(SECRET, claims, { expiresIn })

/** An awareness frame with one entry whose state is the given JSON text, as is. */
function awarenessText (clientId: number, clock: number, stateText: string): Uint8Array {
  return encodeAwareness(encodeAwarenessUpdate([{ clientId, clock, state: stateText }]))
}

function awarenessFrame (clientId: number, clock: number, state: unknown): Uint8Array {
  return awarenessText(clientId, clock, JSON.stringify(state))
}

async function metric (http: string, pattern: RegExp): Promise<boolean> {
  return pattern.test(await (await fetch(`${http}/metrics`)).text())
}

/** The awareness states the server holds for a document, by client id. */
async function presence (http: string, doc: string, tok?: string): Promise<Map<number, unknown>> {
  const res = await fetch(`${http}/docs/${encodeURIComponent(doc)}/presence`, tok === undefined ? {} : { headers: { authorization: `Bearer ${tok}` } })
  const list = await res.json() as Array<{ clientId: number; state: unknown }>
  return new Map(list.map((e) => [e.clientId, e.state]))
}

/** The HTTP status an upgrade is answered with (101 when it succeeds). */
function upgradeStatus (url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('open', () => { ws.close(); resolve(101) })
    ws.on('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode ?? 0) })
    ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
  })
}

describe('awareness from a hostile client', () => {
  it('closes a connection whose awareness state is over the size limit, and stores nothing of it', async () => {
    const running = await scope.serve({ maxAwarenessStateBytes: 1024 })
    const watcher = scope.open(running.url, 'aw-size')
    await watcher.synced()
    const ws = await rawSocket(`${running.url}/aw-size`)
    ws.send(awarenessFrame(9001, 1, { blob: 'x'.repeat(4096) }))
    const closed = await ws.closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/larger than 1024 bytes/)
    expect((await presence(running.http, 'aw-size')).has(9001)).toBe(false)
    expect(await metric(running.http, /tandem_refused_total\{code="AWARENESS_TOO_LARGE"\} 1/)).toBe(true)
    expect(watcher.provider.wsconnected).toBe(true)
  })

  it('closes a read-only connection that announces more client ids than allowed (50,000 in one message)', async () => {
    const running = await scope.serve({ authSecret: SECRET, maxAwarenessClientsPerConnection: 8 })
    const reader = await token({ sub: 'reader', docs: { 'aw-ids': 'read' } })
    const ws = await rawSocket(`${running.url}/aw-ids?token=${reader}`)
    const entries = Array.from({ length: 50_000 }, (_, i) => ({ clientId: 1_000_000 + i, clock: 1, state: '{"u":1}' }))
    ws.send(encodeAwareness(encodeAwarenessUpdate(entries)))
    const closed = await ws.closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/more than 8 awareness client ids/)
    expect((await presence(running.http, 'aw-ids', await token({ sub: 'x', docs: { 'aw-ids': 'read' } }))).size).toBe(0)
  })

  it('bounds the presence one document holds, refusing only the client that would exceed it', async () => {
    const running = await scope.serve({ maxAwarenessStateBytes: 4096, maxAwarenessBytesPerDoc: 10_000 })
    const sockets = await Promise.all([0, 1, 2].map(() => rawSocket(`${running.url}/aw-doc`)))
    sockets[0].send(awarenessFrame(1, 1, { blob: 'a'.repeat(4000) }))
    sockets[1].send(awarenessFrame(2, 1, { blob: 'b'.repeat(4000) }))
    await until(async () => (await presence(running.http, 'aw-doc')).size === 2, 'two states')
    sockets[2].send(awarenessFrame(3, 1, { blob: 'c'.repeat(4000) }))
    const closed = await sockets[2].closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/presence would exceed 10000 bytes/)
    const held = await presence(running.http, 'aw-doc')
    expect([...held.keys()].sort()).toEqual([1, 2])
    expect(sockets[0].readyState).toBe(WebSocket.OPEN)
    for (const s of sockets) s.close()
  })

  it.each([' null', '\nnull', 'null ', '\tnull\n'])('never lets another user remove a state with a removal written as %j', async (text) => {
    const running = await scope.serve({ authSecret: SECRET })
    const victimToken = await token({ sub: 'victim', docs: { 'aw-forge': 'write' } })
    const malloryToken = await token({ sub: 'mallory', docs: { 'aw-forge': 'write' } })
    const victim = scope.open(running.url, 'aw-forge', { token: victimToken })
    await victim.synced()
    victim.provider.awareness.setLocalStateField('user', 'victim')
    const id = victim.doc.clientID
    await until(async () => (await presence(running.http, 'aw-forge', victimToken)).has(id), 'the victim\'s state')
    const attacker = await rawSocket(`${running.url}/aw-forge?token=${malloryToken}`)
    const clock = victim.provider.awareness.meta.get(id)!.clock
    attacker.send(awarenessText(id, clock, text))
    attacker.send(awarenessText(id, clock + 5, text))
    // A state of the attacker's own, to know both frames were processed.
    attacker.send(awarenessFrame(4444, 1, { user: 'mallory' }))
    await until(async () => (await presence(running.http, 'aw-forge', victimToken)).has(4444), 'the attacker\'s own state')
    expect((await presence(running.http, 'aw-forge', victimToken)).get(id)).toEqual({ user: 'victim' })
    expect(await metric(running.http, /tandem_awareness_forged_total 2/)).toBe(true)
    attacker.close()
  })

  it('keeps a departed client\'s id for its own user: nobody else can squat it, and its owner is listed again at once after reconnecting', async () => {
    const running = await scope.serve({ authSecret: SECRET })
    const aliceToken = await token({ sub: 'alice', docs: { 'aw-squat': 'write' } })
    const malloryToken = await token({ sub: 'mallory', docs: { 'aw-squat': 'write' } })
    const watcherToken = await token({ sub: 'watcher', docs: { 'aw-squat': 'read' } })
    const alice = scope.open(running.url, 'aw-squat', { token: aliceToken })
    await alice.synced()
    alice.provider.awareness.setLocalStateField('user', 'alice')
    const id = alice.doc.clientID
    await until(async () => (await presence(running.http, 'aw-squat', watcherToken)).has(id), 'alice to be listed')
    alice.provider.disconnect()
    await until(async () => !(await presence(running.http, 'aw-squat', watcherToken)).has(id), 'alice to leave')
    // Mallory claims alice's id with a newer clock while alice is away.
    const attacker = await rawSocket(`${running.url}/aw-squat?token=${malloryToken}`)
    attacker.send(awarenessFrame(id, 1000, { user: 'mallory-as-alice' }))
    attacker.send(awarenessFrame(4545, 1, { user: 'mallory' }))
    await until(async () => (await presence(running.http, 'aw-squat', watcherToken)).has(4545), 'the attacker\'s own state')
    expect((await presence(running.http, 'aw-squat', watcherToken)).has(id)).toBe(false)
    // Alice returns with the stock client (its clock is older than the server's): listed again within 2 s.
    const back = Date.now()
    alice.provider.connect()
    await until(async () => (await presence(running.http, 'aw-squat', watcherToken)).get(id) !== undefined, 'alice to be listed again', 2000)
    expect((await presence(running.http, 'aw-squat', watcherToken)).get(id)).toEqual({ user: 'alice' })
    expect(Date.now() - back).toBeLessThan(2000)
    attacker.close()
  })
})

describe('documents a writer tries to make too large', () => {
  it('refuses an update over maxDocumentBytes (1009 / 413) but always accepts deletions', async () => {
    const running = await scope.serve({ maxDocumentBytes: 64 * 1024 })
    const writer = scope.open(running.url, 'big')
    await writer.synced()
    writer.doc.getText('text').insert(0, 'x'.repeat(40 * 1024))
    await until(async () => (await fetch(`${running.http}/docs/big`)).status === 200, 'the first part to be stored')
    // Over HTTP: 413 with a code, nothing stored.
    const more = new Y.Doc()
    more.getText('other').insert(0, 'y'.repeat(40 * 1024))
    const res = await fetch(`${running.http}/docs/big/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(more)) })
    expect(res.status).toBe(413)
    expect((await res.json()).error.code).toBe('DOC_TOO_LARGE')
    // Over WebSocket: closed 1009.
    const ws = await rawSocket(`${running.url}/big`)
    ws.send(encodeSyncUpdate(Y.encodeStateAsUpdate(more)))
    expect((await ws.closedWith).code).toBe(1009)
    // A deletion is accepted and shrinks the document.
    writer.doc.getText('text').delete(0, 30 * 1024)
    await until(async () => {
      const doc = new Y.Doc()
      Y.applyUpdate(doc, new Uint8Array(await (await fetch(`${running.http}/docs/big`)).arrayBuffer()))
      return doc.getText('text').length === 10 * 1024 && doc.getText('other').length === 0
    }, 'the deletion to be stored')
  })

  it('lets every client open a document larger than the send-buffer limit, before and after a restart', async () => {
    const dir = await tempDir()
    scope.defer(() => dir.remove())
    const options = { persistence: 'leveldb' as const, dataDir: dir.path, maxBufferedBytes: 2 * 1024 * 1024, maxMessageBytes: 2 * 1024 * 1024, maxDocumentBytes: 8 * 1024 * 1024 }
    const first = await scope.serve(options)
    const writer = scope.open(first.url, 'large')
    await writer.synced()
    // Three 1.5 MiB chunks: each frame is within maxMessageBytes, the document is more than twice the buffer limit.
    for (let i = 0; i < 3; i++) writer.doc.getArray('chunks').push([Buffer.alloc(1536 * 1024, i + 1).toString('base64').slice(0, 1536 * 1024)])
    await until(async () => (await fetch(`${first.http}/docs/large`)).headers.get('content-length') !== null &&
      Number((await fetch(`${first.http}/docs/large`)).headers.get('content-length')) > 4 * 1024 * 1024, 'the document to be stored', 15_000)
    const readers = [0, 1, 2].map(() => scope.open(first.url, 'large'))
    await Promise.all(readers.map((r) => r.synced()))
    for (const r of readers) expect(r.doc.getArray('chunks').length).toBe(3)
    writer.destroy()
    for (const r of readers) r.destroy()
    await first.server.close()
    const second = await scope.serve(options)
    const late = scope.open(second.url, 'large')
    await late.synced()
    expect(late.doc.getArray('chunks').length).toBe(3)
  }, 30_000)
})

describe('cheap messages that cause expensive work', () => {
  it('answers repeated identical sync requests from its cache and closes a client that keeps asking for new answers', async () => {
    const running = await scope.serve({ authSecret: SECRET, syncWorkBytesPerSec: 64 * 1024, maxDocumentBytes: 256 * 1024 })
    const writerToken = await token({ sub: 'writer', docs: { flood: 'write' } })
    const readerToken = await token({ sub: 'reader', docs: { flood: 'read' } })
    const writer = scope.open(running.url, 'flood', { token: writerToken })
    await writer.synced()
    const text = writer.doc.getText('text')
    for (let i = 0; i < 200; i++) text.insert(text.length, `line ${i} ${'z'.repeat(400)}\n`)
    const peer = scope.open(running.url, 'flood', { token: writerToken })
    await until(() => peer.doc.getText('text').length === text.length, 'the peer to have everything')
    const reader = await rawSocket(`${running.url}/flood?token=${readerToken}`)
    const full = Y.encodeStateVector(writer.doc)
    // The same full state vector many times: answered from the cache, never refused.
    for (let i = 0; i < 300; i++) reader.send(encodeSyncStep1(full))
    await until(() => reader.frames.filter((f) => decodeMessage(f).type === 'sync-step2').length >= 300, 'every answer')
    expect(reader.readyState).toBe(WebSocket.OPEN)
    // State vectors that differ each time cost an encoding each: the budget runs out and only this client is closed.
    const variants = Array.from({ length: 200 }, (_, i) => encodeSyncStep1(svWithout(writer.doc, i)))
    for (const frame of variants) if (reader.readyState === WebSocket.OPEN) reader.send(frame)
    const closed = await reader.closedWith
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/too many sync requests/)
    // The room is fine: an edit still reaches the peer.
    text.insert(0, 'after ')
    await until(() => peer.doc.getText('text').toString().startsWith('after '), 'an edit after the flood')
  })

  it('limits the requests of one identity across HTTP (429) as across WebSocket', async () => {
    const running = await scope.serve({ identityMessagesPerSec: 20 })
    let refused = 0
    for (let i = 0; i < 200 && refused === 0; i++) {
      const res = await fetch(`${running.http}/docs/anything/presence`)
      if (res.status === 429) {
        refused++
        expect((await res.json()).error.code).toBe('RATE_LIMITED')
      }
    }
    expect(refused).toBe(1)
  })

  it('counts the messages of all connections of one user together', async () => {
    const running = await scope.serve({ authSecret: SECRET, rateLimitMessagesPerSec: 1000, identityMessagesPerSec: 100 })
    const tok = await token({ sub: 'many', docs: { many: 'write' } })
    const sockets = await Promise.all(Array.from({ length: 10 }, () => rawSocket(`${running.url}/many?token=${tok}`)))
    const empty = encodeSyncUpdate(Y.encodeStateAsUpdate(new Y.Doc()))
    // 10 × 40 messages: each connection is within its own limit, together they are 2× the user's burst.
    for (let round = 0; round < 40; round++) for (const s of sockets) if (s.readyState === WebSocket.OPEN) s.send(empty)
    await until(() => sockets.some((s) => s.readyState !== WebSocket.OPEN), 'a connection over the user\'s rate to be closed')
    const closes = await Promise.race([Promise.any(sockets.map((s) => s.closedWith)), new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('no close')), 5000))])
    expect(closes.code).toBe(1008)
    expect(closes.reason).toMatch(/for this user/)
    for (const s of sockets) s.close()
  })
})

describe('many expensive updates at once', () => {
  it('processes a burst of updates in slices, in order, pausing only that socket, and stores and relays all of it', async () => {
    const running = await scope.serve({ rateLimitMessagesPerSec: 100_000, identityMessagesPerSec: 100_000 })
    const peer = scope.open(running.url, 'burst')
    const bystander = scope.open(running.url, 'elsewhere')
    await Promise.all([peer.synced(), bystander.synced()])
    // 4,000 small edits at random places of one text, each its own update,
    // written at once: far more than one slice of processing per socket read.
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    const text = doc.getText('text')
    let seed = 7
    for (let i = 0; i < 4000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      text.insert(seed % (text.length + 1), `${i % 10}`)
    }
    const writer = await rawSocket(`${running.url}/burst`)
    for (const u of updates) writer.send(encodeSyncUpdate(u))
    // Meanwhile another document is served.
    bystander.doc.getText('text').insert(0, 'still served')
    const other = scope.open(running.url, 'elsewhere')
    await until(() => other.doc.getText('text').toString() === 'still served', 'the other document to be served', 10_000)
    await until(() => peer.doc.getText('text').toString() === text.toString(), 'the whole burst to reach the peer, in order', 20_000)
    expect(await metric(running.http, /tandem_frames_deferred_total [1-9]/)).toBe(true)
    expect(writer.readyState).toBe(WebSocket.OPEN)
    // Reading again after the slices: an edit after the burst is applied too.
    const after = new Y.Doc()
    Y.applyUpdate(after, Y.encodeStateAsUpdate(doc))
    const tail: Uint8Array[] = []
    after.on('update', (u: Uint8Array) => tail.push(u))
    after.getText('text').insert(0, 'after ')
    writer.send(encodeSyncUpdate(tail[0]))
    await until(() => peer.doc.getText('text').toString().startsWith('after '), 'an edit after the burst')
    writer.close()
  })
})

describe('sockets that never speak', () => {
  it('closes sockets that send no request within the timeout and counts them against their address', async () => {
    const running = await scope.serve({ idleSocketTimeoutMs: 500, maxConnectionsPerIp: 5 })
    const idle = await Promise.all(Array.from({ length: 5 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect(running.port, '127.0.0.1', () => resolve(s))
    })))
    const closedAt = idle.map((s) => new Promise<number>((resolve) => s.on('close', () => resolve(Date.now()))))
    const opened = Date.now()
    // Five idle sockets hold the address's five slots.
    expect(await upgradeStatus(`${running.url}/idle`)).toBe(429)
    const times = await Promise.all(closedAt)
    for (const t of times) expect(t - opened).toBeGreaterThanOrEqual(400)
    // Closed by the server: the slots are free again.
    await until(async () => await upgradeStatus(`${running.url}/idle`) === 101, 'a slot after the idle sockets were closed')
  })

  it('keeps a WebSocket that completed its upgrade beyond the idle timeout', async () => {
    const running = await scope.serve({ idleSocketTimeoutMs: 300 })
    const c = scope.open(running.url, 'speaks')
    await c.synced()
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(c.provider.wsconnected).toBe(true)
  })
})

describe('tokens that expire', () => {
  it('the stock client reconnects after its token expired, with the token the application refreshed', async () => {
    const running = await scope.serve({ authSecret: SECRET })
    const claims = { sub: 'refresh', docs: { refresh: 'write' as const } }
    const short = await token(claims, 2)
    const c: Client = scope.open(running.url, 'refresh', { token: short })
    await c.synced()
    let closedWith = 0
    const fresh = await token(claims, 3600)
    c.provider.on('connection-close', (event: { code: number } | null) => {
      closedWith = event?.code ?? -1
      c.provider.params.token = fresh
    })
    await until(() => closedWith !== 0, 'the expiry close', 6000)
    expect(closedWith).toBe(4001)
    await until(() => c.provider.wsconnected && c.provider.synced, 'the client to reconnect', 5000)
    c.doc.getText('text').insert(0, 'still here')
    const other = scope.open(running.url, 'refresh', { token: fresh })
    await until(() => other.doc.getText('text').toString() === 'still here', 'the edit after the refresh')
  }, 15_000)
})

describe('information and identity', () => {
  it('never says why a token failed, only that it did', async () => {
    const running = await scope.serve({ authSecret: SECRET })
    const wrong = await signToken('another-secret-of-enough-length', { sub: 'a', docs: { d: 'read' } })
    const res = await fetch(`${running.http}/docs/d`, { headers: { authorization: `Bearer ${wrong}` } })
    expect(res.status).toBe(401)
    const body = await res.json()
    expect(body).toEqual({ error: { code: 'TOKEN_INVALID', message: 'the token is not valid' } })
  })

  it('grants the admin routes only to a "*" grant, not to a "**" pattern; no document may be named "*"', async () => {
    const running = await scope.serve({ authSecret: SECRET })
    const pattern = await token({ sub: 'p', docs: { '**': 'write' } })
    const admin = await token({ sub: 'admin', docs: { '*': 'write' } })
    expect((await fetch(`${running.http}/docs`, { headers: { authorization: `Bearer ${pattern}` } })).status).toBe(403)
    expect((await fetch(`${running.http}/docs/x`, { method: 'DELETE', headers: { authorization: `Bearer ${pattern}` } })).status).toBe(403)
    expect((await fetch(`${running.http}/docs`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200)
    expect((await fetch(`${running.http}/docs/%2A`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(400)
    expect(await upgradeStatus(`${running.url}/%2A?token=${admin}`)).toBe(400)
  })

  it('answers 400 to a V2-encoded update, an empty one and one that decodes but does not apply', async () => {
    const running = await scope.serve()
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'v2')
    const v2 = await fetch(`${running.http}/docs/enc/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdateV2(doc)) })
    expect(v2.status).toBe(400)
    expect((await v2.json()).error.message).toMatch(/V2/)
    const empty = await fetch(`${running.http}/docs/enc/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(new Y.Doc())) })
    expect(empty.status).toBe(400)
    expect((await empty.json()).error.code).toBe('UPDATE_EMPTY')
    expect((await fetch(`${running.http}/docs/enc`)).status).toBe(404)
  })

  it('gives client-chosen close codes one metrics label', async () => {
    const running = await scope.serve()
    for (const code of [4123, 4567, 3999]) {
      const ws = await rawSocket(`${running.url}/codes`)
      ws.close(code)
      await ws.closedWith
    }
    await until(async () => metric(running.http, /tandem_closes_total\{code="other"\} 3/), 'three closes under "other"')
    expect(await metric(running.http, /code="4123"/)).toBe(false)
  })

  it('reads the same document for /docs//x over HTTP as for //x over WebSocket', async () => {
    const running = await scope.serve()
    const c = scope.open(running.url, '/x')
    await c.synced()
    c.doc.getText('text').insert(0, 'slash')
    await until(async () => (await fetch(`${running.http}/docs//x`)).status === 200, 'the document over HTTP')
    const doc = new Y.Doc()
    Y.applyUpdate(doc, new Uint8Array(await (await fetch(`${running.http}/docs//x`)).arrayBuffer()))
    expect(doc.getText('text').toString()).toBe('slash')
    expect((await fetch(`${running.http}/docs/x`)).status).toBe(404)
  })
})

/** A state vector claiming less than `doc` holds, different for each `i` (below 200). */
function svWithout (doc: Y.Doc, i: number): Uint8Array {
  const sv = Y.decodeStateVector(Y.encodeStateVector(doc))
  const [client, clock] = [...sv.entries()][0]
  sv.set(client, Math.max(0, clock - 1 - i))
  // varuint count, then (client, clock) pairs.
  const bytes: number[] = []
  const varuint = (n: number): void => {
    while (n > 127) { bytes.push((n & 127) | 128); n = Math.floor(n / 128) }
    bytes.push(n)
  }
  varuint(sv.size)
  for (const [c, k] of sv) { varuint(c); varuint(k) }
  return new Uint8Array(bytes)
}
