/**
 * The restore diff (src/history/restore.ts) on every root kind: the restored
 * document shows exactly the version, what stayed equal is kept (so edits
 * made against it merge where their authors put them), and restoring the
 * state before undoes a restore.
 */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { restoreUpdate, view } from '../src/history/restore.js'
import { prng } from './helpers.js'

/** Applies the restore to a copy of `doc`'s state; returns the copy. */
function restored (doc: Y.Doc, version: Uint8Array): Y.Doc {
  const update = restoreUpdate(Y.encodeStateAsUpdate(doc), version)
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  if (update !== null) Y.applyUpdate(copy, update)
  return copy
}

/** Everything the document shows, every root typed as in `like`. */
function shows (doc: Y.Doc, like: Y.Doc): unknown {
  const out: Record<string, unknown> = {}
  for (const [name, type] of like.share) {
    const get = type instanceof Y.Text ? doc.getText(name) : type instanceof Y.Map ? doc.getMap(name) : type instanceof Y.Array ? doc.getArray(name) : doc.getXmlFragment(name)
    out[name] = view(get)
  }
  return out
}

function fork (doc: Y.Doc): Y.Doc {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  return copy
}

describe('restoreUpdate', () => {
  it('brings back deleted text and removes text added since, keeping what stayed', () => {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    text.insert(0, 'The quick brown fox jumps over the lazy dog')
    const version = Y.encodeStateAsUpdate(doc)
    text.delete(4, 6) // "quick "
    text.insert(text.length, ' and sleeps')
    text.insert(0, '>> ')
    const result = restored(doc, version)
    expect(result.getText('text').toString()).toBe('The quick brown fox jumps over the lazy dog')
    // Only the deleted words were written again: "The " and "brown fox…" are the original items.
    const update = restoreUpdate(Y.encodeStateAsUpdate(doc), version)!
    const inserted = Y.decodeUpdate(update).structs.filter((s) => s instanceof Y.Item) as Y.Item[]
    expect(inserted.map((i) => (i.content as Y.ContentString).str).join('')).toBe('quick ')
  })

  it('returns null when the document already shows the version', () => {
    const doc = new Y.Doc()
    doc.getText('text').insert(0, 'same')
    doc.getMap('map').set('k', 1)
    expect(restoreUpdate(Y.encodeStateAsUpdate(doc), Y.encodeStateAsUpdate(doc))).toBeNull()
  })

  it('restores formatting, embeds and text attributes', () => {
    const doc = new Y.Doc()
    const text = doc.getText('rich')
    text.insert(0, 'plain bold italic end')
    text.format(6, 4, { bold: true })
    text.format(11, 6, { italic: true, color: '#f00' })
    text.insertEmbed(text.length, { image: 'a.png' }, { width: 10 })
    text.setAttribute('lang', 'en')
    const version = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    text.format(0, 5, { bold: true })
    text.format(6, 4, { bold: null })
    text.format(11, 6, { color: '#00f' })
    text.delete(text.length - 1, 1)
    text.insert(3, 'XYZ', { underline: true })
    text.setAttribute('lang', 'de')
    text.setAttribute('dir', 'rtl')
    const result = restored(doc, version)
    expect(shows(result, doc)).toEqual(before)
  })

  it('restores map entries, nested maps, arrays and texts', () => {
    const doc = new Y.Doc()
    const map = doc.getMap('map')
    const nested = new Y.Map()
    const notes = new Y.Text('notes v1')
    map.set('title', 'v1')
    map.set('keep', { a: [1, 2] })
    map.set('nested', nested)
    nested.set('x', 1)
    nested.set('notes', notes)
    map.set('gone later', true)
    const version = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    map.set('title', 'v2')
    map.set('added', 1)
    map.delete('gone later')
    nested.set('x', 2)
    nested.set('y', 3)
    notes.insert(0, 'edited ')
    const result = restored(doc, version)
    expect(shows(result, doc)).toEqual(before)
    // The nested map and text are the same shared types, edited in place.
    const update = restoreUpdate(Y.encodeStateAsUpdate(doc), version)!
    const types = (Y.decodeUpdate(update).structs.filter((s) => s instanceof Y.Item) as Y.Item[]).filter((i) => i.content instanceof Y.ContentType)
    expect(types).toEqual([])
  })

  it('restores a replaced nested type as a copy of the version\'s', () => {
    const doc = new Y.Doc()
    const map = doc.getMap('map')
    const inner = new Y.Array()
    map.set('list', inner)
    inner.push([1, 2, 3])
    const version = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    map.set('list', 'replaced')
    expect(shows(restored(doc, version), doc)).toEqual(before)
  })

  it('restores arrays: removed elements come back in place, added ones go, nested types are reconciled', () => {
    const doc = new Y.Doc()
    const array = doc.getArray<unknown>('array')
    const inner = new Y.Map()
    array.push(['a', 'b', inner, 'c', new Uint8Array([1, 2])])
    inner.set('k', 'v1')
    const version = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    array.delete(1, 1)
    array.insert(0, ['new'])
    array.push([{ o: 1 }])
    inner.set('k', 'v2')
    expect(shows(restored(doc, version), doc)).toEqual(before)
  })

  it('restores an XML fragment as ProseMirror/Tiptap keep it: paragraphs, marks, attributes', () => {
    const doc = new Y.Doc()
    const fragment = doc.getXmlFragment('prosemirror')
    const heading = new Y.XmlElement('heading')
    heading.setAttribute('level', '1')
    const title = new Y.XmlText()
    heading.insert(0, [title])
    const p1 = new Y.XmlElement('paragraph')
    const t1 = new Y.XmlText()
    p1.insert(0, [t1])
    const p2 = new Y.XmlElement('paragraph')
    const t2 = new Y.XmlText()
    p2.insert(0, [t2])
    fragment.insert(0, [heading, p1, p2])
    title.insert(0, 'Plan')
    t1.insert(0, 'First paragraph with a bold word.')
    t1.format(23, 4, { bold: {} })
    t2.insert(0, 'Second paragraph.')
    const version = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    fragment.delete(2, 1)
    heading.setAttribute('level', '2')
    t1.format(0, 5, { italic: {} })
    t1.delete(6, 10)
    const p3 = new Y.XmlElement('paragraph')
    fragment.insert(1, [p3])
    p3.insert(0, [new Y.XmlText('inserted later')])
    expect(shows(restored(doc, version), doc)).toEqual(before)
  })

  it('rewrites a text whose ids and content disagree: an emoji split by an edit after the version', () => {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    text.insert(0, 'a😀b')
    const version = Y.encodeStateAsUpdate(doc)
    // Deleting half of the surrogate pair makes Yjs replace both halves in place.
    text.delete(2, 1)
    expect(text.toString()).not.toContain('😀')
    const result = restored(doc, version)
    expect(result.getText('text').toString()).toBe('a😀b')
  })

  it('clears roots that were created after the version', () => {
    const doc = new Y.Doc()
    doc.getText('text').insert(0, 'x')
    const version = Y.encodeStateAsUpdate(doc)
    doc.getMap('later').set('k', 1)
    doc.getArray('later list').push([1])
    const result = restored(doc, version)
    expect(result.getMap('later').toJSON()).toEqual({})
    expect(result.getArray('later list').toJSON()).toEqual([])
    expect(result.getText('text').toString()).toBe('x')
  })

  it('lets an offline edit made against kept text merge where its author put it', () => {
    const server = new Y.Doc()
    const text = server.getText('text')
    text.insert(0, 'alpha beta gamma delta')
    const version = Y.encodeStateAsUpdate(server)
    text.delete(6, 5) // "beta "
    text.insert(text.length, ' epsilon')
    // A client goes offline with this state and types after "gamma".
    const offline = fork(server)
    offline.getText('text').insert('alpha gamma'.length, '!')
    // Meanwhile the restore is applied on the server.
    const update = restoreUpdate(Y.encodeStateAsUpdate(server), version)!
    Y.applyUpdate(server, update)
    expect(text.toString()).toBe('alpha beta gamma delta')
    // The client comes back: both sides exchange what they lack.
    Y.applyUpdate(server, Y.encodeStateAsUpdate(offline, Y.encodeStateVector(server)))
    Y.applyUpdate(offline, Y.encodeStateAsUpdate(server, Y.encodeStateVector(offline)))
    expect(text.toString()).toBe('alpha beta gamma! delta')
    expect(offline.getText('text').toString()).toBe(text.toString())
  })

  it('undoes a restore by restoring the state before it', () => {
    const doc = new Y.Doc()
    doc.getText('text').insert(0, 'version one')
    doc.getMap('map').set('a', 1)
    const version = Y.encodeStateAsUpdate(doc)
    doc.getText('text').insert(0, 'now: ')
    doc.getMap('map').set('b', 2)
    const backup = Y.encodeStateAsUpdate(doc)
    const before = shows(fork(doc), doc)
    Y.applyUpdate(doc, restoreUpdate(Y.encodeStateAsUpdate(doc), version)!)
    expect(doc.getText('text').toString()).toBe('version one')
    Y.applyUpdate(doc, restoreUpdate(Y.encodeStateAsUpdate(doc), backup)!)
    expect(shows(doc, doc)).toEqual(before)
  })

  it('reproduces the version exactly after random edits of every kind (seeded)', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = prng(seed)
      const doc = new Y.Doc()
      const other = new Y.Doc()
      const sync = (): void => {
        Y.applyUpdate(other, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(other)))
        Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
      }
      setup(doc)
      sync()
      const steps = 5 + Math.floor(random() * 30)
      const versionAt = Math.floor(random() * steps)
      let version = Y.encodeStateAsUpdate(doc)
      let expected: unknown
      for (let step = 0; step < steps; step++) {
        randomEdit(random() < 0.5 ? doc : other, random)
        if (random() < 0.4) sync()
        if (step === versionAt) {
          sync()
          version = Y.encodeStateAsUpdate(doc)
          expected = shows(fork(doc), doc)
        }
      }
      sync()
      const result = restored(doc, version)
      expect({ seed, shows: shows(result, doc) }).toEqual({ seed, shows: expected })
      // Restoring the state before the restore gives it back.
      const now = Y.encodeStateAsUpdate(doc)
      const back = restored(result, now)
      expect({ seed, shows: shows(back, doc) }).toEqual({ seed, shows: shows(fork(doc), doc) })
    }
  })
})

function setup (doc: Y.Doc): void {
  doc.transact(() => {
    doc.getText('text').insert(0, 'Lorem ipsum dolor sit amet')
    doc.getMap('map').set('m', new Y.Map())
    doc.getArray('array').push(['a', new Y.Text('t'), new Y.Array()])
    const p = new Y.XmlElement('paragraph')
    doc.getXmlFragment('xml').insert(0, [p])
    p.insert(0, [new Y.XmlText('para')])
  })
}

const WORDS = ['x', 'yy', 'zzz', ' ', 'ab cd', '😀', 'é']

/** One random edit somewhere in the document, of any kind. */
function randomEdit (doc: Y.Doc, random: () => number): void {
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]
  const at = (n: number): number => Math.floor(random() * (n + 1))
  const text = doc.getText('text')
  const map = doc.getMap<any>('map')
  const array = doc.getArray<any>('array')
  const xml = doc.getXmlFragment('xml')
  const editText = (t: Y.Text): void => {
    const r = random()
    if (r < 0.45) t.insert(at(t.length), pick(WORDS), random() < 0.3 ? { bold: true } : undefined)
    else if (r < 0.75 && t.length > 0) {
      const i = at(t.length - 1)
      t.delete(i, Math.min(1 + Math.floor(random() * 4), t.length - i))
    } else if (t.length > 0) {
      const i = at(t.length - 1)
      t.format(i, Math.min(1 + Math.floor(random() * 5), t.length - i), random() < 0.5 ? { italic: true } : { bold: null })
    }
  }
  switch (Math.floor(random() * 6)) {
    case 0: editText(text); break
    case 1: {
      const key = pick(['a', 'b', 'c'])
      const r = random()
      if (r < 0.4) map.set(key, Math.floor(random() * 10))
      else if (r < 0.6) map.delete(key)
      else {
        const inner = map.get('m')
        if (inner instanceof Y.Map) inner.set(key, random() < 0.5 ? new Y.Text(pick(WORDS)) : pick(WORDS))
      }
      break
    }
    case 2: {
      const r = random()
      if (r < 0.4) array.insert(at(array.length), [pick(WORDS)])
      else if (r < 0.7 && array.length > 0) array.delete(at(array.length - 1), 1)
      else {
        const nested = array.toArray().find((v) => v instanceof Y.Text) as Y.Text | undefined
        if (nested !== undefined) editText(nested)
      }
      break
    }
    case 3: {
      const r = random()
      if (r < 0.3) {
        const p = new Y.XmlElement(pick(['paragraph', 'heading']))
        xml.insert(at(xml.length), [p])
        p.insert(0, [new Y.XmlText(pick(WORDS))])
      } else if (r < 0.5 && xml.length > 0) xml.delete(at(xml.length - 1), 1)
      else if (xml.length > 0) {
        const p = xml.get(at(xml.length - 1)) as Y.XmlElement
        if (random() < 0.3) p.setAttribute('level', String(Math.floor(random() * 3)))
        else {
          const t = p.get(0)
          if (t instanceof Y.XmlText) editText(t)
        }
      }
      break
    }
    case 4: {
      const inner = map.get('m')
      if (inner instanceof Y.Map) {
        const nested = inner.get(pick(['a', 'b', 'c']))
        if (nested instanceof Y.Text) editText(nested)
      }
      break
    }
    default:
      editText(text)
  }
}
