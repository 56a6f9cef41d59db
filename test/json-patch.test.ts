/** RFC 6902 JSON Patch on a Y.Doc: the mapping to shared types, all-or-nothing, limits. */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { rootKind, updateToJson } from '../src/doc-json.js'
import { applyJsonPatch, JsonPatchError, JSON_PATCH_DEFAULTS, type JsonPatchOptions } from '../src/json-patch/index.js'
import { textDiff } from '../src/text-diff.js'

/**
 * A document as the server holds it: built by a client with typed roots, then
 * loaded from an update, so no root knows its type.
 */
function serverDoc (build: (client: Y.Doc) => void): Y.Doc {
  const client = new Y.Doc()
  build(client)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(client))
  client.destroy()
  return doc
}

function view (doc: Y.Doc): Record<string, unknown> {
  return updateToJson(Y.encodeStateAsUpdate(doc))
}

/** A second replica that has everything `doc` has now. */
function replica (doc: Y.Doc): Y.Doc {
  const other = new Y.Doc()
  Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
  return other
}

function sync (a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

function patch (doc: Y.Doc, ops: unknown, options?: JsonPatchOptions): { changed: boolean } {
  return applyJsonPatch(doc, ops, options)
}

/** Expects the patch to fail with `code` at `index` and to leave `doc` exactly as it was. */
function expectRejected (doc: Y.Doc, ops: unknown, code: string, index: number | null, message?: string | RegExp, options?: JsonPatchOptions): JsonPatchError {
  const before = Y.encodeStateAsUpdate(doc)
  const vectorBefore = Y.encodeStateVector(doc)
  let events = 0
  const count = (): void => { events++ }
  doc.on('update', count)
  let caught: unknown
  try {
    patch(doc, ops, options)
  } catch (err) {
    caught = err
  } finally {
    doc.off('update', count)
  }
  expect(caught).toBeInstanceOf(JsonPatchError)
  const error = caught as JsonPatchError
  expect({ code: error.code, index: error.index }).toEqual({ code, index })
  if (message !== undefined) expect(error.message).toMatch(message)
  expect(events).toBe(0)
  expect(Y.encodeStateAsUpdate(doc)).toEqual(before)
  expect(Y.encodeStateVector(doc)).toEqual(vectorBefore)
  return error
}

function kindOf (doc: Y.Doc, name: string): string {
  const fresh = replica(doc)
  const type = fresh.share.get(name)
  return type === undefined ? 'absent' : rootKind(type)
}

describe('applyJsonPatch: maps', () => {
  it('adds, replaces and removes map entries, and add over an existing key replaces it', () => {
    const doc = serverDoc(c => { c.getMap('meta').set('owner', 'ann'); c.getMap('meta').set('old', 1) })
    expect(patch(doc, [
      { op: 'add', path: '/meta/title', value: 'Q1' },
      { op: 'replace', path: '/meta/owner', value: 'bob' },
      { op: 'remove', path: '/meta/old' },
      { op: 'add', path: '/meta/title', value: 'Q2' }
    ])).toEqual({ changed: true })
    expect(view(doc)).toEqual({ meta: { owner: 'bob', title: 'Q2' } })
  })

  it('stores an object added inside a map as one plain value and edits it as a whole', () => {
    const doc = serverDoc(c => c.getMap('m').set('x', 1))
    patch(doc, [{ op: 'add', path: '/m/cfg', value: { theme: 'dark', sizes: [1, 2] } }])
    patch(doc, [{ op: 'add', path: '/m/cfg/sizes/-', value: 3 }, { op: 'replace', path: '/m/cfg/theme', value: 'light' }])
    expect(view(doc)).toEqual({ m: { x: 1, cfg: { theme: 'light', sizes: [1, 2, 3] } } })
    const client = replica(doc)
    // Below the last shared type there are no shared types: the entry is a plain object.
    expect(client.getMap('m').get('cfg')).toEqual({ theme: 'light', sizes: [1, 2, 3] })
    expect(client.getMap('m').get('cfg')).not.toBeInstanceOf(Y.AbstractType)
  })

  it('replacing a nested Y.Map with an object edits it in place, so a concurrent edit inside it survives', () => {
    const doc = serverDoc(c => {
      const task = c.getMap('board').set('task', new Y.Map<unknown>())
      task.set('title', 'a')
      task.set('done', false)
    })
    const offline = replica(doc)
    ;(offline.getMap('board').get('task') as Y.Map<unknown>).set('assignee', 'zoe')
    patch(doc, [{ op: 'replace', path: '/board/task', value: { title: 'b', done: false } }])
    sync(doc, offline)
    expect(view(doc)).toEqual({ board: { task: { title: 'b', done: false, assignee: 'zoe' } } })
    expect(view(offline)).toEqual(view(doc))
  })
})

describe('applyJsonPatch: arrays', () => {
  it('inserts at an index, appends with -, removes and replaces elements', () => {
    const doc = serverDoc(c => c.getArray('rows').insert(0, [1, 2, 3]))
    patch(doc, [
      { op: 'add', path: '/rows/1', value: 'x' },
      { op: 'add', path: '/rows/-', value: 4 },
      { op: 'add', path: '/rows/5', value: 5 },
      { op: 'remove', path: '/rows/0' },
      { op: 'replace', path: '/rows/0', value: 'y' }
    ])
    expect(view(doc)).toEqual({ rows: ['y', 2, 3, 4, 5] })
  })

  it('edits a plain element as a whole value (delete + insert of that element only)', () => {
    const doc = serverDoc(c => c.getArray('tasks').insert(0, [{ title: 'a', done: false }, { title: 'b', done: false }]))
    const offline = replica(doc)
    offline.getArray('tasks').insert(2, [{ title: 'c', done: false }])
    patch(doc, [{ op: 'replace', path: '/tasks/0/done', value: true }, { op: 'add', path: '/tasks/0/tags', value: ['x'] }])
    expect(doc.getArray('tasks').length).toBe(2)
    sync(doc, offline)
    expect(view(doc)).toEqual({ tasks: [{ title: 'a', done: true, tags: ['x'] }, { title: 'b', done: false }, { title: 'c', done: false }] })
    expect(view(offline)).toEqual(view(doc))
  })

  it('replacing a root array keeps the elements both ends share', () => {
    const doc = serverDoc(c => c.getArray('list').insert(0, ['a', 'b', 'c', 'd']))
    const offline = replica(doc)
    offline.getArray('list').insert(1, ['a2'])
    patch(doc, [{ op: 'replace', path: '/list', value: ['a', 'b', 'C', 'd', 'e'] }])
    sync(doc, offline)
    // "a" and "b" were kept, so the offline insert between them stays there.
    expect(view(doc)).toEqual({ list: ['a', 'a2', 'b', 'C', 'd', 'e'] })
    expect(view(offline)).toEqual(view(doc))
  })

  it('replacing an array of Y.Maps edits the changed ones in place, so concurrent edits inside them survive', () => {
    const doc = serverDoc(c => {
      const list = c.getArray<Y.Map<unknown>>('list')
      for (const t of ['a', 'b', 'c']) {
        const m = new Y.Map<unknown>()
        m.set('t', t)
        list.push([m])
      }
    })
    const offline = replica(doc)
    offline.getArray<Y.Map<unknown>>('list').get(1).set('x', 1)
    patch(doc, [{ op: 'replace', path: '/list', value: [{ t: 'a' }, { t: 'B' }, { t: 'C' }] }])
    sync(doc, offline)
    expect(view(doc)).toEqual({ list: [{ t: 'a' }, { t: 'B', x: 1 }, { t: 'C' }] })
    expect(offline.getArray('list').get(2)).toBeInstanceOf(Y.Map)
  })

  it('rejects an index past the end, a leading zero and a non-number, naming the operation', () => {
    const doc = serverDoc(c => c.getArray('tasks').insert(0, [{ title: 'a' }, { title: 'b' }]))
    expectRejected(doc, [{ op: 'test', path: '/tasks/0/title', value: 'a' }, { op: 'add', path: '/tasks/1/x', value: 1 }, { op: 'replace', path: '/tasks/9', value: 1 }],
      'PATCH_INVALID', 2, 'operation 2: path /tasks/9 does not exist')
    expectRejected(doc, [{ op: 'add', path: '/tasks/3', value: 1 }], 'PATCH_INVALID', 0, /index 3 is past the end of the array \(length 2\)/)
    expectRejected(doc, [{ op: 'remove', path: '/tasks/01' }], 'PATCH_INVALID', 0, /"01" is not an array index/)
    expectRejected(doc, [{ op: 'remove', path: '/tasks/first' }], 'PATCH_INVALID', 0, /"first" is not an array index/)
    expectRejected(doc, [{ op: 'remove', path: '/tasks/-' }], 'PATCH_INVALID', 0, /path \/tasks\/- does not exist/)
    expectRejected(doc, [{ op: 'add', path: '/tasks/0/title/x', value: 1 }], 'PATCH_INVALID', 0, /\/tasks\/0\/title is not an object or an array/)
  })
})

describe('applyJsonPatch: text', () => {
  it('replacing a Y.Text changes only the middle, so an offline insert stays where its author put it', () => {
    const doc = serverDoc(c => c.getText('body').insert(0, 'The quick brown fox'))
    const offline = replica(doc)
    offline.getText('body').insert(4, 'very ')
    patch(doc, [{ op: 'replace', path: '/body', value: 'The quick red fox' }])
    sync(doc, offline)
    expect(offline.getText('body').toString()).toBe('The very quick red fox')
    expect(view(doc)).toEqual({ body: 'The very quick red fox' })
  })

  it('does the same for a Y.Text nested in a map and in an array', () => {
    const doc = serverDoc(c => {
      c.getMap('card').set('title', new Y.Text('hello world'))
      c.getArray('notes').insert(0, [new Y.Text('one two')])
    })
    const offline = replica(doc)
    ;(offline.getMap('card').get('title') as Y.Text).insert(5, ',')
    ;(offline.getArray('notes').get(0) as Y.Text).insert(0, '>')
    patch(doc, [{ op: 'replace', path: '/card/title', value: 'hello there world' }, { op: 'replace', path: '/notes/0', value: 'one, two' }])
    sync(doc, offline)
    expect(view(doc)).toEqual({ card: { title: 'hello, there world' }, notes: ['>one, two'] })
    // Still shared types, not plain strings.
    expect(offline.getMap('card').get('title')).toBeInstanceOf(Y.Text)
  })

  it('never splits a surrogate pair', () => {
    // 😀 and 😃 share their first UTF-16 unit.
    expect(textDiff('a😀b', 'a😃b')).toEqual({ index: 1, deleteCount: 2, insert: '😃' })
    expect(textDiff('😀x', '😃x')).toEqual({ index: 0, deleteCount: 2, insert: '😃' })
    expect(textDiff('x\u{1F600}', 'x\u{1F601}')).toEqual({ index: 1, deleteCount: 2, insert: '\u{1F601}' })
    // Same low surrogate, different high one: the kept suffix must not start inside the pair.
    expect(textDiff('a\u{1F600}', 'a\ud83e\ude00')).toEqual({ index: 1, deleteCount: 2, insert: '\ud83e\ude00' })
    const doc = serverDoc(c => c.getText('t').insert(0, 'smile 😀 and 🙂!'))
    const offline = replica(doc)
    offline.getText('t').insert(0, '>> ')
    patch(doc, [{ op: 'replace', path: '/t', value: 'smile 😃 and 🙃!' }])
    sync(doc, offline)
    const text = offline.getText('t').toString()
    expect(text).toBe('>> smile 😃 and 🙃!')
    expect(text).not.toContain('\ufffd')
  })

  it('rejects a string value with an unpaired surrogate, which Yjs would store as U+FFFD', () => {
    const doc = serverDoc(c => c.getText('t').insert(0, 'x'))
    expectRejected(doc, [{ op: 'replace', path: '/t', value: 'a\ud83d' }], 'PATCH_INVALID', 0, /unpaired surrogate/)
  })

  it('rejects editing a text with embeds, whose indexes the string view cannot give', () => {
    const doc = serverDoc(c => { c.getText('t').insert(0, 'ab'); c.getText('t').insertEmbed(1, { img: 'x' }) })
    expectRejected(doc, [{ op: 'replace', path: '/t', value: 'abc' }], 'PATCH_INVALID', 0, /embedded objects/)
  })
})

describe('applyJsonPatch: roots', () => {
  it('creates a missing root as the value says: object → Y.Map, array → Y.Array, string → Y.Text', () => {
    const doc = serverDoc(c => c.getMap('existing').set('a', 1))
    patch(doc, [
      { op: 'add', path: '/settings', value: { theme: 'dark', nested: { a: [1] } } },
      { op: 'add', path: '/todo', value: ['x', { y: 1 }] },
      { op: 'add', path: '/title', value: 'Hello' }
    ])
    expect(view(doc)).toEqual({ existing: { a: 1 }, settings: { theme: 'dark', nested: { a: [1] } }, todo: ['x', { y: 1 }], title: 'Hello' })
    expect([kindOf(doc, 'settings'), kindOf(doc, 'todo'), kindOf(doc, 'title')]).toEqual(['map', 'array', 'text'])
    const client = replica(doc)
    expect(client.getMap('settings').get('nested')).toEqual({ a: [1] })
    expect(client.getArray('todo').toJSON()).toEqual(['x', { y: 1 }])
    expect(client.getText('title').toString()).toBe('Hello')
    // A root gets its type on the server's doc when a patch writes to it, as it would in a client;
    // roots a patch only reads stay as they were decoded.
    expect(doc.share.get('settings')).toBeInstanceOf(Y.Map)
    patch(doc, [{ op: 'test', path: '/existing/a', value: 1 }])
    expect(doc.share.get('existing')?.constructor).toBe(Y.AbstractType)
  })

  it('a root already defined on the server keeps that type, and is not written while its content says otherwise', () => {
    const doc = serverDoc(c => c.getText('body').insert(0, 'hello'))
    // Some host code defined these roots on the room's doc.
    doc.getArray('list')
    doc.getArray('body')
    expect(view(doc)).toEqual({ body: 'hello' })
    expectRejected(doc, [{ op: 'add', path: '/list', value: 'text' }], 'PATCH_INVALID', 0, /path \/list is a Y.Array \(an array\) and cannot hold a string/)
    patch(doc, [{ op: 'add', path: '/list', value: [1] }])
    patch(doc, [{ op: 'test', path: '/body', value: 'hello' }])
    expectRejected(doc, [{ op: 'replace', path: '/body', value: 'hi' }], 'PATCH_INVALID', 0, /root \/body is defined in this document as a Y.Array \(an array\) but holds a Y.Text/)
    expect(view(doc)).toEqual({ body: 'hello', list: [1] })
  })

  it('replaces a root with a value of its own kind, and refuses another kind or a scalar', () => {
    const doc = serverDoc(c => { c.getMap('m').set('a', 1); c.getText('t').insert(0, 'x'); c.getArray('l').insert(0, [1]) })
    patch(doc, [{ op: 'replace', path: '/m', value: { b: 2 } }, { op: 'add', path: '/l', value: [2, 3] }])
    expect(view(doc)).toMatchObject({ m: { b: 2 }, l: [2, 3] })
    expectRejected(doc, [{ op: 'replace', path: '/m', value: [1] }], 'PATCH_INVALID', 0, /path \/m is a Y.Map \(an object\) and cannot hold an array/)
    expectRejected(doc, [{ op: 'replace', path: '/t', value: { a: 1 } }], 'PATCH_INVALID', 0, /is a Y.Text \(a string\)/)
    expectRejected(doc, [{ op: 'add', path: '/n', value: 5 }], 'PATCH_INVALID', 0, /holds an object, an array or a string, not a number/)
    expectRejected(doc, [{ op: 'replace', path: '/nope', value: {} }], 'PATCH_INVALID', 0, /path \/nope does not exist/)
  })

  it('refuses to remove a root, also by move', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', 1))
    expectRejected(doc, [{ op: 'remove', path: '/m' }], 'PATCH_INVALID', 0, /is a root, which cannot be removed/)
    expectRejected(doc, [{ op: 'move', from: '/m', path: '/m2' }], 'PATCH_INVALID', 0, /from \/m is a root/)
  })

  it('a root whose content was all removed shows as null and can take any kind', () => {
    const doc = serverDoc(c => { c.getArray('l').insert(0, [1]); c.getArray('l').delete(0, 1); c.getText('t').insert(0, 'a'); c.getText('t').delete(0, 1) })
    expect(view(doc)).toEqual({ l: null, t: null })
    patch(doc, [{ op: 'test', path: '/l', value: null }, { op: 'replace', path: '/l', value: 'now text' }, { op: 'replace', path: '/t', value: [1, 2] }])
    expect(view(doc)).toEqual({ l: 'now text', t: [1, 2] })
  })

  it('an empty new root exists for the rest of the patch but is stored only once it has content', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', 1))
    expect(patch(doc, [{ op: 'add', path: '/empty', value: {} }, { op: 'test', path: '/empty', value: {} }])).toEqual({ changed: false })
    expect(view(doc)).toEqual({ m: { a: 1 } })
    patch(doc, [{ op: 'add', path: '/list', value: [] }, { op: 'add', path: '/list/-', value: 'first' }])
    expect(view(doc)).toEqual({ m: { a: 1 }, list: ['first'] })
  })

  it('reads an XML root as its string and refuses to change it', () => {
    const doc = serverDoc(c => c.getXmlFragment('prose').insert(0, [new Y.XmlElement('p')]))
    patch(doc, [{ op: 'test', path: '/prose', value: '<p></p>' }])
    expectRejected(doc, [{ op: 'replace', path: '/prose', value: 'x' }], 'PATCH_INVALID', 0, /XML root/)
  })

  it('path "" is the whole document: test it, replace it root by root, never drop a root', () => {
    const doc = serverDoc(c => { c.getMap('m').set('a', 1); c.getText('t').insert(0, 'x') })
    patch(doc, [{ op: 'test', path: '', value: { m: { a: 1 }, t: 'x' } }, { op: 'replace', path: '', value: { m: { a: 2 }, t: 'y', n: [1] } }])
    expect(view(doc)).toEqual({ m: { a: 2 }, t: 'y', n: [1] })
    expectRejected(doc, [{ op: 'replace', path: '', value: { m: {} } }], 'PATCH_INVALID', 0, /roots cannot be removed/)
    expectRejected(doc, [{ op: 'remove', path: '' }], 'PATCH_INVALID', 0, /whole document/)
  })
})

describe('applyJsonPatch: move, copy, test, pointers', () => {
  it('moves and copies between shared types and plain values; a moved shared type becomes a plain value', () => {
    const doc = serverDoc(c => {
      const m = c.getMap('m')
      m.set('inner', new Y.Map<unknown>())
      ;(m.get('inner') as Y.Map<unknown>).set('k', [1, 2])
      c.getArray('l').insert(0, ['a', 'b', 'c'])
    })
    patch(doc, [
      { op: 'move', from: '/l/0', path: '/l/2' },
      { op: 'copy', from: '/m/inner', path: '/l/-' },
      { op: 'move', from: '/m/inner/k/0', path: '/m/first' },
      { op: 'copy', from: '/l', path: '/copied' },
      { op: 'move', from: '/m/inner', path: '/m/moved' }
    ])
    const expected = { m: { first: 1, moved: { k: [2] } }, l: ['b', 'c', 'a', { k: [1, 2] }], copied: ['b', 'c', 'a', { k: [1, 2] }] }
    expect(view(doc)).toEqual(expected)
    expect(replica(doc).getMap('m').get('moved')).not.toBeInstanceOf(Y.AbstractType)
  })

  it('move onto itself changes nothing; move into its own child is refused', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', { b: 1 }))
    expect(patch(doc, [{ op: 'move', from: '/m/a', path: '/m/a' }])).toEqual({ changed: false })
    expectRejected(doc, [{ op: 'move', from: '/m/a', path: '/m/a/b/c' }], 'PATCH_INVALID', 0, /cannot be moved into itself/)
    expectRejected(doc, [{ op: 'copy', from: '/m/zz', path: '/m/b' }], 'PATCH_INVALID', 0, /from \/m\/zz does not exist/)
  })

  it('test compares JSON values (member order does not matter, types do) and a failed test changes nothing', () => {
    const doc = serverDoc(c => { c.getMap('m').set('o', { a: 1, b: [1, { c: null }] }); c.getText('t').insert(0, 'hi') })
    expect(patch(doc, [
      { op: 'test', path: '/m/o', value: { b: [1, { c: null }], a: 1 } },
      { op: 'test', path: '/t', value: 'hi' },
      { op: 'test', path: '/m', value: { o: { a: 1, b: [1, { c: null }] } } }
    ])).toEqual({ changed: false })
    const ops = [{ op: 'add', path: '/m/x', value: 1 }, { op: 'replace', path: '/t', value: 'ho' }, { op: 'test', path: '/m/o/a', value: '1' }]
    expectRejected(doc, ops, 'PATCH_TEST_FAILED', 2, 'operation 2: test failed: path /m/o/a does not hold the given value')
    expectRejected(doc, [{ op: 'test', path: '/m/nope', value: 1 }], 'PATCH_TEST_FAILED', 0, /does not exist/)
    expectRejected(doc, [{ op: 'test', path: '/nope/x', value: 1 }], 'PATCH_INVALID', 0, /path \/nope\/x does not exist/)
  })

  it('unescapes ~1 and ~0, and an empty token is the empty key', () => {
    const doc = serverDoc(c => c.getMap('m').set('a/b', 1))
    patch(doc, [
      { op: 'add', path: '/m/c~0d', value: 2 },
      { op: 'move', from: '/m/a~1b', path: '/m/~01' },
      { op: 'add', path: '/m/', value: 'empty key' },
      { op: 'add', path: '/m/o', value: {} },
      { op: 'add', path: '/m/o/', value: 3 }
    ])
    expect(view(doc)).toEqual({ m: { 'c~d': 2, '~1': 1, '': 'empty key', o: { '': 3 } } })
    expectRejected(doc, [{ op: 'add', path: '/m/a~2', value: 1 }], 'PATCH_INVALID', 0, /"~" must be followed by 0 or 1/)
    expectRejected(doc, [{ op: 'add', path: 'm', value: 1 }], 'PATCH_INVALID', 0, /must be empty or start with "\/"/)
  })
})

describe('applyJsonPatch: all or nothing', () => {
  it('a failure in the last operation undoes nothing because nothing was applied', () => {
    const doc = serverDoc(c => { c.getMap('m').set('a', 1); c.getText('t').insert(0, 'abc'); c.getArray('l').insert(0, [1]) })
    expectRejected(doc, [
      { op: 'add', path: '/m/b', value: 2 },
      { op: 'replace', path: '/t', value: 'xyz' },
      { op: 'add', path: '/new', value: { a: 1 } },
      { op: 'remove', path: '/l/0' },
      { op: 'remove', path: '/l/0' }
    ], 'PATCH_INVALID', 4, 'operation 4: path /l/0 does not exist')
    expect(view(doc)).toEqual({ m: { a: 1 }, t: 'abc', l: [1] })
    // Not even the roots it would have written to got a type.
    for (const name of ['m', 't', 'l']) expect(doc.share.get(name)?.constructor).toBe(Y.AbstractType)
    expect(doc.share.has('new')).toBe(false)
  })

  it('checks the shape of every operation before applying any', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', 1))
    expectRejected(doc, [{ op: 'test', path: '/m/a', value: 2 }, { op: 'frob', path: '/m' }], 'PATCH_INVALID', 1, /op "frob" is not one of/)
    expectRejected(doc, { op: 'add' }, 'PATCH_INVALID', null, /array of operations/)
    expectRejected(doc, [null], 'PATCH_INVALID', 0, /an operation is an object/)
    expectRejected(doc, [{ op: 'add', path: '/m/b' }], 'PATCH_INVALID', 0, /add needs a "value"/)
    expectRejected(doc, [{ op: 'copy', path: '/m/b' }], 'PATCH_INVALID', 0, /"from" must be a string/)
    expectRejected(doc, [{ op: 'add', path: 3, value: 1 }], 'PATCH_INVALID', 0, /"path" must be a string/)
  })

  it('accepts only JSON values', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', 1))
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: Number.NaN }], 'PATCH_INVALID', 0, /value is NaN/)
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: { x: [1, Infinity] } }], 'PATCH_INVALID', 0, /value at \/x\/1 is Infinity/)
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: { x: undefined } }], 'PATCH_INVALID', 0, /value at \/x is undefined/)
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: { f: () => 1 } }], 'PATCH_INVALID', 0, /is a function/)
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: new Date(0) }], 'PATCH_INVALID', 0, /a Date object/)
    expectRejected(doc, [{ op: 'add', path: '/m/b', value: JSON.parse('{"__proto__": 1}') }], 'PATCH_INVALID', 0, /__proto__/)
    expectRejected(doc, [{ op: 'add', path: '/m/__proto__', value: 1 }], 'PATCH_INVALID', 0, /__proto__/)
  })

  it('an object with a member "constructor" cannot be stored whole (Yjs limitation), one level deeper it can', () => {
    const doc = serverDoc(c => c.getArray('l').insert(0, [1]))
    expectRejected(doc, [{ op: 'add', path: '/l/-', value: { constructor: 1 } }], 'PATCH_INVALID', 0, /member named "constructor"/)
    patch(doc, [{ op: 'add', path: '/l/-', value: { wrap: { constructor: 1 } } }])
    expect(view(doc)).toEqual({ l: [1, { wrap: { constructor: 1 } }] })
  })
})

describe('applyJsonPatch: limits', () => {
  it('bounds the number of operations', () => {
    const doc = serverDoc(c => c.getArray('l').insert(0, [1]))
    const ops = Array.from({ length: 11 }, () => ({ op: 'test', path: '/l/0', value: 1 }))
    expectRejected(doc, ops, 'PATCH_INVALID', null, 'the patch has 11 operations; at most 10 are allowed (maxOperations)', { maxOperations: 10 })
    expect(patch(doc, ops.slice(1), { maxOperations: 10 })).toEqual({ changed: false })
    expectRejected(doc, Array.from({ length: 1001 }, () => ({ op: 'test', path: '/l/0', value: 1 })), 'PATCH_INVALID', null, /at most 1000/)
  })

  it('bounds value depth, also where a value lands inside a plain value, without recursion on deep input', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', { b: { c: {} } }))
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    expectRejected(doc, [{ op: 'add', path: '/m/x', value: deep }], 'PATCH_INVALID', 0, /nested deeper than 64 levels \(maxValueDepth\)/)
    let sixtyFour: unknown = 1
    for (let i = 0; i < 64; i++) sixtyFour = [sixtyFour]
    patch(doc, [{ op: 'add', path: '/m/x', value: sixtyFour }])
    // /m/a is one level, b two, c three: a 62-deep value inside c would be 65 deep.
    let sixtyTwo: unknown = 1
    for (let i = 0; i < 62; i++) sixtyTwo = [sixtyTwo]
    expectRejected(doc, [{ op: 'add', path: '/m/a/b/c/d', value: sixtyTwo }], 'PATCH_INVALID', 0, /would be nested 65 levels deep; the limit is 64/)
    expectRejected(doc, [{ op: 'copy', from: '/m/x', path: '/m/a/b/c/d' }], 'PATCH_INVALID', 0, /would be nested 67 levels deep/)
    expectRejected(doc, [{ op: 'add', path: '/m/y', value: [[1]] }], 'PATCH_INVALID', 0, /deeper than 1 levels/, { maxValueDepth: 1 })
  })

  it('bounds the values a patch reads or copies, so doubling copies stop early', () => {
    expect(JSON_PATCH_DEFAULTS).toEqual({ maxOperations: 1000, maxValueDepth: 64, maxReadValues: 1_000_000 })
    const doc = serverDoc(c => c.getMap('m').set('v', Array.from({ length: 1000 }, (_, i) => i)))
    const doubling: unknown[] = [{ op: 'add', path: '/m/w', value: [] }]
    for (let i = 0; i < 40; i++) doubling.push({ op: 'copy', from: '/m', path: '/m/w/-' })
    const error = expectRejected(doc, doubling, 'PATCH_INVALID', expect.any(Number) as never, /more than 100000 values \(maxReadValues\)/, { maxReadValues: 100_000 })
    expect(error.index).toBeLessThan(10)
    expectRejected(doc, [{ op: 'test', path: '/m/v', value: [] }], 'PATCH_INVALID', 0, /more than 100 values/, { maxReadValues: 100 })
  })

  it('accepts values whose objects have no prototype, as some parsers make them', () => {
    const doc = serverDoc(c => c.getArray('l').insert(0, [1]))
    const value = Object.assign(Object.create(null), { a: Object.assign(Object.create(null), { b: 1 }) })
    patch(doc, [{ op: 'add', path: '/l/-', value }])
    expect(view(doc)).toEqual({ l: [1, { a: { b: 1 } }] })
  })

  it('refuses options that are not positive integers', () => {
    const doc = new Y.Doc()
    expect(() => patch(doc, [], { maxOperations: 0 })).toThrow(/maxOperations must be a positive integer/)
    expect(() => patch(doc, [], { maxValueDepth: Infinity })).toThrow(/maxValueDepth/)
  })
})

describe('applyJsonPatch: the update', () => {
  it('applies one update to the doc, with the origin, and reports whether anything changed', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', 1))
    const seen: unknown[] = []
    doc.on('update', (_u: Uint8Array, origin: unknown) => seen.push(origin))
    const origin = { kind: 'http' }
    expect(patch(doc, [{ op: 'replace', path: '/m/a', value: 1 }], { origin })).toEqual({ changed: false })
    expect(patch(doc, [{ op: 'add', path: '/m/b', value: 2 }, { op: 'add', path: '/m/c', value: 3 }], { origin })).toEqual({ changed: true })
    expect(seen).toEqual([origin])
  })

  it('writes with the doc\'s own client id: one state vector entry for all patches, and no id change', () => {
    const doc = serverDoc(c => c.getArray('l').insert(0, [0]))
    const clientsBefore = Y.decodeStateVector(Y.encodeStateVector(doc)).size
    const ownId = doc.clientID
    for (let i = 1; i <= 5; i++) patch(doc, [{ op: 'add', path: '/l/-', value: i }])
    expect(Y.decodeStateVector(Y.encodeStateVector(doc)).size).toBe(clientsBefore + 1)
    expect(doc.clientID).toBe(ownId)
    expect(view(doc)).toEqual({ l: [0, 1, 2, 3, 4, 5] })
  })

  it('an update relayed to another replica reproduces the change', () => {
    const doc = serverDoc(c => c.getMap('m').set('a', [1, 2]))
    const other = replica(doc)
    doc.on('update', (u: Uint8Array) => Y.applyUpdate(other, u))
    patch(doc, [{ op: 'add', path: '/m/a/1', value: 9 }, { op: 'add', path: '/t', value: 'text' }])
    expect(view(other)).toEqual({ m: { a: [1, 9, 2] }, t: 'text' })
  })
})
