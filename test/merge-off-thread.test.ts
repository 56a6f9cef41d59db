/** Compaction's merge off the event loop gives what the merge on the calling thread gives, poisoned rows included. */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { OffThreadMerger } from '../src/yjs/merge-off-thread.js'
import { mergeStoredUpdates } from '../src/yjs/stored-updates.js'

function rowsOfText (count: number): Uint8Array[] {
  const doc = new Y.Doc()
  const rows: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => rows.push(u))
  const text = doc.getText('t')
  for (let i = 0; i < count; i++) {
    doc.clientID = 1 + (i % 4)
    text.insert((i * 7919) % (text.length + 1), `w${i} `)
    if (i % 5 === 4) text.delete(0, 2)
  }
  return rows
}

describe('OffThreadMerger', () => {
  it('merges a large document in its worker to the same state as the merge on this thread', async () => {
    const rows = rowsOfText(6000)
    expect(rows.reduce((sum, r) => sum + r.byteLength, 0)).toBeGreaterThan(64 * 1024)
    const merger = new OffThreadMerger()
    try {
      const { merged, stateVector } = await merger.merge(rows)
      // In the worker, not in the fallback on this thread.
      expect(merger.stats).toEqual({ offThread: 1, here: 0 })
      const here = new Y.Doc()
      Y.applyUpdate(here, mergeStoredUpdates(rows))
      const there = new Y.Doc()
      Y.applyUpdate(there, merged)
      expect(there.getText('t').toString()).toBe(here.getText('t').toString())
      expect(stateVector).toEqual(Y.encodeStateVector(here))
      expect(Y.equalDeleteSets(Y.createDeleteSetFromStructStore(there.store), Y.createDeleteSetFromStructStore(here.store))).toBe(true)
    } finally {
      await merger.close()
    }
  })

  it('falls back to the flat merge on this thread for rows that overflow in the worker', async () => {
    // A 10,000-deep chain of maps, then its deletion bottom-up in ten rows (stored before nesting was limited).
    const depth = 10_000
    const doc = new Y.Doc()
    doc.clientID = 1
    const links: Array<Y.Map<unknown>> = []
    doc.transact(() => {
      let parent = doc.getMap<unknown>('root')
      parent.set('filler', 'x'.repeat(70 * 1024))
      for (let i = 0; i < depth; i++) {
        const child = new Y.Map<unknown>()
        parent.set('child', child)
        links.push(child)
        parent = child
      }
    })
    const sent = [Y.encodeStateAsUpdate(doc)]
    doc.on('update', (u: Uint8Array) => sent.push(u))
    for (let b = 0; b < 10; b++) {
      doc.transact(() => {
        for (let i = depth - b * 1000 - 1; i >= depth - (b + 1) * 1000; i--) (links[i]._item?.parent as Y.Map<unknown>).delete('child')
      })
    }
    const live = new Y.Doc()
    const rows: Uint8Array[] = []
    live.on('update', (u: Uint8Array) => rows.push(u))
    for (const u of sent) Y.applyUpdate(live, u)
    const merger = new OffThreadMerger()
    try {
      const { merged } = await merger.merge(rows)
      const loaded = new Y.Doc()
      Y.applyUpdate(loaded, merged)
      expect((loaded.getMap('root').get('filler') as string).length).toBe(70 * 1024)
      expect(loaded.getMap('root').has('child')).toBe(false)
    } finally {
      await merger.close()
    }
  })
})
