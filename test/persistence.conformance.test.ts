import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import * as Y from 'yjs'
import { afterAll, describe, expect, it } from 'vitest'
import { createPersistence, type PersistenceOptions } from '../persistence/index.js'
import { LeveldbPersistence as YLeveldb } from 'y-leveldb'
import { LeveldbPersistence } from '../persistence/leveldb.js'
import { MemoryPersistence } from '../persistence/memory.js'
import { PostgresPersistence } from '../persistence/postgres.js'
import { StorageError, type Persistence } from '../persistence/types.js'
import { createServer } from '../src/index.js'
import { client, until } from './helpers.js'
import { versionConformance } from './persistence.versions.js'

const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A place to store documents; `open()` can be called again after `close()`. */
interface Location {
  open (): Promise<Persistence>
}

/** A storage whose connection can be cut and restored while it is open. */
interface Outage {
  persistence: Persistence
  cut (): Promise<void>
  restore (): Promise<void>
  dispose (): Promise<void>
}

interface AdapterFactory {
  name: string
  /** Whether documents survive `close()` and a new `open()` on the same location. */
  durable: boolean
  /** A fresh, empty location. */
  location (): Promise<Location>
  /** Storage operations done so far, to show that group commit batches. */
  writes?: (p: Persistence) => number
  /** An open adapter whose storage can be made unreachable. */
  outage?: () => Promise<Outage>
  cleanup (): Promise<void>
}

// ---------------------------------------------------------------------------
// Yjs helpers

interface Writer {
  doc: Y.Doc
  updates: Uint8Array[]
}

function writer (clientID: number): Writer {
  const doc = new Y.Doc()
  doc.clientID = clientID
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => { updates.push(u) })
  return { doc, updates }
}

/** `n` transactions of inserts, deletes and map writes, one update each. */
function edit (w: Writer, n: number, tag: string): void {
  const text = w.doc.getText('t')
  const map = w.doc.getMap('m')
  for (let i = 0; i < n; i++) {
    w.doc.transact(() => {
      text.insert(Math.min(i, text.length), `${tag}${i} `)
      if (i % 3 === 2) text.delete(0, 2)
      map.set(`${tag}${i % 5}`, i)
    })
  }
}

/**
 * Rows must come back in an order where each builds only on rows before it:
 * a row applied before what it builds on is kept pending by Yjs, and every
 * later row is then merged into it (a load that grows with the square of the rows).
 */
function expectInOrder (updates: Uint8Array[]): void {
  const doc = new Y.Doc()
  updates.forEach((u, i) => {
    Y.applyUpdate(doc, u)
    expect(doc.store.pendingStructs, `row ${i} of ${updates.length} builds on a later row`).toBeNull()
  })
}

function replay (updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  return doc
}

/** The same text, map and state vector; no missing structs. */
function expectSameContent (actual: Y.Doc, expected: Y.Doc): void {
  expect(actual.getText('t').toString()).toBe(expected.getText('t').toString())
  expect(actual.getMap('m').toJSON()).toEqual(expected.getMap('m').toJSON())
  expect(Y.encodeStateVector(actual)).toEqual(Y.encodeStateVector(expected))
  expect(actual.store.pendingStructs).toBeNull()
}

/**
 * A small, valid update that differs for every `n` (adapters may read the
 * updates they store, so arbitrary bytes would not do).
 */
function tiny (n: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 100_000 + n
  doc.getMap('m').set(`k${n}`, n)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

/** Which `tiny(n)` updates a list holds, in order (`-1` for any other). */
function ids (updates: Uint8Array[]): number[] {
  return updates.map((u) => {
    const keys = [...replay([u]).getMap('m').keys()]
    return keys.length === 1 && /^k\d+$/.test(keys[0]) ? Number(keys[0].slice(1)) : -1
  })
}

// ---------------------------------------------------------------------------
// The suite

/** The contract of `Persistence`, run against one adapter. */
export function persistenceConformance (factory: AdapterFactory): void {
  describe(`persistence conformance: ${factory.name}`, () => {
    afterAll(async () => { await factory.cleanup() })

    /** Runs `fn` with an adapter on a fresh location and closes it after. */
    async function withStorage (fn: (p: Persistence, where: Location) => Promise<void>): Promise<void> {
      const where = await factory.location()
      const p = await where.open()
      try {
        await fn(p, where)
      } finally {
        await p.close()
      }
    }

    describe('versions', () => {
      versionConformance({
        // A second adapter on the same location, where instances share the store.
        withStorage: (fn) => withStorage((p, where) => fn(p, p.shared ? () => where.open() : undefined)),
        durable: factory.durable,
        reopen: async (fn) => {
          const where = await factory.location()
          const p = await where.open()
          try {
            await fn(p, () => where.open())
          } finally {
            await p.close()
          }
        }
      })
    })

    it('loads an empty list for a document never stored, and checks healthy', () => withStorage(async (p) => {
      expect(await p.load('never')).toEqual([])
      expect(await p.list()).toEqual([])
      await p.check()
      // Compacting or deleting nothing is not an error.
      await p.compact('never')
      await p.delete('never')
      expect(await p.load('never')).toEqual([])
    }))

    it('loads updates in the order they were stored', () => withStorage(async (p) => {
      await p.store('doc', tiny(1))
      await p.store('doc', tiny(2))
      // Not awaited one by one: the order of the calls still counts.
      await Promise.all([p.store('doc', tiny(3)), p.store('doc', tiny(4)), p.store('doc', tiny(5))])
      const loaded = await p.load('doc')
      expect(ids(loaded)).toEqual([1, 2, 3, 4, 5])
      for (const u of loaded) expect(u).toBeInstanceOf(Uint8Array)
    }))

    it('loads a document written by many concurrent stores to the same content', () => withStorage(async (p) => {
      const writers = [writer(1), writer(2), writer(3), writer(4)]
      writers.forEach((w, i) => { edit(w, 60, `w${i}-`) })
      const expected = new Y.Doc()
      for (const w of writers) for (const u of w.updates) Y.applyUpdate(expected, u)
      // Interleave the writers' updates the way clients racing each other would.
      const stores: Array<Promise<void>> = []
      for (let i = 0; i < 60; i++) {
        for (const w of writers) stores.push(p.store('shared', w.updates[i]))
      }
      await Promise.all(stores)
      const loaded = await p.load('shared')
      expect(loaded).toHaveLength(240)
      expectSameContent(replay(loaded), expected)
    }))

    it('keeps documents apart, whatever their names', () => withStorage(async (p) => {
      const names = ['a', 'a/b', 'a/b/c', 'a b', 'a/', 'ä/文档/🙂', 'notes/2024 plan.md', "it's \"quoted\" \\ back"]
      await Promise.all(names.map((name, i) => p.store(name, tiny(i))))
      await Promise.all(names.map((name, i) => p.store(name, tiny(i + 100))))
      for (const [i, name] of names.entries()) {
        expect(ids(await p.load(name))).toEqual([i, i + 100])
      }
      expect(await p.load('a/b/')).toEqual([])
      expect(await p.load('A')).toEqual([])
      expect(await p.list()).toEqual([...names].sort())
    }))

    it('compacts into content identical to the stored updates', () => withStorage(async (p) => {
      const w = writer(7)
      edit(w, 80, 'x')
      // Deleted content that compaction may garbage-collect.
      w.doc.getText('t').delete(0, 40)
      for (const u of w.updates) await p.store('doc', u)
      await p.store('other', tiny(9))

      await p.compact('doc')
      const once = await p.load('doc')
      expect(once.length).toBeLessThan(w.updates.length)
      expect(once).toHaveLength(1)
      expectSameContent(replay(once), w.doc)

      // Idempotent, and other documents are untouched.
      await p.compact('doc')
      expectSameContent(replay(await p.load('doc')), w.doc)
      expect(ids(await p.load('other'))).toEqual([9])
    }))

    it('keeps rows stored while a compaction runs', () => withStorage(async (p) => {
      const w = writer(11)
      edit(w, 120, 'c')
      const before = w.updates.slice(0, 60)
      const during = w.updates.slice(60)
      for (const u of before) await p.store('doc', u)
      // Compaction and stores at once; whichever order the storage runs them
      // in, nothing may be lost.
      await Promise.all([p.compact('doc'), ...during.map((u) => p.store('doc', u))])
      expectSameContent(replay(await p.load('doc')), w.doc)
      expectInOrder(await p.load('doc'))
      await p.compact('doc')
      const after = await p.load('doc')
      expect(after).toHaveLength(1)
      expectSameContent(replay(after), w.doc)
    }))

    it('keeps updates whose dependencies are not stored yet through compaction', () => withStorage(async (p) => {
      const w = writer(21)
      edit(w, 10, 'p')
      // Store the second half first: it cannot be integrated without the first.
      for (const u of w.updates.slice(5)) await p.store('doc', u)
      await p.compact('doc')
      for (const u of w.updates.slice(0, 5)) await p.store('doc', u)
      expectSameContent(replay(await p.load('doc')), w.doc)
    }))

    it.each([[5, true], [1000, false]])('compacts when a served document has stored compactAfterUpdates = %i updates (compacted: %s)', (compactAfterUpdates, compacts) => withStorage(async (p) => {
      // The server's write queue decides when; the adapter only knows how.
      const server = createServer({ port: 0, host: '127.0.0.1', persistence: p, logLevel: 'silent', compactAfterUpdates })
      const { port } = await server.listen()
      // A client keeps the document loaded (a reload compacts what it loads, whatever the count).
      const holder = client(`ws://127.0.0.1:${port}`, 'served')
      try {
        await holder.synced()
        const w = writer(77)
        edit(w, 12, 'u')
        for (const u of w.updates) {
          const res = await fetch(`http://127.0.0.1:${port}/docs/served/update`, { method: 'POST', body: Buffer.from(u) })
          expect(res.status).toBe(200)
        }
        if (compacts) await until(async () => (await p.load('served')).length < w.updates.length, 'a compaction')
        else expect(await p.load('served')).toHaveLength(w.updates.length)
        expectSameContent(replay(await p.load('served')), w.doc)
      } finally {
        holder.destroy()
        await server.close()
      }
    }))

    it('compacts a document with unmerged rows as it unloads', () => withStorage(async (p) => {
      const server = createServer({ port: 0, host: '127.0.0.1', persistence: p, logLevel: 'silent', compactAfterUpdates: 1000 })
      const { port } = await server.listen()
      try {
        const writers = new Map<string, Writer>()
        for (const name of ['left', 'open']) {
          const w = writer(name === 'left' ? 31 : 32)
          writers.set(name, w)
          edit(w, 8, name[0])
          for (const u of w.updates) {
            const res = await fetch(`http://127.0.0.1:${port}/docs/${name}/update`, { method: 'POST', body: Buffer.from(u) })
            expect(res.status).toBe(200)
          }
        }
        // Each POST loaded and unloaded its document; the last unload merged what was stored.
        await until(async () => (await p.load('left')).length === 1, 'a compaction on unload')
        expectSameContent(replay(await p.load('left')), writers.get('left')!.doc)
        expectInOrder(await p.load('left'))
      } finally {
        await server.close()
      }
    }))

    it('appends after what a load saw, after a release and after a deletion', () => withStorage(async (p, where) => {
      await p.store('doc', tiny(1))
      await p.store('doc', tiny(2))
      let q = p
      if (factory.durable) {
        await p.close()
        q = await where.open()
      }
      try {
        expect(ids(await q.load('doc'))).toEqual([1, 2])
        await q.store('doc', tiny(3))
        q.release?.('doc')
        await q.store('doc', tiny(4))
        expect(ids(await q.load('doc'))).toEqual([1, 2, 3, 4])
        // A document first seen by a load is listed once it is written.
        expect(await q.load('fresh')).toEqual([])
        await q.store('fresh', tiny(5))
        expect(await q.list()).toEqual(['doc', 'fresh'])
        // A load racing a deletion: whatever it saw, the next write starts the document again.
        await Promise.all([q.load('doc'), q.delete('doc')])
        await q.store('doc', tiny(6))
        expect(ids(await q.load('doc'))).toEqual([6])
        expect(await q.list()).toEqual(['doc', 'fresh'])
      } finally {
        if (q !== p) await q.close()
      }
    }))

    it('deletes one document and nothing else', () => withStorage(async (p) => {
      await p.store('gone', tiny(1))
      await p.store('gone', tiny(2))
      await p.store('gone/child', tiny(3))
      await p.store('kept', tiny(4))
      await p.delete('gone')
      expect(await p.load('gone')).toEqual([])
      expect(ids(await p.load('gone/child'))).toEqual([3])
      expect(ids(await p.load('kept'))).toEqual([4])
      expect(await p.list()).toEqual(['gone/child', 'kept'])
      // A deleted document can be written again from scratch.
      await p.store('gone', tiny(5))
      expect(ids(await p.load('gone'))).toEqual([5])
    }))

    it('lists document names in ascending order, page by page', () => withStorage(async (p) => {
      const names = Array.from({ length: 23 }, (_, i) => `doc-${String((i * 7) % 23).padStart(2, '0')}`)
      await Promise.all(names.map((name) => p.store(name, tiny(1))))
      // Several rows for one name still list it once.
      await p.store('doc-05', tiny(2))
      const sorted = [...names].sort()
      expect(await p.list()).toEqual(sorted)

      const pages: string[][] = []
      let after: string | undefined
      for (let i = 0; i < 10; i++) {
        const page = await p.list({ after, limit: 5 })
        if (page.length === 0) break
        expect(page.length).toBeLessThanOrEqual(5)
        pages.push(page)
        after = page[page.length - 1]
      }
      expect(pages).toHaveLength(5)
      expect(pages.flat()).toEqual(sorted)
      expect(await p.list({ after: 'doc-10', limit: 3 })).toEqual(['doc-11', 'doc-12', 'doc-13'])
      expect(await p.list({ after: 'doc-' })).toEqual(sorted)
      expect(await p.list({ after: 'zzz' })).toEqual([])
    }))

    it('rejects every call after close, and closes twice', async () => {
      const where = await factory.location()
      const p = await where.open()
      await p.store('doc', tiny(1))
      // close() flushes a write that is still queued.
      const pending = p.store('doc', tiny(2))
      await p.close()
      await pending
      await p.close()
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['load', () => p.load('doc')],
        ['store', () => p.store('doc', tiny(3))],
        ['compact', () => p.compact('doc')],
        ['delete', () => p.delete('doc')],
        ['list', () => p.list()],
        ['check', () => p.check()]
      ]
      for (const [, call] of calls) {
        await expect(call()).rejects.toBeInstanceOf(StorageError)
      }
      if (factory.durable) {
        const again = await where.open()
        try {
          expect(ids(await again.load('doc'))).toEqual([1, 2])
        } finally {
          await again.close()
        }
      }
    })

    it.skipIf(!factory.durable)('keeps everything across close and reopen', async () => {
      const where = await factory.location()
      const w = writer(31)
      edit(w, 40, 'r')
      const first = await where.open()
      try {
        for (const u of w.updates.slice(0, 30)) await first.store('doc', u)
        await first.compact('doc')
        await Promise.all(w.updates.slice(30).map((u) => first.store('doc', u)))
        await first.store('second doc', tiny(42))
      } finally {
        await first.close()
      }
      const second = await where.open()
      try {
        expectSameContent(replay(await second.load('doc')), w.doc)
        expect(ids(await second.load('second doc'))).toEqual([42])
        expect(await second.list()).toEqual(['doc', 'second doc'])
        // And it goes on appending after what was there.
        w.doc.getText('t').insert(0, 'after reopen ')
        await second.store('doc', w.updates[w.updates.length - 1])
        expectSameContent(replay(await second.load('doc')), w.doc)
      } finally {
        await second.close()
      }
    })

    it.skipIf(factory.outage === undefined)('rejects while the storage is unreachable and recovers after', async () => {
      const outage = await factory.outage!()
      const p = outage.persistence
      try {
        await p.store('doc', tiny(1))
        await outage.cut()
        await expect(p.store('doc', tiny(2))).rejects.toBeInstanceOf(StorageError)
        // A whole batch fails together; none of it may look stored.
        const batch = await Promise.allSettled([p.store('doc', tiny(3)), p.store('doc', tiny(4)), p.store('x', tiny(5))])
        expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
        for (const r of batch) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
        await expect(p.load('doc')).rejects.toBeInstanceOf(StorageError)
        await expect(p.check()).rejects.toBeInstanceOf(StorageError)
        await expect(p.list()).rejects.toBeInstanceOf(StorageError)
        await expect(p.compact('doc')).rejects.toBeInstanceOf(StorageError)

        await outage.restore()
        // Without reopening: the adapter reconnects on its own.
        await p.check()
        await p.store('doc', tiny(6))
        expect(ids(await p.load('doc'))).toEqual([1, 6])
        expect(await p.list()).toEqual(['doc'])
      } finally {
        await outage.dispose()
      }
    })

    it.skipIf(factory.writes === undefined)('batches concurrent stores into few writes (group commit)', () => withStorage(async (p) => {
      const updates = Array.from({ length: 1000 }, (_, i) => tiny(i))
      const before = factory.writes!(p)
      await Promise.all(updates.map((u, i) => p.store(`doc-${i % 10}`, u)))
      const writes = factory.writes!(p) - before
      expect(writes).toBeGreaterThanOrEqual(1)
      expect(writes).toBeLessThan(50)
      for (let d = 0; d < 10; d++) {
        // Each document keeps its own updates in call order.
        expect(ids(await p.load(`doc-${d}`))).toEqual(Array.from({ length: 100 }, (_, i) => i * 10 + d))
      }
    }))

    it.skipIf(factory.writes === undefined)('batches stores that keep arriving while writes are in flight', () => withStorage(async (p) => {
      // 20 clients, each storing its next update as soon as the last one is
      // stored: the way a busy server calls store().
      const clients = 20
      const rounds = 25
      const before = factory.writes!(p)
      await Promise.all(Array.from({ length: clients }, async (_, c) => {
        for (let r = 0; r < rounds; r++) await p.store(`client-${c}`, tiny(c * rounds + r))
      }))
      const writes = factory.writes!(p) - before
      expect(writes).toBeLessThan((clients * rounds) / 4)
      for (let c = 0; c < clients; c++) {
        expect(ids(await p.load(`client-${c}`))).toEqual(Array.from({ length: rounds }, (_, r) => c * rounds + r))
      }
    }))
  })
}

// ---------------------------------------------------------------------------
// Adapters

persistenceConformance({
  name: 'memory',
  durable: false,
  async location () {
    return { open: async () => new MemoryPersistence() }
  },
  async cleanup () {}
})

const leveldbDirs: string[] = []
persistenceConformance({
  name: 'leveldb',
  durable: true,
  async location () {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-leveldb-'))
    leveldbDirs.push(dir)
    return { open: () => LeveldbPersistence.open(dir) }
  },
  writes: (p) => (p as LeveldbPersistence).stats.batches,
  async cleanup () {
    await Promise.all(leveldbDirs.map((dir) => rm(dir, { recursive: true, force: true })))
  }
})

describe('leveldb: the data directory stays readable by y-leveldb', () => {
  const scopeDirs: string[] = []
  afterAll(async () => { await Promise.all(scopeDirs.map((dir) => rm(dir, { recursive: true, force: true }))) })
  it('gives y-leveldb the names, state vectors and content of documents, compacted or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-leveldb-y-'))
    scopeDirs.push(dir)
    const fresh = writer(7)
    edit(fresh, 6, 'a')
    const merged = writer(8)
    edit(merged, 6, 'b')
    const p = await LeveldbPersistence.open(dir)
    for (const u of fresh.updates) await p.store('fresh', u)
    for (const u of merged.updates) await p.store('merged', u)
    await p.compact('merged')
    await p.close()
    const y = new YLeveldb(dir)
    try {
      expect((await y.getAllDocNames()).sort()).toEqual(['fresh', 'merged'])
      for (const [name, w] of [['fresh', fresh], ['merged', merged]] as const) {
        expect(await y.getStateVector(name)).toEqual(Y.encodeStateVector(w.doc))
        expectSameContent(await y.getYDoc(name), w.doc)
      }
    } finally {
      await y.destroy()
    }
  })

  it('never writes a compaction over a document deleted and written again while it merged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-leveldb-y-'))
    scopeDirs.push(dir)
    const p = await LeveldbPersistence.open(dir)
    try {
      const old = writer(31)
      edit(old, 3000, 'o')
      for (const u of old.updates) await p.store('doc', u)
      // The compaction reads its snapshot at once and merges for a while;
      // meanwhile the document is deleted and written again with more rows
      // than it had, so every row the compaction read exists again.
      const compaction = p.compact('doc')
      await p.delete('doc')
      const fresh = writer(32)
      edit(fresh, 3200, 'f')
      await Promise.all(fresh.updates.map((u) => p.store('doc', u)))
      expect(await compaction).toBeUndefined()
      expectSameContent(replay(await p.load('doc')), fresh.doc)
    } finally {
      await p.close()
    }
  })

  it('loads what y-leveldb wrote, and loads of new and stored documents started together each get their own rows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-leveldb-y-'))
    scopeDirs.push(dir)
    const byY = writer(11)
    edit(byY, 5, 'y')
    const y = new YLeveldb(dir)
    for (const u of byY.updates) await y.storeUpdate('by-y', u)
    await y.destroy()
    const mine = writer(12)
    edit(mine, 4, 'm')
    let p = await LeveldbPersistence.open(dir)
    try {
      for (const u of mine.updates) await p.store('mine', u)
      // One tick: the loads are checked together.
      const names = ['by-y', ...Array.from({ length: 30 }, (_, i) => `none-${i}`), 'mine']
      const loaded = await Promise.all(names.map((name) => p.load(name)))
      expectSameContent(replay(loaded[0]), byY.doc)
      expectSameContent(replay(loaded[loaded.length - 1]), mine.doc)
      expect(loaded.slice(1, -1).every((rows) => rows.length === 0)).toBe(true)
      // A new document's first row after such a load, and a deleted one written again, are found again.
      const later = writer(13)
      edit(later, 3, 'l')
      for (const u of later.updates) await p.store('none-3', u)
      await p.delete('mine')
      expect(await p.load('mine')).toEqual([])
      const again = writer(14)
      edit(again, 2, 'a')
      for (const u of again.updates) await p.store('mine', u)
      await p.close()
      p = await LeveldbPersistence.open(dir)
      const [none3, mineAgain, byYAgain] = await Promise.all([p.load('none-3'), p.load('mine'), p.load('by-y')])
      expectSameContent(replay(none3), later.doc)
      expectSameContent(replay(mineAgain), again.doc)
      expectSameContent(replay(byYAgain), byY.doc)
      expect(await p.list()).toEqual(['by-y', 'mine', 'none-3'])
    } finally {
      await p.close()
    }
  })
})

/** One schema prefix per test file run; every test gets its own schema under it. */
const schemaPrefix = `t_${randomBytes(4).toString('hex')}`
const schemas: string[] = []
// Dropped at the very end too: the factory tests below use schemas as well.
afterAll(async () => { await dropSchemas(schemas) })
function freshSchema (): string {
  const schema = `${schemaPrefix}_${schemas.length}`
  schemas.push(schema)
  return schema
}

persistenceConformance({
  name: 'postgres',
  durable: true,
  async location () {
    const schema = freshSchema()
    // Automatic compaction off: the tests count rows.
    return { open: () => PostgresPersistence.open({ connectionString: DATABASE_URL, schema }) }
  },
  writes: (p) => (p as PostgresPersistence).stats.writes,
  async outage () {
    const proxy = await startProxy(5432)
    const url = new URL(DATABASE_URL)
    url.port = String(proxy.port)
    const persistence = await PostgresPersistence.open({
      connectionString: url.toString(),
      schema: freshSchema(),
      connectionTimeoutMs: 2000
    })
    return {
      persistence,
      cut: async () => { proxy.down = true; proxy.dropAll() },
      restore: async () => { proxy.down = false },
      dispose: async () => {
        proxy.down = false
        await persistence.close()
        await proxy.close()
      }
    }
  },
  async cleanup () {
    await dropSchemas(schemas)
  }
})

async function dropSchemas (names: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    for (const name of names) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
  } finally {
    await client.end()
  }
}

/**
 * A TCP hop in front of the real Postgres. While `down`, it drops every
 * connection it holds and every new one, which is what the adapter sees when
 * the database restarts or the network fails.
 */
async function startProxy (targetPort: number): Promise<{ port: number; down: boolean; dropAll (): void; close (): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const state = {
    port: 0,
    down: false,
    dropAll () { for (const s of sockets) s.destroy() },
    close: () => new Promise<void>((resolve) => { state.dropAll(); server.close(() => { resolve() }) })
  }
  const server = net.createServer((client) => {
    if (state.down) { client.destroy(); return }
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy() })
      s.on('error', () => {})
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as net.AddressInfo).port
  return state
}

// ---------------------------------------------------------------------------
// The factory that picks an adapter

describe('createPersistence', () => {
  it('opens each kind of adapter', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-factory-'))
    const schema = freshSchema()
    const cases: Array<[PersistenceOptions, string, boolean]> = [
      [{ kind: 'memory' }, 'memory', false],
      [{ kind: 'leveldb', dataDir: dir }, 'leveldb', false],
      [{ kind: 'postgres', databaseUrl: DATABASE_URL, schema }, 'postgres', true]
    ]
    try {
      for (const [options, name, shared] of cases) {
        const p = await createPersistence(options)
        try {
          expect(p.name).toBe(name)
          expect(p.shared).toBe(shared)
          await p.store('doc', tiny(1))
          expect(ids(await p.load('doc'))).toEqual([1])
        } finally {
          await p.close()
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('rejects an unusable LevelDB directory at once, and one another process holds, with a StorageError that says so', async () => {
    await expect(createPersistence({ kind: 'leveldb', dataDir: '/proc/x/y' })).rejects.toThrow(/cannot create the data directory \/proc\/x\/y/)
    const dir = await mkdtemp(join(tmpdir(), 'tandem-held-'))
    try {
      const first = await createPersistence({ kind: 'leveldb', dataDir: dir })
      try {
        const second = createPersistence({ kind: 'leveldb', dataDir: dir })
        await expect(second).rejects.toBeInstanceOf(StorageError)
        await expect(second).rejects.toThrow(/is in use by another process/)
      } finally {
        await first.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('rejects postgres without a connection string as a configuration error', async () => {
    await expect(createPersistence({ kind: 'postgres' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
    await expect(createPersistence({ kind: 'postgres', databaseUrl: '' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
    await expect(createPersistence({ kind: 'sqlite' } as unknown as PersistenceOptions)).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })

  it('rejects with a StorageError when Postgres is unreachable', async () => {
    await expect(createPersistence({ kind: 'postgres', databaseUrl: 'postgres://postgres@127.0.0.1:1/test' }))
      .rejects.toBeInstanceOf(StorageError)
  })
})
