/**
 * The write queue on its own, over the memory adapter: numbering, group
 * commit, relay only after store, whenStored, retry through a storage
 * outage, giving up past the held-bytes bound, compaction decisions.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MemoryPersistence } from '../persistence/memory.js'
import { StorageError } from '../persistence/types.js'
import { createMetrics } from '../src/metrics.js'
import { FANOUT_ORIGIN, HTTP_ORIGIN, type Origin } from '../src/origin.js'
import { StorageHealth } from '../src/storage-health.js'
import { WriteQueue, type StoredBatch } from '../src/write-queue.js'
import { until } from './helpers.js'
import { pino } from 'pino'

class CountingStorage extends MemoryPersistence {
  stores = 0
  compactions = 0
  failing = false
  override readonly shared: boolean
  constructor (shared = false) {
    super()
    this.shared = shared
  }

  override async store (doc: string, update: Uint8Array): Promise<void> {
    this.stores++
    if (this.failing) throw new StorageError('disk full')
    return super.store(doc, update)
  }

  override async compact (doc: string): Promise<number | undefined> {
    this.compactions++
    return super.compact(doc)
  }
}

function update (n: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 1000 + n
  doc.getMap('m').set(`k${n}`, n)
  return Y.encodeStateAsUpdate(doc)
}

function queue (storage: CountingStorage, options: { compactAfterUpdates?: number; maxHeldBytes?: number; sizeHint?: () => number; onCompacted?: (bytes: number) => void } = {}) {
  const batches: StoredBatch[] = []
  const failures: Error[] = []
  const health = new StorageHealth(pino({ level: 'silent' }))
  const q = new WriteQueue({
    persistence: storage,
    metrics: createMetrics(),
    compactAfterUpdates: options.compactAfterUpdates ?? 1000,
    // Held changes are bounded by a document and a message: the whole bound on the document here.
    limits: { maxDocumentBytes: options.maxHeldBytes ?? 1024 * 1024, maxMessageBytes: 0 },
    health
  }, {
    name: 'doc',
    get bytes () { return options.sizeHint?.() ?? 0 },
    batchStored: (batch) => { batches.push(batch) },
    writesFailed: (err) => { failures.push(err) },
    compactionFailed: () => {},
    compacted: (bytes) => { options.onCompacted?.(bytes) }
  })
  return { q, batches, failures, health }
}

async function storedKeys (storage: MemoryPersistence): Promise<string[]> {
  const doc = new Y.Doc()
  for (const u of await storage.load('doc')) Y.applyUpdate(doc, u)
  return [...doc.getMap('m').keys()].sort()
}

describe('WriteQueue', () => {
  it('numbers changes, stores everything of one turn in one write, and hands batches on only once stored', async () => {
    const storage = new CountingStorage()
    const { q, batches } = queue(storage)
    const seqs = [0, 1, 2, 3, 4].map((n) => q.push(update(n), HTTP_ORIGIN))
    expect(seqs).toEqual([1, 2, 3, 4, 5])
    expect(q.caughtUp).toBe(false)
    expect(batches).toHaveLength(0)
    await q.whenStored()
    expect(storage.stores).toBe(1)
    expect(batches).toHaveLength(1)
    expect(batches[0].updates.map((u) => u.seq)).toEqual([1, 2, 3, 4, 5])
    expect(await storedKeys(storage)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4'])
    expect(q.caughtUp).toBe(true)
    expect(q.idle).toBe(true)
  })

  it('does not store what another instance stored when storage is shared, but still hands it on', async () => {
    const storage = new CountingStorage(true)
    const { q, batches } = queue(storage)
    q.push(update(1), FANOUT_ORIGIN)
    await q.whenStored()
    expect(storage.stores).toBe(0)
    expect(batches).toHaveLength(1)
    expect(batches[0].stored).toBe(null)
  })

  it('resolves whenStored(seq) in order, as storage catches up', async () => {
    const storage = new CountingStorage()
    const { q } = queue(storage)
    const order: number[] = []
    q.push(update(1), HTTP_ORIGIN)
    const first = q.whenStored(1).then(() => order.push(1))
    await first
    q.push(update(2), HTTP_ORIGIN)
    const second = q.whenStored(2).then(() => order.push(2))
    await second
    expect(order).toEqual([1, 2])
  })

  it('holds and retries a failing write, handing nothing on until it is stored', async () => {
    const storage = new CountingStorage()
    const { q, batches, failures, health } = queue(storage)
    storage.failing = true
    q.push(update(1), HTTP_ORIGIN)
    await until(() => storage.stores >= 3, 'three attempts')
    expect(batches).toHaveLength(0)
    expect(health.down).toBe(true)
    q.push(update(2), HTTP_ORIGIN)
    storage.failing = false
    await q.whenStored()
    expect(batches.flatMap((b) => b.updates.map((u) => u.seq))).toEqual([1, 2])
    expect(await storedKeys(storage)).toEqual(['k1', 'k2'])
    expect(failures).toEqual([])
    expect(health.down).toBe(false)
  })

  it('gives up (fails, rejecting waiters) once more than maxHeldBytes wait for a failing storage', async () => {
    const storage = new CountingStorage()
    const { q, failures } = queue(storage, { maxHeldBytes: 200 })
    storage.failing = true
    const waits: Array<Promise<unknown>> = []
    for (let n = 0; n < 20 && failures.length === 0; n++) {
      q.push(update(n), HTTP_ORIGIN)
      waits.push(q.whenStored().catch((err: Error) => err))
    }
    expect(failures).toHaveLength(1)
    for (const result of await Promise.all(waits)) expect(result).toBeInstanceOf(Error)
    await expect(q.whenStored()).rejects.toThrow(/bytes of changes wait for storage/)
    q.stop()
  })

  it('compacts after compactAfterUpdates stored updates, and on load when more than one row was read', async () => {
    const storage = new CountingStorage()
    const { q } = queue(storage, { compactAfterUpdates: 3 })
    for (let n = 0; n < 2; n++) {
      q.push(update(n), HTTP_ORIGIN)
      await q.whenStored()
    }
    expect(storage.compactions).toBe(0)
    q.push(update(2), HTTP_ORIGIN)
    await q.whenStored()
    await until(async () => storage.compactions === 1 && (await storage.load('doc')).length === 1, 'a compaction into one row')
    const reloaded = queue(storage, { compactAfterUpdates: 1000 })
    reloaded.q.loaded(2)
    await until(() => storage.compactions === 2, 'the compaction after a load of two rows')
    const single = queue(storage, { compactAfterUpdates: 1000 })
    single.q.loaded(1)
    await new Promise((resolve) => setImmediate(resolve))
    expect(storage.compactions).toBe(2)
  })

  it('amortizes compaction: a large document waits until as many bytes as it holds were stored since the last one', async () => {
    const storage = new CountingStorage()
    let size = 2000
    const { q } = queue(storage, { compactAfterUpdates: 3, sizeHint: () => size })
    q.loaded(1)
    let stored = 0
    for (let n = 0; stored < 1900; n++) {
      const u = update(n)
      stored += u.byteLength
      q.push(u, HTTP_ORIGIN)
      await q.whenStored()
    }
    // Far more than 3 updates, fewer bytes than the document holds: no compaction yet.
    expect(storage.compactions).toBe(0)
    for (let n = 1000; stored < 2100; n++) {
      const u = update(n)
      stored += u.byteLength
      q.push(u, HTTP_ORIGIN)
      await q.whenStored()
    }
    await until(() => storage.compactions === 1, 'the compaction once the new bytes reach the document\'s size')
    size = 4000
    void size
  })

  it('compacts early on request once a quarter of the document (at least 1 MiB) is new, and reports the merged size', async () => {
    const storage = new CountingStorage()
    const sizes: number[] = []
    const { q } = queue(storage, { compactAfterUpdates: 1_000_000, sizeHint: () => 2 * 1024 * 1024, onCompacted: (bytes) => sizes.push(bytes) })
    q.loaded(1)
    const big = (n: number): Uint8Array => {
      const doc = new Y.Doc()
      doc.clientID = 5000 + n
      doc.getText('t').insert(0, 'x'.repeat(300 * 1024))
      return Y.encodeStateAsUpdate(doc)
    }
    for (let n = 0; n < 2; n++) {
      q.push(big(n), HTTP_ORIGIN)
      await q.whenStored()
    }
    // 600 KB new: not enough for an early compaction.
    q.compactSoon()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(storage.compactions).toBe(0)
    for (let n = 2; n < 4; n++) {
      q.push(big(n), HTTP_ORIGIN)
      await q.whenStored()
    }
    q.compactSoon()
    await until(() => storage.compactions === 1 && sizes.length === 1, 'an early compaction and its size')
    const rows = await storage.load('doc')
    expect(rows).toHaveLength(1)
    expect(sizes[0]).toBe(rows[0].byteLength)
  })

  it('rejects waiters and stops retrying when stopped', async () => {
    const storage = new CountingStorage()
    const { q } = queue(storage)
    storage.failing = true
    q.push(update(1), HTTP_ORIGIN as Origin)
    const wait = q.whenStored()
    await until(() => storage.stores >= 1, 'an attempt')
    q.stop()
    await expect(wait).rejects.toThrow(/unloaded/)
    const attempts = storage.stores
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(storage.stores).toBe(attempts)
  })
})
