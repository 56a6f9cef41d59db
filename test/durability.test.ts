/**
 * The real CLI as a child process on real LevelDB: what a peer received
 * survives `kill -9`; SIGTERM stores everything and exits 0; many updates
 * reload identically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { client, fetchDoc, spawnCli, tempDir, until } from './helpers.js'

let dir: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => { dir = await tempDir() })
afterAll(async () => { await dir.remove() })

describe('durability of the CLI on LevelDB', () => {
  it('keeps everything a peer received across kill -9', async () => {
    const data = `${dir.path}/kill9`
    const first = await spawnCli(['--data', data])
    const writer = client(first.url, 'durable/doc')
    const reader = client(first.url, 'durable/doc')
    await Promise.all([writer.synced(), reader.synced()])
    // Bounded burst of edits; the reader counts what it received.
    for (let i = 0; i < 300; i++) {
      writer.doc.getArray('array').push([i])
      if (i % 50 === 0) writer.doc.getText('text').insert(0, `${i};`)
    }
    await until(() => reader.doc.getArray('array').length === 300, 'the reader to receive all 300 edits')
    const received = JSON.stringify(reader.doc.getArray('array').toJSON()) + reader.doc.getText('text').toString()
    first.child.kill('SIGKILL')
    await first.exited
    writer.destroy()
    reader.destroy()

    const second = await spawnCli(['--data', data])
    try {
      const fresh = client(second.url, 'durable/doc')
      await fresh.synced()
      const restored = JSON.stringify(fresh.doc.getArray('array').toJSON()) + fresh.doc.getText('text').toString()
      expect(restored).toBe(received)
      fresh.destroy()
    } finally {
      second.child.kill('SIGKILL')
      await second.exited
    }
  })

  it('stores everything and exits 0 on SIGTERM, closing clients with 1001', async () => {
    const data = `${dir.path}/sigterm`
    const first = await spawnCli(['--data', data])
    const writer = client(first.url, 'graceful')
    await writer.synced()
    const closeCodes: number[] = []
    writer.provider.on('connection-close', (event: { code: number } | null) => { if (event !== null) closeCodes.push(event.code) })
    for (let i = 0; i < 200; i++) writer.doc.getText('text').insert(0, 'x')
    // Whatever reached the server before the signal must be stored.
    await until(async () => (await fetchDoc(first.http, 'graceful')).getText('text').length === 200, 'the server to hold all edits')
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    await until(() => closeCodes.length > 0, 'the client to see the close')
    expect(closeCodes[0]).toBe(1001)
    writer.destroy()

    const second = await spawnCli(['--data', data])
    try {
      expect((await fetchDoc(second.http, 'graceful')).getText('text').toString()).toBe('x'.repeat(200))
    } finally {
      second.child.kill('SIGTERM')
      expect(await second.exited).toBe(0)
    }
  })

  it('reloads a document of 5,000 updates identically (with compaction)', async () => {
    const data = `${dir.path}/many`
    const first = await spawnCli(['--data', data, '--compact-after', '500'])
    const writer = client(first.url, 'many')
    await writer.synced()
    const text = writer.doc.getText('text')
    for (let i = 0; i < 5000; i++) {
      text.insert(Math.floor((i * 7919) % (text.length + 1)), String.fromCharCode(97 + (i % 26)))
      if (i % 3 === 0 && text.length > 10) text.delete(i % text.length, 1)
      // Let the socket drain now and then so the stock client sends as it goes.
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
    }
    const expected = text.toString()
    await until(async () => (await fetchDoc(first.http, 'many')).getText('text').toString() === expected, 'the server to hold all 5,000 updates', 20_000)
    first.child.kill('SIGKILL')
    await first.exited
    writer.destroy()

    const second = await spawnCli(['--data', data])
    try {
      const started = performance.now()
      const restored = await fetchDoc(second.http, 'many')
      const loadMs = performance.now() - started
      expect(restored.getText('text').toString()).toBe(expected)
      expect(loadMs).toBeLessThan(10_000)
      const verify = new Y.Doc()
      Y.applyUpdate(verify, Y.encodeStateAsUpdate(restored))
      expect(verify.getText('text').toString()).toBe(expected)
    } finally {
      second.child.kill('SIGTERM')
      await second.exited
    }
  })
})
