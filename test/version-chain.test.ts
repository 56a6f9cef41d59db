/**
 * How versions are stored (persistence/version-chain.ts), below the
 * adapters: a diff holds only what changed since the version before (new
 * structs, new deletions), keyframes come when the diffs outweigh a
 * snapshot, and every version reads back whole.
 */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { chainFor, materialize, planAdd, type VersionBody, type VersionRow } from '../persistence/version-chain.js'
import type { NewVersion, VersionPolicy } from '../persistence/types.js'

const POLICY: VersionPolicy = { keepAuto: 1000, maxKept: 1000 }

/** The rows of one document, kept in memory the way an adapter applies plans. */
class Chain {
  rows: VersionRow[] = []
  bodies = new Map<number, VersionBody>()
  private seq = 0

  async add (snapshot: Uint8Array): Promise<VersionRow> {
    const version: NewVersion = { kind: 'auto', label: null, snapshot, authors: [], createdAt: Date.now() }
    const plan = await planAdd(this.rows, async (seq) => this.bodies.get(seq)!, version, POLICY, [])
    if ('result' in plan) throw new Error(JSON.stringify(plan.result))
    for (const op of plan.ops) {
      if (op.op !== 'insert') throw new Error('no retention expected')
      const row = { ...op.row, seq: ++this.seq }
      this.rows.push(row)
      this.bodies.set(row.seq, op.body)
    }
    return this.rows[this.rows.length - 1]
  }

  read (seq: number): string {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, materialize(chainFor(this.rows, seq).map((r) => this.bodies.get(r.seq)!.data)))
    return doc.getText('text').toString()
  }
}

describe('version chain', () => {
  it('stores a small change after many deletions as a small diff, not the whole delete set again', async () => {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    text.insert(0, 'x'.repeat(4000))
    // Every other character deleted: a delete set of 2,000 ranges (about 6 KB).
    for (let i = 0; i < 2000; i++) text.delete(i, 1)
    const chain = new Chain()
    const first = await chain.add(Y.encodeStateAsUpdate(doc))
    expect(first.keyframe).toBe(true)
    const contents: string[] = [text.toString()]
    for (let i = 0; i < 20; i++) {
      text.insert(0, 'y')
      const row = await chain.add(Y.encodeStateAsUpdate(doc))
      contents.push(text.toString())
      expect(row.keyframe).toBe(false)
      expect(row.storedBytes).toBeLessThan(64)
    }
    // A new deletion is in the diff that follows it.
    text.delete(5, 3)
    const deleting = await chain.add(Y.encodeStateAsUpdate(doc))
    contents.push(text.toString())
    expect(deleting.storedBytes).toBeLessThan(64)
    chain.rows.forEach((row, i) => { expect(chain.read(row.seq)).toBe(contents[i]) })
  })

  it('makes a keyframe once the diffs since the last one outweigh a snapshot', async () => {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    text.insert(0, 'start')
    const chain = new Chain()
    await chain.add(Y.encodeStateAsUpdate(doc))
    const contents = [text.toString()]
    for (let i = 0; i < 60; i++) {
      text.insert(text.length, ` word${i}`)
      await chain.add(Y.encodeStateAsUpdate(doc))
      contents.push(text.toString())
    }
    const keyframes = chain.rows.filter((r) => r.keyframe)
    expect(keyframes.length).toBeGreaterThan(1)
    for (const [i, row] of chain.rows.entries()) {
      // The diffs read for any version stay within a snapshot's size.
      const diffs = chainFor(chain.rows, row.seq).slice(1).reduce((sum, r) => sum + r.storedBytes, 0)
      expect(diffs).toBeLessThanOrEqual(row.bytes)
      expect(chain.read(row.seq)).toBe(contents[i])
    }
  })
})
