/**
 * inspectUpdate predicts, without applying, what Yjs would do with an update:
 * how deep the types it creates would be and whether anything would be kept
 * pending. Every prediction here is checked against what real Yjs then does.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { inspectUpdate, type UpdateInspection } from '../src/yjs/update-inspect.js'
import { prng } from './helpers.js'

/** A doc with a fixed client id whose own (local) updates are captured. */
function editor (clientID: number): { doc: Y.Doc; updates: Uint8Array[] } {
  const doc = new Y.Doc()
  doc.clientID = clientID
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array, _origin: unknown, _doc: Y.Doc, tr: Y.Transaction) => { if (tr.local) updates.push(u) })
  return { doc, updates }
}

/** Nests `levels` maps under `parent` (key "child"), in one transaction; returns the innermost. */
function nestMaps (parent: Y.Map<any>, levels: number): Y.Map<any> {
  let m = parent
  ;(parent.doc as Y.Doc).transact(() => {
    for (let i = 0; i < levels; i++) {
      const child = new Y.Map()
      m.set('child', child)
      m = child
    }
  })
  return m
}

/** Applies `update` to a copy of `doc` and says whether Yjs kept anything pending. */
function yjsKeepsPending (doc: Y.Doc, update: Uint8Array): boolean {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  Y.applyUpdate(copy, update)
  return copy.store.pendingStructs !== null || copy.store.pendingDs !== null
}

/** The deepest type in a doc, found by walking every type item upward. */
function deepestType (doc: Y.Doc): number {
  let deepest = 0
  for (const structs of doc.store.clients.values()) {
    for (const s of structs) {
      if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentType)) continue
      let depth = 0
      for (let t: Y.AbstractType<any> | null = s.content.type; t !== null && t._item !== null; t = t._item.parent as Y.AbstractType<any>) depth++
      deepest = Math.max(deepest, depth)
    }
  }
  return deepest
}

function expectStatus (result: UpdateInspection, status: UpdateInspection['status']): void {
  expect(result.status, JSON.stringify(result)).toBe(status)
}

describe('inspectUpdate', () => {
  it('passes a keystroke and leaves the document untouched', () => {
    const a = editor(1)
    a.doc.getText('text').insert(0, 'hello')
    const server = new Y.Doc()
    for (const u of a.updates) Y.applyUpdate(server, u)
    a.updates.length = 0
    a.doc.getText('text').insert(5, '!')
    const before = Y.encodeStateAsUpdate(server)
    let transactions = 0
    server.on('beforeTransaction', () => transactions++)
    const result = inspectUpdate(server, a.updates[0], { maxDepth: 4 })
    expect(result).toEqual({ status: 'ok', depth: 0, valueDepth: 0, structs: 1, deletes: 0 })
    expect(transactions).toBe(0)
    expect(Y.encodeStateAsUpdate(server)).toEqual(before)
  })

  it('reports the depth of nested types and refuses beyond maxDepth', () => {
    const a = editor(1)
    nestMaps(a.doc.getMap('root'), 5)
    const update = a.updates[0]
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 5 })).toMatchObject({ status: 'ok', depth: 5 })
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 4 })).toMatchObject({ status: 'too-deep', limit: 'types', depth: 5 })
  })

  it('counts Y.Array and Y.XmlElement nesting the same way', () => {
    const a = editor(1)
    a.doc.transact(() => {
      let xml: Y.XmlFragment = a.doc.getXmlFragment('prosemirror')
      for (let i = 0; i < 3; i++) {
        const el = new Y.XmlElement('bullet_list')
        xml.insert(0, [el])
        xml = el
      }
      xml.insert(0, [new Y.XmlText('leaf')])
      const outer = new Y.Array()
      a.doc.getArray('arrays').insert(0, [outer])
      outer.insert(0, [new Y.Array()])
    })
    // Three elements and the text inside the innermost one.
    expect(inspectUpdate(new Y.Doc(), a.updates[0], { maxDepth: 10 })).toMatchObject({ status: 'ok', depth: 4 })
    expect(deepestType(a.doc)).toBe(4)
  })

  it('adds the depth the document already has', () => {
    const a = editor(1)
    const deepest = nestMaps(a.doc.getMap('root'), 6)
    const server = new Y.Doc()
    for (const u of a.updates) Y.applyUpdate(server, u)
    a.updates.length = 0
    deepest.set('one-more', new Y.Map())
    const update = a.updates[0]
    // The update holds one type item whose parent is in the document.
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 6 }).status).toBe('missing')
    expect(inspectUpdate(server, update, { maxDepth: 7 })).toMatchObject({ status: 'ok', depth: 7 })
    expect(inspectUpdate(server, update, { maxDepth: 6 })).toMatchObject({ status: 'too-deep', depth: 7 })
  })

  it('follows an origin into the middle of a multi-character item of another client', () => {
    const a = editor(1)
    let text!: Y.Text
    a.doc.transact(() => {
      text = new Y.Text()
      nestMaps(a.doc.getMap('root'), 2).set('text', text)
      text.insert(0, 'hello')
    })
    const b = editor(2)
    Y.applyUpdate(b.doc, a.updates[0])
    b.doc.transact(() => {
      const embed = new Y.Map()
      ;(nestMaps(b.doc.getMap('root'), 0).get('child').get('child').get('text') as Y.Text).insertEmbed(2, embed)
      embed.set('inner', new Y.Map())
    })
    // mergeUpdates keeps "hello" as one struct; the embed's origin is its second character.
    const merged = Y.mergeUpdates([a.updates[0], b.updates[0]])
    const decoded = Y.decodeUpdate(merged).structs as Y.Item[]
    const hello = decoded.find((s) => s.content instanceof Y.ContentString) as Y.Item
    const embedItem = decoded.find((s) => s.id.client === 2 && s.origin !== null && s.origin.client === 1) as Y.Item
    expect(hello.length).toBe(5)
    expect(embedItem.origin).toEqual(Y.createID(1, hello.id.clock + 1))
    // root → child (1) → child (2) → text (3) → embed (4) → inner (5)
    expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 10 })).toMatchObject({ status: 'ok', depth: 5 })
    expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 4 })).toMatchObject({ status: 'too-deep', depth: 5 })
    const check = new Y.Doc()
    Y.applyUpdate(check, merged)
    expect(deepestType(check)).toBe(5)
  })

  it('finds a parent in another client\'s structs within the same update', () => {
    // Client 1 has the higher id, so Yjs integrates client 2's structs first and must jump.
    const a = editor(9)
    const inner = nestMaps(a.doc.getMap('root'), 3)
    const b = editor(2)
    Y.applyUpdate(b.doc, a.updates[0])
    b.doc.transact(() => {
      (nestMaps(b.doc.getMap('root'), 0).get('child').get('child').get('child') as Y.Map<any>).set('b', new Y.Map())
    })
    expect(inner).toBeInstanceOf(Y.Map)
    const merged = Y.mergeUpdates([b.updates[0], a.updates[0]])
    const update = Y.decodeUpdate(merged)
    const bItem = update.structs.find((s) => s.id.client === 2) as Y.Item
    expect(bItem.parent).toEqual(Y.createID(9, 2))
    expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 4 })).toMatchObject({ status: 'ok', depth: 4 })
    expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 3 })).toMatchObject({ status: 'too-deep', depth: 4 })
  })

  it('resolves a 30,000-item origin chain without recursion', () => {
    // What 30,000 pushes onto root.list encode to: a list, then maps each after the previous.
    const count = 30_000
    const update = bytes((e) => {
      encoding.writeVarUint(e, 1) // one client
      encoding.writeVarUint(e, count + 1)
      encoding.writeVarUint(e, 1) // client 1
      encoding.writeVarUint(e, 0) // from clock 0
      encoding.writeUint8(e, 7 | 32) // a type, with a key; parent follows
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, 'root')
      encoding.writeVarString(e, 'list')
      encoding.writeVarUint(e, 0) // Y.Array
      encoding.writeUint8(e, 7)
      encoding.writeVarUint(e, 0) // parent: the list item
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 0)
      encoding.writeVarUint(e, 1) // Y.Map
      for (let clock = 2; clock <= count; clock++) {
        encoding.writeUint8(e, 7 | 128) // a type after its origin
        encoding.writeVarUint(e, 1)
        encoding.writeVarUint(e, clock - 1)
        encoding.writeVarUint(e, 1)
      }
      encoding.writeVarUint(e, 0) // no deletions
    })
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 2 })).toMatchObject({ status: 'ok', depth: 2, structs: count + 1 })
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 1 })).toMatchObject({ status: 'too-deep', depth: 2 })
    const check = new Y.Doc()
    Y.applyUpdate(check, update)
    expect((check.getMap('root').get('list') as Y.Array<unknown>).length).toBe(count)
    expect(deepestType(check)).toBe(2)
  })

  it('resolves a type after 10,000 characters typed by two clients in turn', () => {
    // Each character's origin is the previous one, of the other client; the
    // embedded map at the end is only placed by following all of them.
    const chars = 10_000
    const update = bytes((e) => {
      encoding.writeVarUint(e, 2)
      for (const client of [2, 1]) {
        const own = client === 1 ? chars / 2 + 1 : chars / 2
        encoding.writeVarUint(e, own)
        encoding.writeVarUint(e, client)
        encoding.writeVarUint(e, 0)
        for (let clock = 0; clock < chars / 2; clock++) {
          const k = clock * 2 + (client === 1 ? 0 : 1) // position in the text
          if (k === 0) {
            encoding.writeUint8(e, 4)
            encoding.writeVarUint(e, 1)
            encoding.writeVarString(e, 'text')
          } else {
            encoding.writeUint8(e, 4 | 128)
            encoding.writeVarUint(e, client === 1 ? 2 : 1)
            encoding.writeVarUint(e, client === 1 ? clock - 1 : clock)
          }
          encoding.writeVarString(e, 'x')
        }
        if (client === 1) {
          encoding.writeUint8(e, 7 | 128) // the embedded map, after the last character
          encoding.writeVarUint(e, 2)
          encoding.writeVarUint(e, chars / 2 - 1)
          encoding.writeVarUint(e, 1)
        }
      }
      encoding.writeVarUint(e, 0)
    })
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 1 })).toMatchObject({ status: 'ok', depth: 1 })
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 0 })).toMatchObject({ status: 'too-deep', depth: 1 })
    const check = new Y.Doc()
    Y.applyUpdate(check, update)
    const delta = check.getText('text').toDelta() as Array<{ insert: unknown }>
    expect(delta[0].insert).toBe('x'.repeat(chars))
    expect(delta[1].insert).toBeInstanceOf(Y.Map)
  })

  it('measures a 20,000-deep chain in the update without overflowing', () => {
    const a = editor(1)
    nestMaps(a.doc.getMap('root'), 20_000)
    const update = Y.encodeStateAsUpdate(a.doc)
    expect(inspectUpdate(new Y.Doc(), update, { maxDepth: 64 })).toMatchObject({ status: 'too-deep', depth: 20_000 })
  })

  it('refuses deeply nested values', () => {
    const a = editor(1)
    let value: unknown = 'leaf'
    for (let i = 0; i < 100; i++) value = i % 2 === 0 ? [value] : { v: value }
    a.doc.getMap('root').set('deep', value)
    a.doc.getText('text').insertEmbed(0, { a: [[{ b: 1 }]] })
    expect(inspectUpdate(new Y.Doc(), a.updates[0], { maxValueDepth: 100 })).toMatchObject({ status: 'ok', valueDepth: 100 })
    expect(inspectUpdate(new Y.Doc(), a.updates[0], { maxValueDepth: 99 })).toMatchObject({ status: 'too-deep', limit: 'values', valueDepth: 100 })
    const server = new Y.Doc()
    Y.applyUpdate(server, a.updates[0])
    expect(inspectUpdate(server, a.updates[1], { maxValueDepth: 4 })).toMatchObject({ status: 'ok', valueDepth: 4 })
    expect(inspectUpdate(server, a.updates[1], { maxValueDepth: 3 })).toMatchObject({ status: 'too-deep', valueDepth: 4 })
  })

  describe('missing dependencies, each confirmed by Yjs keeping the update pending', () => {
    function setup () {
      const a = editor(5)
      const text = a.doc.getText('text')
      text.insert(0, 'abcde') // clocks 0–4
      text.insert(5, 'fgh') // clocks 5–7
      const map = a.doc.getMap('map')
      map.set('m', new Y.Map()) // clock 8
      return { a, text, map }
    }

    it('a later clock of a client without the earlier ones', () => {
      const { a } = setup()
      const result = inspectUpdate(new Y.Doc(), a.updates[1], { maxDepth: 8 })
      expect(result).toMatchObject({ status: 'missing', missing: { kind: 'clock-gap', client: 5, clock: 0 } })
      expect(yjsKeepsPending(new Y.Doc(), a.updates[1])).toBe(true)
    })

    it('an origin, a right origin or a parent the document lacks', () => {
      const { a } = setup()
      const server = new Y.Doc()
      Y.applyUpdate(server, a.updates[0]) // only "abcde"
      const edits: Array<[string, number, (doc: Y.Doc) => void]> = [
        ['origin', 7, (doc) => doc.getText('text').insert(8, 'X')],
        ['right-origin', 0, (doc) => doc.getText('text').insert(0, 'Y')],
        ['parent', 8, (doc) => (doc.getMap('map').get('m') as Y.Map<any>).set('k', 1)]
      ]
      const full = new Y.Doc()
      Y.applyUpdate(full, Y.encodeStateAsUpdate(a.doc))
      for (const [kind, clock, edit] of edits) {
        const b = editor(7)
        Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc))
        edit(b.doc)
        const update = b.updates[0]
        // The right origin is "a", which the server has: a fresh doc lacks it.
        const target = kind === 'right-origin' ? new Y.Doc() : server
        expect(inspectUpdate(target, update, { maxDepth: 8 })).toMatchObject({ status: 'missing', missing: { kind, client: 5, clock } })
        expect(yjsKeepsPending(target, update)).toBe(true)
        // With everything present, the same update is fine.
        expect(inspectUpdate(full, update, { maxDepth: 8 }).status).toBe('ok')
        expect(yjsKeepsPending(full, update)).toBe(false)
      }
    })

    it('a deletion of clocks nobody has', () => {
      const { a, text } = setup()
      const server = new Y.Doc()
      Y.applyUpdate(server, a.updates[0])
      a.updates.length = 0
      text.delete(6, 1) // deletes client 5, clock 6
      const result = inspectUpdate(server, a.updates[0], { maxDepth: 8 })
      expect(result).toMatchObject({ status: 'missing', missing: { kind: 'delete', client: 5 } })
      expect(yjsKeepsPending(server, a.updates[0])).toBe(true)
    })

    it('a Skip struct left by merging updates with a gap', () => {
      const { a } = setup()
      const merged = Y.mergeUpdates([a.updates[0], a.updates[2]])
      expect(Y.decodeUpdate(merged).structs.some((s) => s instanceof Y.Skip)).toBe(true)
      expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 8 })).toMatchObject({ status: 'missing', missing: { kind: 'skip', client: 5 } })
      expect(yjsKeepsPending(new Y.Doc(), merged)).toBe(true)
    })

    it('a dependency that the same update provides is not missing', () => {
      const { a } = setup()
      const b = editor(2)
      Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc))
      ;(b.doc.getMap('map').get('m') as Y.Map<any>).set('k', new Y.Map())
      const merged = Y.mergeUpdates([...a.updates, ...b.updates])
      expect(inspectUpdate(new Y.Doc(), merged, { maxDepth: 8 })).toMatchObject({ status: 'ok', depth: 2 })
      expect(yjsKeepsPending(new Y.Doc(), merged)).toBe(false)
    })
  })

  describe('malformed and empty updates', () => {
    it('an update with no structs and no deletions is empty', () => {
      expect(inspectUpdate(new Y.Doc(), new Uint8Array([0, 0]))).toEqual({ status: 'empty' })
      expect(inspectUpdate(new Y.Doc(), Y.encodeStateAsUpdate(new Y.Doc()))).toEqual({ status: 'empty' })
    })

    it('a V2 update is malformed and recognised as V2', () => {
      const a = editor(1)
      const v2: Uint8Array[] = []
      a.doc.on('updateV2', (u: Uint8Array) => v2.push(u))
      a.doc.getText('text').insert(0, 'typed in V2')
      a.doc.getMap('map').set('k', new Y.Map())
      for (const update of v2) {
        const result = inspectUpdate(new Y.Doc(), update)
        expect(result).toMatchObject({ status: 'malformed', v2: true })
      }
      // What Yjs makes of the same bytes as V1: nothing, silently.
      const doc = new Y.Doc()
      let emitted = 0
      doc.on('update', () => emitted++)
      Y.applyUpdate(doc, v2[0])
      expect(emitted).toBe(0)
    })

    it.each<[string, Uint8Array]>([
      ['garbage', new Uint8Array([255, 255, 255, 255, 1, 2, 3])],
      ['a truncated update', new Uint8Array([1, 1, 5, 0, 4, 1, 3])],
      ['trailing bytes', new Uint8Array([0, 0, 7])],
      ['an unknown content kind', new Uint8Array([1, 1, 5, 0, 11, 0, 0])],
      ['a zero-length string', bytes((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 0); encoding.writeUint8(e, 4); encoding.writeVarUint(e, 1); encoding.writeVarString(e, 't'); encoding.writeVarString(e, ''); encoding.writeVarUint(e, 0) })],
      ['a client listed twice', bytes((e) => { encoding.writeVarUint(e, 2); for (let i = 0; i < 2; i++) { encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 0); encoding.writeUint8(e, 0); encoding.writeVarUint(e, 1) } encoding.writeVarUint(e, 0) })],
      ['an origin pointing at itself', bytes((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 0); encoding.writeUint8(e, 4 | 128); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'x'); encoding.writeVarUint(e, 0) })],
      ['a count of a billion structs', bytes((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1e9); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 0) })]
    ])('%s is malformed', (_name, update) => {
      expect(inspectUpdate(new Y.Doc(), update)).toMatchObject({ status: 'malformed', v2: false })
    })
  })

  it('agrees with Yjs on random concurrent edits delivered out of order', () => {
    const rand = prng(42)
    for (let round = 0; round < 8; round++) {
      const editors = [editor(10 + round * 3), editor(11 + round * 3), editor(12 + round * 3)]
      for (let step = 0; step < 40; step++) {
        const e = editors[Math.floor(rand() * editors.length)]
        randomEdit(e.doc, rand)
        // Now and then two editors sync, so later edits build on each other.
        if (rand() < 0.3) {
          const other = editors[Math.floor(rand() * editors.length)]
          Y.applyUpdate(other.doc, Y.encodeStateAsUpdate(e.doc, Y.encodeStateVector(other.doc)))
        }
      }
      const queue = editors.flatMap((e) => e.updates)
      for (let i = queue.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1))
        ;[queue[i], queue[j]] = [queue[j], queue[i]]
      }
      // The server holds back what inspection calls missing and retries it later.
      // Without gc, deleted types stay in its store, so the depth of types that
      // are created and at once deleted (inside a deleted parent) can be checked.
      const server = new Y.Doc({ gc: false })
      let held = 0
      for (let attempts = queue.length * queue.length; queue.length > 0 && attempts > 0; attempts--) {
        const update = queue.shift() as Uint8Array
        const result = inspectUpdate(server, update, { maxDepth: 1000 })
        if (result.status === 'missing') {
          expect(yjsKeepsPending(server, update)).toBe(true)
          queue.push(update)
          held++
          continue
        }
        expect(result.status).toBe('ok')
        const depth = deepestNew(server, () => Y.applyUpdate(server, update))
        expect(server.store.pendingStructs).toBeNull()
        expect(server.store.pendingDs).toBeNull()
        expect((result as { depth: number }).depth).toBe(depth)
      }
      expect(queue).toEqual([])
      expect(held).toBeGreaterThan(0)
      const everything = new Y.Doc()
      for (const e of editors) Y.applyUpdate(everything, Y.encodeStateAsUpdate(e.doc))
      expect(server.getMap('root').toJSON()).toEqual(everything.getMap('root').toJSON())
      expect(server.getXmlFragment('xml').toString()).toEqual(everything.getXmlFragment('xml').toString())
    }
  })
})

function bytes (write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

/** Runs `apply` and returns the depth of the deepest type item it added. */
function deepestNew (doc: Y.Doc, apply: () => void): number {
  const before = Y.decodeStateVector(Y.encodeStateVector(doc))
  apply()
  let deepest = 0
  for (const [client, structs] of doc.store.clients) {
    const from = before.get(client) ?? 0
    for (const s of structs) {
      if (s.id.clock < from || !(s instanceof Y.Item) || !(s.content instanceof Y.ContentType)) continue
      let depth = 0
      for (let t: Y.AbstractType<any> | null = s.content.type; t !== null && t._item !== null; t = t._item.parent as Y.AbstractType<any>) depth++
      deepest = Math.max(deepest, depth)
    }
  }
  return deepest
}

/** One random edit: nest a map, array or element somewhere, type, set, or delete. */
function randomEdit (doc: Y.Doc, rand: () => number): void {
  const types: Array<Y.AbstractType<any>> = [doc.getMap('root'), doc.getArray('list'), doc.getXmlFragment('xml')]
  // Collect live nested types (bounded: docs here are small).
  for (let i = 0; i < types.length && types.length < 200; i++) {
    const t = types[i]
    const children = t instanceof Y.Map ? [...t.values()] : t instanceof Y.Array ? t.toArray() : t instanceof Y.XmlFragment ? t.toArray() : []
    for (const c of children) if (c instanceof Y.AbstractType) types.push(c)
  }
  const target = types[Math.floor(rand() * types.length)]
  const pick = rand()
  doc.transact(() => {
    if (target instanceof Y.Map) {
      if (pick < 0.5) target.set(`k${Math.floor(rand() * 3)}`, rand() < 0.5 ? new Y.Map() : new Y.Array())
      else if (pick < 0.8) target.set(`v${Math.floor(rand() * 3)}`, Math.floor(rand() * 100))
      else if (target.size > 0) target.delete([...target.keys()][0])
    } else if (target instanceof Y.Array) {
      if (pick < 0.5) target.insert(Math.floor(rand() * (target.length + 1)), [rand() < 0.5 ? new Y.Map() : new Y.Array()])
      else if (pick < 0.8) target.insert(Math.floor(rand() * (target.length + 1)), ['x', 'y'])
      else if (target.length > 0) target.delete(Math.floor(rand() * target.length), 1)
    } else if (target instanceof Y.XmlFragment) {
      if (pick < 0.6) target.insert(Math.floor(rand() * (target.length + 1)), [rand() < 0.7 ? new Y.XmlElement('p') : new Y.XmlText('t')])
      else if (target.length > 0) target.delete(Math.floor(rand() * target.length), 1)
    }
  })
}
