/**
 * Stock y-websocket providers against a real server on port 0 with real
 * LevelDB: convergence, late joiners, isolation, room names, offline merges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { client, prng, rawSocket, snapshot, startServer, tempDir, until, type Client, type Running } from './helpers.js'

let running: Running
let dir: Awaited<ReturnType<typeof tempDir>>
const clients: Client[] = []
const open = (room: string, options?: Parameters<typeof client>[2]) => {
  const c = client(running.url, room, options)
  clients.push(c)
  return c
}

beforeAll(async () => {
  dir = await tempDir()
  running = await startServer({ persistence: 'leveldb', dataDir: dir.path })
})

afterAll(async () => {
  for (const c of clients) c.destroy()
  await running.server.close()
  await dir.remove()
})

/** One random edit on Y.Text, Y.Map or Y.Array. */
function randomEdit (doc: Y.Doc, rand: () => number, tag: string): void {
  const pick = rand()
  if (pick < 0.5) {
    const text = doc.getText('text')
    if (text.length > 0 && rand() < 0.3) {
      const at = Math.floor(rand() * text.length)
      text.delete(at, Math.min(text.length - at, 1 + Math.floor(rand() * 3)))
    } else {
      text.insert(Math.floor(rand() * (text.length + 1)), `${tag}${Math.floor(rand() * 100)}`)
    }
  } else if (pick < 0.8) {
    doc.getMap('map').set(`k${Math.floor(rand() * 8)}`, `${tag}:${Math.floor(rand() * 1000)}`)
  } else {
    const array = doc.getArray('array')
    if (array.length > 0 && rand() < 0.3) array.delete(Math.floor(rand() * array.length), 1)
    else array.insert(Math.floor(rand() * (array.length + 1)), [tag])
  }
}

describe('sync with the stock WebsocketProvider', () => {
  it.each([1, 2, 3])('converges under seeded random concurrent edits (seed %i)', async (seed) => {
    const rand = prng(seed)
    const room = `converge-${seed}`
    const peers = [open(room), open(room), open(room), open(room)]
    await Promise.all(peers.map((p) => p.synced()))
    // Bounded: 60 rounds of edits, each peer editing in the same tick.
    for (let round = 0; round < 60; round++) {
      for (const [i, peer] of peers.entries()) {
        if (rand() < 0.7) randomEdit(peer.doc, rand, `p${i}r${round}`)
      }
      if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const expected = () => JSON.stringify(snapshot(peers[0].doc))
    await until(() => peers.every((p) => JSON.stringify(snapshot(p.doc)) === expected()), `seed ${seed}: all peers to converge`)
    expect((snapshot(peers[0].doc) as { text: string }).text.length).toBeGreaterThan(0)
    // A late joiner receives the full state.
    const late = open(room)
    await late.synced()
    await until(() => JSON.stringify(snapshot(late.doc)) === expected(), `the late joiner to hold the full state: ${JSON.stringify(snapshot(late.doc))} vs ${expected()}`)
  })

  it('keeps documents isolated from each other', async () => {
    const a = open('isolated-a')
    const b = open('isolated-b')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'only in a')
    const a2 = open('isolated-a')
    await a2.synced()
    await until(() => a2.doc.getText('text').toString() === 'only in a', 'a second client of a to see the edit')
    expect(b.doc.getText('text').toString()).toBe('')
  })

  it.each(['notes/2024/plan', 'with space', 'ünïcödé 文档 🚀', 'a%b?c'])('serves the room name %j (percent-decoded path)', async (name) => {
    // y-websocket puts the room name into the URL as is; encode what the URL cannot carry raw.
    const encoded = name.split('/').map(encodeURIComponent).join('/')
    const a = open(encoded)
    const b = open(encoded)
    await Promise.all([a.synced(), b.synced()])
    a.doc.getMap('map').set('name', name)
    await until(() => b.doc.getMap('map').get('name') === name, 'the edit to reach the second client')
    const res = await fetch(`${running.http}/docs/${encodeURIComponent(name)}`)
    expect(res.status).toBe(200)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
    expect(doc.getMap('map').get('name')).toBe(name)
  })

  it('merges offline edits made on both sides when they reconnect', async () => {
    const a = open('offline-merge')
    const b = open('offline-merge')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'base ')
    await until(() => b.doc.getText('text').toString() === 'base ', 'the base text to reach b')
    a.provider.disconnect()
    b.provider.disconnect()
    a.doc.getText('text').insert(5, 'from-a ')
    a.doc.getArray('array').push(['a'])
    b.doc.getText('text').insert(0, 'from-b ')
    b.doc.getMap('map').set('who', 'b')
    a.provider.connect()
    b.provider.connect()
    await until(() => a.doc.getText('text').toString() === b.doc.getText('text').toString() &&
      a.doc.getMap('map').get('who') === 'b' && b.doc.getArray('array').length === 1, 'offline edits to merge')
    const text = a.doc.getText('text').toString()
    expect(text).toContain('from-a')
    expect(text).toContain('from-b')
    expect(text).toContain('base')
  })

  it('answers a client that holds nothing without asking it back, and asks every other client for what it holds', async () => {
    // A page load on a document nobody wrote yet: an empty update answers
    // the client's empty state vector, and the server does not ask back.
    const raw = await rawSocket(`${running.url}/brand-new`)
    raw.send(Buffer.from([0, 0, 1, 0]))
    // Asked twice: the second answer comes after anything the first frame caused.
    raw.send(Buffer.from([0, 0, 1, 0]))
    await until(() => raw.frames.length >= 2, 'the server\'s answers')
    expect(raw.frames.map((f) => [...f])).toEqual([[0, 1, 2, 0, 0], [0, 1, 2, 0, 0]])
    // A client whose first frame is anything else is asked first.
    const other = await rawSocket(`${running.url}/brand-new`)
    other.send(Buffer.from([3]))
    await until(() => other.frames.length >= 1, 'the server\'s sync step 1')
    expect([...other.frames[0]]).toEqual([0, 0, 1, 0])
    other.close()
    // A client that edited offline brings its content to the empty document
    // in its answer to the server's step 1; a later client receives it.
    const offline = new Y.Doc()
    offline.getText('text').insert(0, 'written offline')
    const writer = open('brand-new', { doc: offline })
    await writer.synced()
    const reader = open('brand-new')
    await reader.synced()
    await until(() => reader.doc.getText('text').toString() === 'written offline', 'the offline edit to reach a later client')
    expect(raw.readyState).toBe(raw.OPEN)
    raw.close()
  })

  it('asks a client that never sends a frame at the next ping sweep', async () => {
    const quick = await startServer({ persistence: 'memory', pingIntervalMs: 100 })
    try {
      const silent = await rawSocket(`${quick.url}/silent`)
      await until(() => silent.frames.length >= 1, 'the server\'s sync step 1', 3000)
      expect([...silent.frames[0]]).toEqual([0, 0, 1, 0])
      silent.close()
    } finally {
      await quick.server.close()
    }
  })
})
