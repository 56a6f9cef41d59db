/**
 * The version-history part of the storage contract, run by the conformance
 * suite against every adapter (see `persistence.conformance.test.ts`).
 */
import * as Y from 'yjs'
import { expect, it } from 'vitest'
import { StorageError, hasVersions, type NewVersion, type Persistence, type VersionPolicy, type VersionStore } from '../persistence/types.js'

type Store = Persistence & VersionStore

export interface VersionSuiteOptions {
  /** Opens the adapter on a fresh location; `again` opens a second adapter on the same location when the storage allows it. */
  withStorage: (fn: (p: Persistence, again: (() => Promise<Persistence>) | undefined) => Promise<void>) => Promise<void>
  durable: boolean
  /** Closes the adapter and opens it again on the same location. */
  reopen?: (fn: (first: Persistence, reopen: () => Promise<Persistence>) => Promise<void>) => Promise<void>
}

const KEEP_ALL: VersionPolicy = { keepAuto: 1000, maxKept: 1000 }

/** A document that changes step by step: text inserts and deletes, formatting, map and array writes. */
class Evolving {
  readonly doc = new Y.Doc()
  private step = 0
  constructor (clientID = 1) {
    this.doc.clientID = clientID
  }

  /** One more edit; every few steps a deletion. */
  next (): void {
    const i = this.step++
    const text = this.doc.getText('t')
    this.doc.transact(() => {
      text.insert(Math.floor(text.length / 2), `w${i} `, i % 4 === 0 ? { bold: true } : {})
      if (i % 3 === 2 && text.length > 6) text.delete(2, 3)
      this.doc.getMap('m').set(`k${i % 4}`, i)
      if (i % 5 === 0) this.doc.getArray('a').push([{ n: i }])
      if (i % 7 === 6) this.doc.getArray('a').delete(0, 1)
    })
  }

  snapshot (): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc)
  }

  content (): unknown {
    return contentOf(this.doc)
  }
}

function contentOf (doc: Y.Doc): unknown {
  return { t: doc.getText('t').toDelta(), m: doc.getMap('m').toJSON(), a: doc.getArray('a').toJSON() }
}

function contentOfUpdate (update: Uint8Array): unknown {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return contentOf(doc)
}

function version (snapshot: Uint8Array, extra: Partial<NewVersion> = {}): NewVersion {
  return { kind: 'auto', label: null, snapshot, authors: [], createdAt: Date.now(), ...extra }
}

function store (p: Persistence): Store {
  expect(hasVersions(p)).toBe(true)
  return p as Store
}

async function add (p: Store, doc: string, snapshot: Uint8Array, extra: Partial<NewVersion> = {}, policy: VersionPolicy = KEEP_ALL): Promise<string> {
  const result = await p.addVersion(doc, version(snapshot, extra), policy)
  if (!('added' in result)) throw new Error(`not added: ${JSON.stringify(result)}`)
  return result.added.id
}

export function versionConformance ({ withStorage, durable, reopen }: VersionSuiteOptions): void {
  it('stores versions and reads each one back as it was, newest first', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const expected = new Map<string, unknown>()
    let bytes = 0
    for (let i = 0; i < 40; i++) {
      w.next()
      const snapshot = w.snapshot()
      const result = await p.addVersion('doc', version(snapshot, { kind: i % 10 === 0 ? 'named' : 'auto', label: i % 10 === 0 ? `step ${i}` : null }), KEEP_ALL)
      if (!('added' in result)) throw new Error('not added')
      expect(result.added).toMatchObject({ kind: i % 10 === 0 ? 'named' : 'auto', label: i % 10 === 0 ? `step ${i}` : null, bytes: snapshot.byteLength, authors: [] })
      expect(new Date(result.added.createdAt).toISOString()).toBe(result.added.createdAt)
      expected.set(result.added.id, w.content())
      bytes += snapshot.byteLength
    }
    const listed = await p.listVersions('doc', { limit: 1000 })
    expect(listed.map((v) => v.id)).toEqual([...expected.keys()].reverse())
    expect(new Set(listed.map((v) => v.id)).size).toBe(40)
    for (const [id, content] of expected) {
      const got = await p.getVersion('doc', id)
      expect(got?.version.id).toBe(id)
      expect(contentOfUpdate(got!.update)).toEqual(content)
    }
    expect(bytes).toBeGreaterThan(0)
    expect(await p.listVersions('other')).toEqual([])
  }))

  it('pages through versions with after and limit', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      w.next()
      ids.push(await add(p, 'doc', w.snapshot()))
    }
    const newestFirst = [...ids].reverse()
    expect((await p.listVersions('doc')).map((v) => v.id)).toEqual(newestFirst)
    const pages: string[] = []
    let after: string | undefined
    for (let i = 0; i < 10; i++) {
      const page = await p.listVersions('doc', { after, limit: 5 })
      if (page.length === 0) break
      expect(page.length).toBeLessThanOrEqual(5)
      pages.push(...page.map((v) => v.id))
      after = page[page.length - 1].id
    }
    expect(pages).toEqual(newestFirst)
    expect(await p.listVersions('doc', { after: ids[0] })).toEqual([])
    // An id that cannot be one lists nothing rather than failing.
    expect(await p.listVersions('doc', { after: 'nonsense' })).toEqual([])
  }))

  it('deletes versions anywhere in the chain and keeps the others readable', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const expected = new Map<string, unknown>()
    for (let i = 0; i < 24; i++) {
      w.next()
      expected.set(await add(p, 'doc', w.snapshot()), w.content())
    }
    const ids = [...expected.keys()]
    // The oldest (a keyframe), some in the middle, and the newest.
    for (const id of [ids[0], ids[5], ids[6], ids[13], ids[23]]) {
      expect(await p.deleteVersion('doc', id)).toBe(true)
      expect(await p.getVersion('doc', id)).toBeNull()
      expected.delete(id)
      for (const [other, content] of expected) expect(contentOfUpdate((await p.getVersion('doc', other))!.update)).toEqual(content)
    }
    expect((await p.listVersions('doc', { limit: 100 })).map((v) => v.id)).toEqual([...expected.keys()].reverse())
    expect(await p.deleteVersion('doc', ids[0])).toBe(false)
    expect(await p.deleteVersion('doc', 'nonsense')).toBe(false)
    expect(await p.deleteVersion('other', ids[1])).toBe(false)
    expect(await p.getVersion('doc', 'nonsense')).toBeNull()
    expect(await p.getVersion('other', ids[1])).toBeNull()
    // A new version after the deletions diffs against the newest that is left.
    w.next()
    const last = await add(p, 'doc', w.snapshot())
    expect(contentOfUpdate((await p.getVersion('doc', last))!.update)).toEqual(w.content())
    expect(ids).not.toContain(last)
  }))

  it('keeps at most keepAuto automatic versions, dropping the oldest, and never named or backup ones', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const policy: VersionPolicy = { keepAuto: 3, maxKept: 100 }
    const contents = new Map<string, unknown>()
    const kinds = new Map<string, string>()
    for (let i = 0; i < 16; i++) {
      w.next()
      const kind = i % 5 === 1 ? 'named' : i % 5 === 3 ? 'backup' : 'auto'
      const id = await add(p, 'doc', w.snapshot(), { kind, label: kind === 'named' ? `n${i}` : null }, policy)
      contents.set(id, w.content())
      kinds.set(id, kind)
    }
    const listed = await p.listVersions('doc', { limit: 100 })
    const autos = [...kinds].filter(([, k]) => k === 'auto').map(([id]) => id)
    const kept = [...kinds].filter(([, k]) => k !== 'auto').map(([id]) => id)
    expect(listed.filter((v) => v.kind === 'auto').map((v) => v.id)).toEqual(autos.slice(-3).reverse())
    expect(listed.filter((v) => v.kind !== 'auto').map((v) => v.id)).toEqual([...kept].reverse())
    for (const v of listed) expect(contentOfUpdate((await p.getVersion('doc', v.id))!.update)).toEqual(contents.get(v.id))
  }))

  it('refuses named and backup versions beyond maxKept, but keeps taking automatic ones', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const policy: VersionPolicy = { keepAuto: 10, maxKept: 2 }
    w.next()
    await add(p, 'doc', w.snapshot(), { kind: 'named', label: 'a' }, policy)
    await add(p, 'doc', w.snapshot(), { kind: 'backup' }, policy)
    expect(await p.addVersion('doc', version(w.snapshot(), { kind: 'named', label: 'c' }), policy)).toEqual({ refused: 'limit' })
    expect(await p.addVersion('doc', version(w.snapshot(), { kind: 'backup' }), policy)).toEqual({ refused: 'limit' })
    w.next()
    await add(p, 'doc', w.snapshot(), { kind: 'auto' }, policy)
    // Another document has its own count.
    await add(p, 'other', w.snapshot(), { kind: 'named', label: 'x' }, policy)
    expect((await p.listVersions('doc')).map((v) => v.kind)).toEqual(['auto', 'backup', 'named'])
  }))

  it('skips an unchanged state when asked: same state, or an older one, but not a deletion', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    const policy: VersionPolicy = { ...KEEP_ALL, skipIfUnchanged: true }
    w.next()
    const older = w.snapshot()
    w.next()
    await add(p, 'doc', w.snapshot(), { kind: 'named', label: 'x' })
    expect(await p.addVersion('doc', version(w.snapshot()), policy)).toEqual({ skipped: 'unchanged' })
    // A state the newest version already contains.
    expect(await p.addVersion('doc', version(older), policy)).toEqual({ skipped: 'unchanged' })
    // A deletion moves no state vector but is a change.
    w.doc.getText('t').delete(0, 1)
    const id = await add(p, 'doc', w.snapshot(), {}, policy)
    expect(contentOfUpdate((await p.getVersion('doc', id))!.update)).toEqual(w.content())
    // Without the flag the same state is stored again.
    await add(p, 'doc', w.snapshot())
    expect(await p.listVersions('doc')).toHaveLength(3)
  }))

  it('skips when the newest version is younger than skipIfNewerThanMs', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    w.next()
    await add(p, 'doc', w.snapshot(), { createdAt: 1_000_000 })
    w.next()
    const policy: VersionPolicy = { ...KEEP_ALL, skipIfNewerThanMs: 5000 }
    expect(await p.addVersion('doc', version(w.snapshot(), { createdAt: 1_004_999 }), policy)).toEqual({ skipped: 'recent' })
    await add(p, 'doc', w.snapshot(), { createdAt: 1_005_000 }, policy)
  }))

  it('stores a version whole when it does not contain the one before (diverged states)', () => withStorage(async (raw) => {
    const p = store(raw)
    const base = new Evolving(5)
    base.next()
    const left = new Y.Doc()
    const right = new Y.Doc()
    left.clientID = 6
    right.clientID = 7
    Y.applyUpdate(left, base.snapshot())
    Y.applyUpdate(right, base.snapshot())
    left.getText('t').insert(0, 'LEFT ')
    right.getText('t').insert(0, 'RIGHT ')
    right.getText('t').delete(6, 2)
    const a = await add(p, 'doc', Y.encodeStateAsUpdate(left))
    const b = await add(p, 'doc', Y.encodeStateAsUpdate(right))
    expect(contentOfUpdate((await p.getVersion('doc', a))!.update)).toEqual(contentOf(left))
    expect(contentOfUpdate((await p.getVersion('doc', b))!.update)).toEqual(contentOf(right))
  }))

  it('joins recorded authors into the next version only, sorted and without duplicates', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    w.next()
    await p.addAuthors('doc', ['bob', 'alice'])
    await p.addAuthors('doc', ['bob'])
    await p.addAuthors('other', ['zoe'])
    const first = await p.addVersion('doc', version(w.snapshot(), { authors: ['carol', 'alice'] }), KEEP_ALL)
    expect(first).toMatchObject({ added: { authors: ['alice', 'bob', 'carol'] } })
    w.next()
    expect(await p.addVersion('doc', version(w.snapshot()), KEEP_ALL)).toMatchObject({ added: { authors: [] } })
    // A skipped version takes no authors.
    await p.addAuthors('doc', ['dave'])
    expect(await p.addVersion('doc', version(w.snapshot()), { ...KEEP_ALL, skipIfUnchanged: true })).toEqual({ skipped: 'unchanged' })
    w.next()
    expect(await p.addVersion('doc', version(w.snapshot()), KEEP_ALL)).toMatchObject({ added: { authors: ['dave'] } })
    expect(await p.addVersion('other', version(w.snapshot()), KEEP_ALL)).toMatchObject({ added: { authors: ['zoe'] } })
  }))

  it('serializes versions of one document: the same state recorded twice at once is stored once', () => withStorage(async (raw, again) => {
    const p = store(raw)
    // Two instances sharing the store when it can be shared, else one taking both calls.
    const second = again === undefined ? p : store(await again())
    try {
      const w = new Evolving()
      for (let round = 0; round < 5; round++) {
        w.next()
        const policy: VersionPolicy = { ...KEEP_ALL, skipIfUnchanged: true }
        const results = await Promise.all([p.addVersion('doc', version(w.snapshot()), policy), second.addVersion('doc', version(w.snapshot()), policy)])
        expect(results.filter((r) => 'added' in r)).toHaveLength(1)
        expect(results.filter((r) => 'skipped' in r)).toHaveLength(1)
      }
      expect(await second.listVersions('doc')).toHaveLength(5)
    } finally {
      if (second !== p) await second.close()
    }
  }))

  it('deletes versions and recorded authors with their document, and nothing else', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    w.next()
    await p.store('gone', w.snapshot())
    const gone = await add(p, 'gone', w.snapshot(), { kind: 'named', label: 'x' })
    await add(p, 'gone/child', w.snapshot())
    await p.addAuthors('gone', ['alice'])
    await p.delete('gone')
    expect(await p.listVersions('gone')).toEqual([])
    expect(await p.getVersion('gone', gone)).toBeNull()
    expect(await p.listVersions('gone/child')).toHaveLength(1)
    // The recorded author went with the document.
    expect(await p.addVersion('gone', version(w.snapshot()), KEEP_ALL)).toMatchObject({ added: { authors: [] } })
  }))

  it('never reuses an id', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    w.next()
    const first = await add(p, 'doc', w.snapshot())
    expect(await p.deleteVersion('doc', first)).toBe(true)
    const second = await add(p, 'doc', w.snapshot())
    expect(second).not.toBe(first)
    await p.delete('doc')
    const third = await add(p, 'doc', w.snapshot())
    expect([first, second]).not.toContain(third)
  }))

  it('rejects version calls after close', () => withStorage(async (raw) => {
    const p = store(raw)
    const w = new Evolving()
    w.next()
    await p.close()
    await expect(p.addVersion('doc', version(w.snapshot()), KEEP_ALL)).rejects.toBeInstanceOf(StorageError)
    await expect(p.listVersions('doc')).rejects.toBeInstanceOf(StorageError)
    await expect(p.getVersion('doc', '1')).rejects.toBeInstanceOf(StorageError)
    await expect(p.deleteVersion('doc', '1')).rejects.toBeInstanceOf(StorageError)
    await expect(p.addAuthors('doc', ['a'])).rejects.toBeInstanceOf(StorageError)
  }))

  it.skipIf(!durable || reopen === undefined)('keeps versions and recorded authors across close and reopen', () => reopen!(async (first, again) => {
    const w = new Evolving()
    const expected = new Map<string, unknown>()
    for (let i = 0; i < 8; i++) {
      w.next()
      expected.set(await add(store(first), 'doc', w.snapshot()), w.content())
    }
    await store(first).addAuthors('doc', ['alice'])
    await first.close()
    const second = store(await again())
    try {
      expect((await second.listVersions('doc')).map((v) => v.id)).toEqual([...expected.keys()].reverse())
      for (const [id, content] of expected) expect(contentOfUpdate((await second.getVersion('doc', id))!.update)).toEqual(content)
      w.next()
      const result = await second.addVersion('doc', version(w.snapshot()), KEEP_ALL)
      expect(result).toMatchObject({ added: { authors: ['alice'] } })
      expect([...expected.keys()]).not.toContain((result as { added: { id: string } }).added.id)
    } finally {
      await second.close()
    }
  }))
}
