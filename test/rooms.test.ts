/**
 * Room lifecycle on a real server: single-flight loads, nothing answered
 * before the load finished, failed loads never served, unloading when idle.
 */
import { spawn } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MemoryPersistence } from '../persistence/memory.js'
import { createServer } from '../src/index.js'
import { client, fetchDoc, testScope, until, type Client, type Running } from './helpers.js'

/** Real memory storage whose loads can be held back or made to fail. */
class ControlledStorage extends MemoryPersistence {
  loads = 0
  gate: Promise<void> = Promise.resolve()
  failLoads = 0
  override async load (docName: string): Promise<Uint8Array[]> {
    this.loads++
    await this.gate
    if (this.failLoads > 0) {
      this.failLoads--
      throw new Error('disk unavailable')
    }
    return super.load(docName)
  }
}

const scope = testScope()

function track (c: Client): Client {
  scope.defer(() => c.destroy())
  return c
}

const serve = (storage: ControlledStorage): Promise<Running> => scope.serve({ persistence: storage })

async function seed (storage: MemoryPersistence, name: string, text: string): Promise<void> {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, text)
  await storage.store(name, Y.encodeStateAsUpdate(doc))
}

const roomsLoaded = async (running: Running) => (await (await fetch(`${running.http}/healthz`)).json()).rooms as number

describe('rooms', () => {
  it('loads a document once for many simultaneous clients and answers none before the load finished', async () => {
    const storage = new ControlledStorage()
    await seed(storage, 'gated', 'stored text')
    let open!: () => void
    storage.gate = new Promise((resolve) => { open = resolve })
    const running = await serve(storage)
    const clients = Array.from({ length: 20 }, () => track(client(running.url, 'gated')))
    await until(() => storage.loads === 1, 'the load to start')
    // Give the clients every chance to be (wrongly) answered while loading.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(clients.some((c) => c.provider.synced)).toBe(false)
    open()
    await Promise.all(clients.map((c) => c.synced()))
    for (const c of clients) expect(c.doc.getText('text').toString()).toBe('stored text')
    expect(storage.loads).toBe(1)
  })

  it('answers a client that holds nothing from the stored snapshot before rebuilding the document in memory', async () => {
    const storage = new ControlledStorage()
    // One stored row (a compacted document), large enough that the rebuild waits for the early answer to be written.
    const body = 'stored snapshot '.repeat(6000)
    await seed(storage, 'snapshot', body)
    let open!: () => void
    storage.gate = new Promise((resolve) => { open = resolve })
    let rebuiltAt = 0
    const running = await scope.serve({
      persistence: storage,
      hooks: {
        // Runs right after the rebuild; holding the thread here shows whether the answer had left before it.
        onLoad: () => {
          rebuiltAt = Date.now()
          const until = rebuiltAt + 800
          while (Date.now() < until) { /* the server is busy rebuilding */ }
        }
      }
    })
    // A client in another process, so it can read while this one is busy.
    const script = `
      const WebSocket = require('ws')
      const ws = new WebSocket(process.argv[1] + '/snapshot')
      ws.on('open', () => ws.send(Buffer.from([0, 0, 1, 0]), () => process.stdout.write('sent\\n')))
      ws.on('message', (data) => {
        if (data[0] === 0 && data[1] === 1) {
          process.stdout.write(JSON.stringify({ at: Date.now(), bytes: data.length }) + '\\n')
          process.exit(0)
        }
      })
      setTimeout(() => process.exit(2), 10000)
    `
    const child = spawn(process.execPath, ['-e', script, running.url], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    // The storage read finishes only once the client asked (as a read from disk would, for a large document).
    await until(() => out.startsWith('sent\n'), 'the client to ask for everything')
    await new Promise((resolve) => setTimeout(resolve, 100))
    open()
    expect(await exited).toBe(0)
    const answer = JSON.parse(out.slice('sent\n'.length)) as { at: number; bytes: number }
    expect(answer.bytes).toBeGreaterThan(body.length)
    expect(rebuiltAt).toBeGreaterThan(0)
    // Answered while the server was still rebuilding (or before), not after.
    expect(answer.at).toBeLessThan(rebuiltAt + 500)
    // And the document itself loaded whole.
    const c = track(client(running.url, 'snapshot'))
    await c.synced()
    expect(c.doc.getText('text').toString()).toBe(body)
  })

  it('retries a failed load without closing its clients, never serves or overwrites the document', async () => {
    const storage = new ControlledStorage()
    await seed(storage, 'flaky', 'precious')
    storage.failLoads = 2
    const running = await serve(storage)
    const c = track(client(running.url, 'flaky'))
    const closes: number[] = []
    c.provider.on('connection-close', (event: { code: number } | null) => { if (event !== null) closes.push(event.code) })
    // The client edits before it ever synced: that edit must merge, not replace.
    c.doc.getText('text').insert(0, 'new ')
    await c.synced()
    // Two concurrent inserts at 0: Yjs orders them by client id, either way round.
    const merged = (text: string) => text.length === 'new precious'.length && text.includes('new ') && text.includes('precious')
    await until(() => merged(c.doc.getText('text').toString()), 'the client to merge with the stored text')
    await until(async () => {
      const rows = await storage.load('flaky')
      const d = new Y.Doc()
      for (const u of rows) Y.applyUpdate(d, u)
      return merged(d.getText('text').toString())
    }, 'storage to hold both the old and the new text')
    expect(storage.loads).toBeGreaterThanOrEqual(3)
    expect(closes).toEqual([])
  })

  it('unloads a room once its last client left and its writes are stored', async () => {
    const storage = new ControlledStorage()
    const running = await serve(storage)
    const a = client(running.url, 'transient')
    const b = client(running.url, 'transient')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'kept')
    expect(await roomsLoaded(running)).toBe(1)
    a.destroy()
    expect(await roomsLoaded(running)).toBe(1)
    b.destroy()
    await until(async () => await roomsLoaded(running) === 0, 'the room to unload')
    expect((await fetchDoc(running.http, 'transient')).getText('text').toString()).toBe('kept')
    // The HTTP read loaded it for the request only.
    await until(async () => await roomsLoaded(running) === 0, 'the room to unload after the HTTP read')
  })

  it('returns to zero rooms after a burst of 200 documents', async () => {
    const storage = new ControlledStorage()
    const running = await serve(storage)
    const clients = Array.from({ length: 200 }, (_, i) => client(running.url, `burst-${i}`))
    await Promise.all(clients.map((c) => c.synced()))
    for (const [i, c] of clients.entries()) c.doc.getMap('map').set('i', i)
    expect(await roomsLoaded(running)).toBe(200)
    for (const c of clients) c.destroy()
    await until(async () => await roomsLoaded(running) === 0, 'every room to unload', 10_000)
    expect((await storage.list({ limit: 1000 })).length).toBe(200)
  })

  it('attaches to an existing http.Server and closes idempotently', async () => {
    const host = createHttpServer((req, res) => {
      res.writeHead(200)
      res.end('host app')
    })
    const server = createServer({ persistence: 'memory', logLevel: 'silent' })
    server.attach(host, { http: false })
    await server.ready()
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
    const port = (host.address() as AddressInfo).port
    expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe('host app')
    const a = client(`ws://127.0.0.1:${port}`, 'attached')
    const b = client(`ws://127.0.0.1:${port}`, 'attached')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('text').insert(0, 'via host')
    await until(() => b.doc.getText('text').toString() === 'via host', 'the edit through the attached server')
    a.destroy()
    b.destroy()
    await Promise.all([server.close(), server.close()])
    await server.close()
    // The host's server outlives tandem and gets its events back.
    expect(host.listenerCount('upgrade')).toBe(0)
    await new Promise((resolve) => host.close(resolve))
  })
})

describe('a cold load', () => {
  it('answers a client that asks for everything once, from the stored snapshot, with the whole document', async () => {
    const { LeveldbPersistence } = await import('../persistence/leveldb.js')
    const { encodeSyncStep1, decodeMessage } = await import('../src/protocol.js')
    const { rawSocket, spawnCli, tempDir } = await import('./helpers.js')
    const dir = await tempDir()
    try {
      const source = new Y.Doc()
      for (let i = 0; i < 2000; i++) source.getText('text').insert(Math.floor(i / 2), `w${i % 10}`)
      const storage = await LeveldbPersistence.open(dir.path)
      await storage.store('one-row', Y.encodeStateAsUpdate(source))
      await storage.store('two-rows', Y.encodeStateAsUpdate(source))
      const extra = new Y.Doc()
      extra.getText('text').insert(0, 'tail ')
      await storage.store('two-rows', Y.encodeStateAsUpdate(extra))
      await storage.close()
      const cli = await spawnCli(['--data', dir.path])
      try {
        for (const [name, expected] of [['one-row', source.getText('text').toString()], ['two-rows', null]] as const) {
          const ws = await rawSocket(`${cli.url}/${name}`)
          ws.send(encodeSyncStep1(new Uint8Array([0])))
          await until(() => ws.frames.some((f) => decodeMessage(f).type === 'sync-step2'), `the answer for ${name}`)
          await new Promise((resolve) => setTimeout(resolve, 300))
          const answers = ws.frames.map((f) => decodeMessage(f)).filter((m) => m.type === 'sync-step2') as Array<{ update: Uint8Array }>
          expect(answers).toHaveLength(1)
          const doc = new Y.Doc()
          Y.applyUpdate(doc, answers[0].update)
          expect(doc.getText('text').toString()).toBe(expected ?? doc.getText('text').toString())
          if (expected === null) expect(doc.getText('text').toString()).toContain('tail ')
          ws.close()
        }
      } finally {
        cli.child.kill('SIGTERM')
        await cli.exited
      }
    } finally {
      await dir.remove()
    }
  })
})
