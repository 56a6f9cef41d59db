/** Batches are merged in rounds; the result must equal applying every update. */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { mergeMany } from '../src/write-queue.js'
import { prng } from './helpers.js'

describe('mergeMany', () => {
  it.each([1, 2, 31, 32, 33, 1000, 1025])('merges %i updates from several clients into the same document', (count) => {
    const rand = prng(count)
    const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    const updates: Uint8Array[] = []
    for (const d of docs) d.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; updates.length < count; i++) {
      const d = docs[Math.floor(rand() * docs.length)]
      const text = d.getText('t')
      if (text.length > 3 && rand() < 0.2) text.delete(Math.floor(rand() * (text.length - 1)), 1)
      else text.insert(Math.floor(rand() * (text.length + 1)), String(i % 10))
    }
    const expected = new Y.Doc()
    for (const u of updates) Y.applyUpdate(expected, u)
    const merged = new Y.Doc()
    Y.applyUpdate(merged, mergeMany(updates))
    expect(merged.getText('t').toString()).toBe(expected.getText('t').toString())
    expect(Y.encodeStateVector(merged)).toEqual(Y.encodeStateVector(expected))
  })
})
