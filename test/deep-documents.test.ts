/**
 * Documents poisoned by deep nesting before updates were inspected: their
 * rows overflow a one-transaction load, yet applyStoredUpdates and
 * mergeStoredUpdates load and compact them to the same content; a doc left
 * broken by an overflow is recognised as stuck.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { flatGarbageCollect } from '../src/yjs/flat-gc.js'
import { applyStoredUpdates, mergeStoredUpdates } from '../src/yjs/stored-updates.js'
import { isDocStuck } from '../src/yjs/stuck-doc.js'
import { prng } from './helpers.js'

interface Poisoned {
  /** The rows a room stored: the chain, then ten bottom-up deletions. */
  rows: Uint8Array[]
  /** The document as the room held it after applying the rows one by one. */
  live: Y.Doc
}

/**
 * The attack at the Yjs level: a client sends one update holding a chain of
 * `depth` nested maps (next to some ordinary content), then ten updates each
 * deleting a tenth of the chain from the bottom up. The room applies each
 * one on its own, which works, and stores what its doc emits.
 */
function poison (depth: number): Poisoned {
  const client = new Y.Doc()
  client.clientID = 1
  const sent: Uint8Array[] = []
  client.on('update', (u: Uint8Array) => sent.push(u))
  client.getText('notes').insert(0, 'survives')
  const chain: Array<Y.Map<unknown>> = []
  client.transact(() => {
    let parent = client.getMap('root')
    parent.set('plain', 42)
    for (let i = 0; i < depth; i++) {
      const child = new Y.Map<unknown>()
      parent.set('child', child)
      chain.push(child)
      parent = child as Y.Map<any>
    }
  })
  const batch = depth / 10
  for (let b = 0; b < 10; b++) {
    client.transact(() => {
      for (let i = depth - b * batch - 1; i >= depth - (b + 1) * batch; i--) {
        (chain[i]._item?.parent as Y.Map<unknown>).delete('child')
      }
    })
  }
  const live = new Y.Doc()
  const rows: Uint8Array[] = []
  live.on('update', (u: Uint8Array) => rows.push(u))
  for (const update of sent) Y.applyUpdate(live, update)
  expect(isDocStuck(live)).toBe(false)
  return { rows, live }
}

/** Applies rows the way rooms and compaction did before: one transaction. */
function loadInOneTransaction (rows: Uint8Array[]): { error: unknown; doc: Y.Doc } {
  const doc = new Y.Doc()
  try {
    doc.transact(() => {
      for (const row of rows) Y.applyUpdate(doc, row)
    })
    return { error: null, doc }
  } catch (error) {
    return { error, doc }
  }
}

/** Content, state vector and delete set must all match. */
function expectSameDocument (actual: Y.Doc, expected: Y.Doc): void {
  expect(actual.getText('notes').toString()).toBe(expected.getText('notes').toString())
  expect(actual.getMap('root').toJSON()).toEqual(expected.getMap('root').toJSON())
  expect(Y.encodeStateVector(actual)).toEqual(Y.encodeStateVector(expected))
  expect(Y.equalDeleteSets(Y.createDeleteSetFromStructStore(actual.store), Y.createDeleteSetFromStructStore(expected.store))).toBe(true)
}

describe('a document poisoned by a deleted 10,000-deep chain', () => {
  let attack: Poisoned | undefined
  beforeAll(() => {
    // 10,000 is plenty on Node's default stack; go deeper (bounded) if this machine copes.
    for (let depth = 10_000; attack === undefined && depth <= 40_000; depth *= 2) {
      const candidate = poison(depth)
      if (loadInOneTransaction(candidate.rows).error !== null) attack = candidate
    }
  })

  it('cannot be loaded in one transaction, which leaves the doc broken', () => {
    expect(attack).toBeDefined()
    const { rows, live } = attack as Poisoned
    expect(rows).toHaveLength(12) // the text, the chain, ten deletions
    expect(rows[1].length).toBeGreaterThan(50_000)
    for (const row of rows.slice(2)) expect(row.length).toBeLessThan(16)
    expect(live.getMap('root').toJSON()).toEqual({ plain: 42 })
    const { error, doc } = loadInOneTransaction(rows)
    expect(error).toBeInstanceOf(Error)
    expect(isDocStuck(doc)).toBe(true)
  })

  it('loads through applyStoredUpdates with the same content', () => {
    const { rows, live } = attack as Poisoned
    const doc = new Y.Doc()
    const loaded = applyStoredUpdates(doc, rows, { origin: 'load' })
    expect(loaded.flat).toBe(true)
    expect(loaded.doc).not.toBe(doc)
    expect(isDocStuck(loaded.doc)).toBe(false)
    expectSameDocument(loaded.doc, live)
    // The loaded doc works: a new edit is emitted as an update.
    const emitted: Uint8Array[] = []
    loaded.doc.on('update', (u: Uint8Array) => emitted.push(u))
    loaded.doc.getText('notes').insert(0, 'still ')
    expect(emitted).toHaveLength(1)
  })

  it('compacts through mergeStoredUpdates into a small row that loads normally', () => {
    const { rows, live } = attack as Poisoned
    const merged = mergeStoredUpdates(rows)
    // The chain's maps are garbage now: a few bytes, not 90 KB.
    expect(merged.length).toBeLessThan(200)
    const { error, doc } = loadInOneTransaction([merged])
    expect(error).toBeNull()
    expectSameDocument(doc, live)
  })

  it('loads and compacts the same rows merged into one by Y.mergeUpdates', () => {
    const { rows, live } = attack as Poisoned
    const single = Y.mergeUpdates(rows)
    expect(loadInOneTransaction([single]).error).not.toBeNull()
    const loaded = applyStoredUpdates(new Y.Doc(), [single])
    expect(loaded.flat).toBe(true)
    expectSameDocument(loaded.doc, live)
    const { error, doc } = loadInOneTransaction([mergeStoredUpdates([single])])
    expect(error).toBeNull()
    expectSameDocument(doc, live)
  })

  it('loads when only the top of the chain is deleted', () => {
    // The delete set names one item; everything below it goes with it.
    const { rows } = attack as Poisoned
    const top = deleteOnly(1, Y.decodeUpdate(rows[1]).structs.find((s) => s instanceof Y.Item && s.content instanceof Y.ContentType)!.id.clock)
    const shallow = [rows[0], rows[1], top]
    expect(loadInOneTransaction(shallow).error).not.toBeNull()
    const loaded = applyStoredUpdates(new Y.Doc(), shallow)
    expect(loaded.flat).toBe(true)
    expect(loaded.doc.getMap('root').toJSON()).toEqual({ plain: 42 })
    expect(loaded.doc.getText('notes').toString()).toBe('survives')
  })
})

describe.each(['array', 'xml'] as const)('a deleted 12,000-deep %s chain', (kind) => {
  it('loads flat and compacts', () => {
    const source = new Y.Doc()
    source.clientID = CHAIN_CLIENT
    source.transact(() => {
      let parent: Y.Array<any> | Y.XmlFragment = kind === 'array' ? source.getArray('root') : source.getXmlFragment('root')
      for (let i = 0; i < 12_000; i++) {
        const child = kind === 'array' ? new Y.Array() : new Y.XmlElement('blockquote')
        ;(parent as Y.Array<any>).insert(0, [child])
        parent = child
      }
      (kind === 'array' ? source.getArray('keep') : source.getXmlFragment('keep')).insert(0, [kind === 'array' ? 'kept' : new Y.XmlText('kept')] as any[])
    })
    const rows = [Y.encodeStateAsUpdate(source), deleteOnly(CHAIN_CLIENT, 0)]
    expect(loadInOneTransaction(rows).error).not.toBeNull()
    const loaded = applyStoredUpdates(new Y.Doc(), rows)
    expect(loaded.flat).toBe(true)
    const root = kind === 'array' ? loaded.doc.getArray('root') : loaded.doc.getXmlFragment('root')
    expect(root.length).toBe(0)
    const keep = kind === 'array' ? loaded.doc.getArray('keep').toJSON() : loaded.doc.getXmlFragment('keep').toString()
    expect(keep).toEqual(kind === 'array' ? ['kept'] : 'kept')
    const merged = mergeStoredUpdates(rows)
    expect(merged.length).toBeLessThan(100)
    expect(loadInOneTransaction([merged]).error).toBeNull()
  })
})

describe('applyStoredUpdates and mergeStoredUpdates on ordinary documents', () => {
  it('load in one transaction into the given doc', () => {
    const source = new Y.Doc()
    const rows: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => rows.push(u))
    source.getText('notes').insert(0, 'hello')
    source.getMap('root').set('m', new Y.Map())
    const doc = new Y.Doc()
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    const loaded = applyStoredUpdates(doc, rows, { origin: 'load' })
    expect(loaded).toEqual({ doc, flat: false })
    expect(origins).toEqual(['load'])
    expect(doc.getText('notes').toString()).toBe('hello')
    expect(Y.encodeStateAsUpdate(doc)).toEqual(mergeStoredUpdates(rows))
  })

  it('load rows stored out of order (a snapshot after rows that build on it) with the same content, in one transaction', () => {
    const source = new Y.Doc()
    source.clientID = 5
    const rows: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => rows.push(u))
    const text = source.getText('notes')
    const random = prng(7)
    for (let i = 0; i < 300; i++) text.insert(Math.floor(random() * (text.length + 1)), `w${i} `)
    const snapshot = Y.mergeUpdates(rows.slice(0, 200))
    // As an older compaction left them: rows stored while it merged, then the merged row.
    const stored = [...rows.slice(200), snapshot]
    const doc = new Y.Doc()
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    applyStoredUpdates(doc, stored, { origin: 'load' })
    expect(origins).toEqual(['load'])
    expect(doc.store.pendingStructs).toBeNull()
    expect(doc.getText('notes').toString()).toBe(text.toString())
    expect(mergeStoredUpdates(stored)).toEqual(Y.encodeStateAsUpdate(source))
  })

  it('let errors other than an overflow through', () => {
    expect(() => applyStoredUpdates(new Y.Doc(), [new Uint8Array([1, 1, 5, 0, 4])])).toThrow()
    expect(() => mergeStoredUpdates([new Uint8Array([1, 1, 5, 0, 4])])).toThrow()
  })

  it('keep structs with missing dependencies, as Yjs does', () => {
    const source = new Y.Doc()
    source.clientID = 3
    const rows: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => rows.push(u))
    source.getText('notes').insert(0, 'abc')
    source.getText('notes').insert(3, 'def')
    const merged = mergeStoredUpdates([rows[1]])
    const doc = new Y.Doc()
    Y.applyUpdate(doc, merged)
    expect(doc.store.pendingStructs).not.toBeNull()
    Y.applyUpdate(doc, rows[0])
    expect(doc.getText('notes').toString()).toBe('abcdef')
  })
})

describe('flatGarbageCollect', () => {
  it('gives the same document as a normal load, on random nested edits with deletions', () => {
    const rand = prng(7)
    const gcStructs = (update: Uint8Array): number => Y.decodeUpdate(update).structs.filter((s) => s instanceof Y.GC).length
    let rewritten = 0
    for (let round = 0; round < 25; round++) {
      const editors = [1, 2, 3].map((id) => {
        const doc = new Y.Doc()
        doc.clientID = round * 10 + id
        return doc
      })
      const rows: Uint8Array[] = []
      for (const e of editors) e.on('update', (u: Uint8Array, _o: unknown, _d: Y.Doc, tr: Y.Transaction) => { if (tr.local) rows.push(u) })
      for (let step = 0; step < 60; step++) {
        const e = editors[Math.floor(rand() * editors.length)]
        randomNestedEdit(e, rand)
        if (rand() < 0.4) {
          const other = editors[Math.floor(rand() * editors.length)]
          Y.applyUpdate(other, Y.encodeStateAsUpdate(e, Y.encodeStateVector(other)))
        }
      }
      const normal = loadInOneTransaction(rows)
      expect(normal.error).toBeNull()
      const flatUpdate = flatGarbageCollect(rows)
      // Count rounds in which deleted types had content that had to be collected.
      if (gcStructs(flatUpdate) > gcStructs(Y.mergeUpdates(rows))) rewritten++
      const flat = new Y.Doc()
      Y.applyUpdate(flat, flatUpdate)
      expect(flat.getMap('root').toJSON()).toEqual(normal.doc.getMap('root').toJSON())
      expect(flat.getXmlFragment('xml').toString()).toBe(normal.doc.getXmlFragment('xml').toString())
      expect(flat.getArray('list').toJSON()).toEqual(normal.doc.getArray('list').toJSON())
      expect(Y.encodeStateVector(flat)).toEqual(Y.encodeStateVector(normal.doc))
      expect(Y.equalDeleteSets(Y.createDeleteSetFromStructStore(flat.store), Y.createDeleteSetFromStructStore(normal.doc.store))).toBe(true)
      expect(Y.encodeStateAsUpdate(flat)).toEqual(Y.encodeStateAsUpdate(normal.doc))
    }
    expect(rewritten).toBeGreaterThan(15)
  })
})

describe('a doc left stuck by an overflow in the transaction cleanup', () => {
  it('stops emitting updates, and isDocStuck says so', () => {
    // A chain of nested maps, then a 7-byte update deleting its top. Find a
    // depth at which the delete overflows (bounded).
    let stuck: Y.Doc | undefined
    let chainBytes = 0
    for (let depth = 2_500; stuck === undefined && depth <= 40_000; depth = Math.round(depth * 1.5)) {
      const { chain, top } = mapChain(depth)
      const doc = new Y.Doc()
      Y.applyUpdate(doc, chain)
      expect(isDocStuck(doc)).toBe(false)
      const del = deleteOnly(CHAIN_CLIENT, top)
      expect(del.length).toBe(7)
      chainBytes = chain.length
      try {
        Y.applyUpdate(doc, del)
      } catch {
        if (isDocStuck(doc)) stuck = doc
      }
    }
    expect(stuck).toBeDefined()
    expect(chainBytes).toBeLessThan(400_000)
    const doc = stuck as Y.Doc
    const emitted: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => emitted.push(u))
    doc.getText('after').insert(0, 'lost')
    Y.applyUpdate(doc, (() => {
      const other = new Y.Doc()
      other.getText('after').insert(0, 'also lost')
      return Y.encodeStateAsUpdate(other)
    })())
    expect(emitted).toEqual([])
    expect(isDocStuck(doc)).toBe(true)
  })

  it('a healthy doc is not stuck, also after an ordinary error', () => {
    const doc = new Y.Doc()
    expect(isDocStuck(doc)).toBe(false)
    expect(() => doc.transact(() => { throw new Error('observer bug') })).toThrow('observer bug')
    expect(isDocStuck(doc)).toBe(false)
    expect(() => Y.applyUpdate(doc, new Uint8Array([1, 1, 5, 0, 4]))).toThrow()
    expect(isDocStuck(doc)).toBe(false)
  })
})

/** A client id that takes two bytes, as most do (Yjs picks random 32-bit ids). */
const CHAIN_CLIENT = 300

/** A chain of `depth` nested maps under root "root" as one update, and the clock of its top item. */
function mapChain (depth: number): { chain: Uint8Array; top: number } {
  const doc = new Y.Doc()
  doc.clientID = CHAIN_CLIENT
  doc.transact(() => {
    let parent = doc.getMap('root')
    for (let i = 0; i < depth; i++) {
      const child = new Y.Map<any>()
      parent.set('child', child)
      parent = child
    }
  })
  return { chain: Y.encodeStateAsUpdate(doc), top: 0 }
}

/** A V1 update with no structs that deletes one clock of `client`. */
function deleteOnly (client: number, clock: number): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0) // no structs
  encoding.writeVarUint(e, 1) // one client in the delete set
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 1) // one range
  encoding.writeVarUint(e, clock)
  encoding.writeVarUint(e, 1)
  return encoding.toUint8Array(e)
}

/** One random edit that nests, fills or deletes (including whole nested subtrees). */
function randomNestedEdit (doc: Y.Doc, rand: () => number): void {
  const types: Array<Y.AbstractType<any>> = [doc.getMap('root'), doc.getArray('list'), doc.getXmlFragment('xml')]
  for (let i = 0; i < types.length && types.length < 300; i++) {
    const t = types[i]
    const children = t instanceof Y.Map ? [...t.values()] : (t instanceof Y.Array || t instanceof Y.XmlFragment) ? t.toArray() : []
    for (const c of children) if (c instanceof Y.AbstractType) types.push(c)
  }
  const target = types[Math.floor(rand() * types.length)]
  const pick = rand()
  doc.transact(() => {
    if (target instanceof Y.Map) {
      const key = `k${Math.floor(rand() * 3)}`
      if (pick < 0.45) target.set(key, rand() < 0.5 ? new Y.Map() : new Y.Array())
      else if (pick < 0.75) target.set(key, Math.floor(rand() * 100))
      else target.delete(key)
    } else if (target instanceof Y.Array) {
      if (pick < 0.45) target.insert(Math.floor(rand() * (target.length + 1)), [rand() < 0.5 ? new Y.Map() : new Y.Array()])
      else if (pick < 0.7) target.insert(Math.floor(rand() * (target.length + 1)), ['x', 'yz'])
      else if (target.length > 0) {
        const index = Math.floor(rand() * target.length)
        target.delete(index, Math.min(target.length - index, 2))
      }
    } else if (target instanceof Y.XmlElement || target instanceof Y.XmlFragment) {
      if (pick < 0.5) target.insert(Math.floor(rand() * (target.length + 1)), [new Y.XmlElement('p')])
      else if (pick < 0.7) target.insert(0, [new Y.XmlText('text')])
      else if (target.length > 0) target.delete(Math.floor(rand() * target.length), 1)
    } else if (target instanceof Y.XmlText && target.length > 1) {
      target.delete(0, 1)
    }
  })
}
