import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { serverDoc } from '../src/yjs/doc.js'

describe('serverDoc', () => {
  it('makes documents with unique guids and without the listeners only providers need', () => {
    const a = serverDoc()
    const b = serverDoc()
    expect(a.guid).not.toBe(b.guid)
    // Yjs keeps its listeners in `_observers`: if a release renames it, the listeners stay and this fails.
    const observers = (a as unknown as { _observers: unknown })._observers
    expect(observers).toBeInstanceOf(Map)
    expect([...(observers as Map<string, unknown>).keys()]).toEqual([])
    // The provider promises are shared by all server documents.
    expect(a.whenLoaded).toBe(b.whenLoaded)
    expect(a.whenSynced).toBe(b.whenSynced)
    // Stock Yjs documents have them.
    expect([...(new Y.Doc() as unknown as { _observers: Map<string, unknown> })._observers.keys()].sort()).toEqual(['load', 'sync'])
  })

  it('still emits and applies changes like any document', () => {
    const doc = serverDoc({ gcFilter: () => true })
    const seen: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => { seen.push(u) })
    const client = new Y.Doc()
    client.getText('t').insert(0, 'hello')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(client))
    expect(doc.getText('t').toString()).toBe('hello')
    expect(seen).toHaveLength(1)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, seen[0])
    expect(copy.getText('t').toString()).toBe('hello')
    doc.destroy()
  })
})
