/**
 * Where the authors of the next version wait (src/history/authors.ts), on a
 * real memory store: in memory on a store of its own (bounded: the oldest
 * go to storage), in storage when instances share it, and never lost on the
 * way to a version.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MemoryPersistence } from '../persistence/memory.js'
import { AuthorLog } from '../src/history/authors.js'
import { until } from './helpers.js'

const logger = pino({ level: 'silent' })

function snapshot (): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'x')
  return Y.encodeStateAsUpdate(doc)
}

async function versionAuthors (store: MemoryPersistence, docName: string, authors: string[]): Promise<string[]> {
  const result = await store.addVersion(docName, { kind: 'named', label: null, snapshot: snapshot(), authors, createdAt: Date.now() }, { keepAuto: 10, maxKept: 100 })
  if (!('added' in result)) throw new Error('not added')
  return result.added.authors
}

describe('AuthorLog', () => {
  it('keeps authors in memory on a store of its own until a version takes them', async () => {
    const store = new MemoryPersistence()
    const log = new AuthorLog({ store, shared: false, flushAfterMs: 10, logger })
    log.add('doc', ['bob', 'alice'])
    log.add('doc', ['alice'])
    log.add('other', ['zoe'])
    expect(log.take('doc').sort()).toEqual(['alice', 'bob'])
    expect(log.take('doc')).toEqual([])
    // Nothing went to storage.
    expect(await versionAuthors(store, 'other', [])).toEqual([])
    log.giveBack('doc', ['carol'])
    expect(log.take('doc')).toEqual(['carol'])
    await log.close()
  })

  it('sends the oldest waiting documents to storage past its bound, where the next version finds them', async () => {
    const store = new MemoryPersistence()
    const log = new AuthorLog({ store, shared: false, flushAfterMs: 10, logger })
    for (let i = 0; i <= 10_000; i++) log.add(`doc-${i}`, [`user-${i}`])
    // The first document's authors left memory for storage.
    expect(log.take('doc-0')).toEqual([])
    const recorded = (doc: string): number => (store as unknown as { versions: Map<string, { authors: Set<string> }> }).versions.get(doc)?.authors.size ?? 0
    await until(() => recorded('doc-0') === 1, 'the spilled author in storage')
    expect(await versionAuthors(store, 'doc-0', [])).toEqual(['user-0'])
    expect(log.take('doc-10000')).toEqual(['user-10000'])
    // Too many authors for one document go to storage too.
    for (let i = 0; i <= 1000; i++) log.add('crowded', [`user-${i}`])
    expect(log.take('crowded')).toEqual([])
    await until(() => recorded('crowded') === 1001, 'a thousand and one authors in storage')
    expect(await versionAuthors(store, 'crowded', [])).toHaveLength(1001)
    await log.close()
  })

  it('writes authors to a shared store once per period, and what is pending at close', async () => {
    const store = new MemoryPersistence()
    const log = new AuthorLog({ store, shared: true, flushAfterMs: 30, logger })
    log.add('doc', ['alice'])
    log.add('doc', ['bob'])
    // Written to storage by the timer: another instance's version would find them.
    const recorded = (): number => (store as unknown as { versions: Map<string, { authors: Set<string> }> }).versions.get('doc')?.authors.size ?? 0
    await until(() => recorded() === 2, 'the authors in storage')
    expect(log.take('doc')).toEqual([])
    expect(await versionAuthors(store, 'doc', [])).toEqual(['alice', 'bob'])
    log.add('doc', ['carol'])
    await log.close()
    expect(await versionAuthors(store, 'doc', [])).toEqual(['carol'])
  })
})
