/**
 * Bad input is contained: a malformed frame closes only its own connection,
 * with a code and reason; other clients and stored state are untouched; an
 * unknown message type is ignored and counted; a failed write is never relayed.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { MemoryPersistence } from '../persistence/memory.js'
import { StorageError } from '../persistence/types.js'
import { encodeSyncUpdate } from '../src/protocol.js'
import { client, fetchDoc, rawSocket, tempDir, testScope, until } from './helpers.js'

const { serve, defer } = testScope()

const frame = (...parts: Array<(e: encoding.Encoder) => void>) => {
  const e = encoding.createEncoder()
  for (const p of parts) p(e)
  return encoding.toUint8Array(e)
}

const cases: Array<[string, Uint8Array, number]> = [
  ['a truncated sync frame', new Uint8Array([0, 2, 50, 1, 2]), 1002],
  ['a varint claiming gigabytes', frame((e) => encoding.writeVarUint(e, 0), (e) => encoding.writeVarUint(e, 2), (e) => encoding.writeVarUint(e, 2 ** 40)), 1002],
  ['an unknown sync type', new Uint8Array([0, 9, 0]), 1002],
  ['bytes after a message', new Uint8Array([0, 2, 2, 0, 0, 7, 7]), 1002],
  ['an update that is not a Yjs update', encodeSyncUpdate(new Uint8Array([255, 255, 255, 255, 1, 2, 3])), 1007],
  ['awareness that is not an awareness update', frame((e) => encoding.writeVarUint(e, 1), (e) => encoding.writeVarUint8Array(e, new Uint8Array([5, 1]))), 1007]
]

describe('bad input', () => {
  it.each(cases)('closes only the sender of %s (code %i)', async (_name, bytes, code) => {
    const dir = await tempDir()
    defer(() => dir.remove())
    const running = await serve({ persistence: 'leveldb', dataDir: dir.path })
    const honest = client(running.url, 'contained')
    const other = client(running.url, 'contained')
    defer(() => { honest.destroy(); other.destroy() })
    await Promise.all([honest.synced(), other.synced()])
    honest.doc.getText('text').insert(0, 'before')
    await until(() => other.doc.getText('text').toString() === 'before', 'the first edit')

    const bad = await rawSocket(`${running.url}/contained`)
    bad.send(bytes)
    const closed = await bad.closedWith
    expect(closed.code).toBe(code)
    expect(closed.reason.length).toBeGreaterThan(0)

    honest.doc.getText('text').insert(6, ' after')
    await until(() => other.doc.getText('text').toString() === 'before after', 'edits to flow after the bad frame')
    expect(honest.provider.wsconnected && other.provider.wsconnected).toBe(true)
    expect((await fetchDoc(running.http, 'contained')).getText('text').toString()).toBe('before after')
  })

  it('ignores and counts an unknown top-level message type', async () => {
    const running = await serve()
    const ws = await rawSocket(`${running.url}/forward`)
    ws.send(new Uint8Array([42, 1, 2, 3]))
    ws.send(new Uint8Array([7]))
    const watcher = client(running.url, 'forward')
    defer(() => watcher.destroy())
    await watcher.synced()
    expect(ws.readyState).toBe(ws.OPEN)
    const metrics = await (await fetch(`${running.http}/metrics`)).text()
    expect(metrics).toMatch(/tandem_unknown_messages_total 2/)
    ws.close()
  })

  it('closes a text frame with 1007', async () => {
    const running = await serve()
    const ws = await rawSocket(`${running.url}/text`)
    ws.send('hello')
    expect((await ws.closedWith).code).toBe(1007)
  })

  it('closes a frame over maxMessageBytes with 1009', async () => {
    const running = await serve({ maxMessageBytes: 64 * 1024 })
    const ws = await rawSocket(`${running.url}/big`)
    ws.send(encodeSyncUpdate(new Uint8Array(128 * 1024)))
    expect((await ws.closedWith).code).toBe(1009)
  })

  it('never relays an update whose write failed: holds it with the clients connected, and stores and relays it once storage heals', async () => {
    class FailingStorage extends MemoryPersistence {
      failing = false
      attempts = 0
      override async store (docName: string, update: Uint8Array): Promise<void> {
        if (this.failing) {
          this.attempts++
          throw new StorageError('disk full')
        }
        return super.store(docName, update)
      }
    }
    const storage = new FailingStorage()
    const running = await serve({ persistence: storage })
    const writer = client(running.url, 'failing')
    const reader = client(running.url, 'failing')
    defer(() => { writer.destroy(); reader.destroy() })
    await Promise.all([writer.synced(), reader.synced()])
    writer.doc.getText('text').insert(0, 'stored ')
    await until(() => reader.doc.getText('text').toString() === 'stored ', 'the stored edit')
    const closes: number[] = []
    for (const c of [writer, reader]) c.provider.on('connection-close', (event: { code: number } | null) => { if (event !== null) closes.push(event.code) })
    storage.failing = true
    writer.doc.getText('text').insert(7, 'lost?')
    await until(() => storage.attempts >= 3, 'the write to be retried')
    expect(reader.doc.getText('text').toString()).toBe('stored ')
    expect(closes).toEqual([])
    // Storage heals: the held write is stored, then relayed, without a reconnect.
    storage.failing = false
    await until(async () => {
      const rows = await storage.load('failing')
      const d = new Y.Doc()
      for (const u of rows) Y.applyUpdate(d, u)
      return d.getText('text').toString() === 'stored lost?'
    }, 'the unstored edit to be stored after the reconnect', 10_000)
    await until(() => reader.doc.getText('text').toString() === 'stored lost?', 'the reader to receive it once stored', 10_000)
  })
})
