/**
 * The register conflict rule on bare documents: whatever order updates arrive
 * in, every replica keeps the same value.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { register } from '../src/client/register.js'

function replica (clientID: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return doc
}

describe('register', () => {
  it('settles concurrent sets on the higher client id, in any delivery order', () => {
    for (const [low, high] of [[5, 9], [1000, 2]] as const) {
      const a = replica(low)
      const b = replica(high)
      register<{ k: string }>(a, 'r').set('k', 'from a')
      register<{ k: string }>(b, 'r').set('k', 'from b')
      const ua = Y.encodeStateAsUpdate(a)
      const ub = Y.encodeStateAsUpdate(b)
      const first = replica(77)
      Y.applyUpdate(first, ua)
      Y.applyUpdate(first, ub)
      const second = replica(78)
      Y.applyUpdate(second, ub)
      Y.applyUpdate(second, ua)
      Y.applyUpdate(a, ub)
      Y.applyUpdate(b, ua)
      const winner = low > high ? 'from a' : 'from b'
      for (const doc of [a, b, first, second]) expect(register<{ k: string }>(doc, 'r').get('k')).toBe(winner)
    }
  })

  it('lets a set that saw the other win, whatever the client ids', () => {
    const a = replica(1)
    const b = replica(2)
    register<{ k: string }>(b, 'r').set('k', 'first, by the higher id')
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
    register<{ k: string }>(a, 'r').set('k', 'second, by the lower id')
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    expect(register<{ k: string }>(b, 'r').get('k')).toBe('second, by the lower id')
  })

  it('observes one key only, tells local from remote, and unsubscribes', () => {
    const a = replica(1)
    const b = replica(2)
    const ra = register<{ title: string, other: number }>(a, 'room')
    const seen: Array<[string | undefined, boolean]> = []
    const stop = ra.observe('title', (value, { local }) => seen.push([value, local]))
    ra.set('other', 1)
    ra.set('title', 'mine')
    register<{ title: string }>(b, 'room').set('title', 'theirs')
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
    ra.delete('title')
    stop()
    ra.set('title', 'unseen')
    expect(seen).toEqual([['mine', true], ['theirs', false], [undefined, true]])
    expect(ra.toJSON()).toEqual({ title: 'unseen', other: 1 })
    expect(() => ra.set('title', undefined as any)).toThrow(TypeError)
  })
})
