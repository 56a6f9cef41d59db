/**
 * What inspecting updates and loading poisoned documents cost.
 *
 *   npm run build && node bench/nesting/inspect.mjs
 *
 * - a keystroke-sized update against a document of 200,000 structs;
 * - a 1 MB sync step 2 (a ProseMirror-like document from three clients),
 *   next to what Yjs needs to decode and to apply it;
 * - loading and compacting the rows of a document poisoned with a deleted
 *   10,000-deep chain (the one-transaction load fails, the flat one runs).
 * Not part of `npm test`.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { inspectUpdate } from '../../dist/src/yjs/update-inspect.js'
import { scanUpdate } from '../../dist/src/yjs/update-scan.js'
import { applyStoredUpdates, mergeStoredUpdates } from '../../dist/src/yjs/stored-updates.js'

function time (label, fn, reps) {
  for (let i = 0; i < Math.min(reps, 200); i++) fn()
  const started = process.hrtime.bigint()
  for (let i = 0; i < reps; i++) fn()
  const us = Number(process.hrtime.bigint() - started) / 1000 / reps
  console.log(`| ${label} | ${us < 1000 ? us.toFixed(1) + ' µs' : (us / 1000).toFixed(1) + ' ms'} |`)
}

/** 200,000 characters typed by two clients in turn, so no two items merge. */
function twoTypists (chars) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 2)
  for (const client of [2, 1]) {
    encoding.writeVarUint(e, chars / 2)
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, 0)
    for (let clock = 0; clock < chars / 2; clock++) {
      if (client === 1 && clock === 0) {
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
  }
  encoding.writeVarUint(e, 0)
  return encoding.toUint8Array(e)
}

function proseMirrorLike (bytes) {
  const docs = [1, 2, 3].map((id) => {
    const d = new Y.Doc()
    d.clientID = 100 + id
    return d
  })
  let size = 0
  for (let round = 0; size < bytes; round++) {
    const d = docs[round % 3]
    const xml = d.getXmlFragment('prosemirror')
    d.transact(() => {
      for (let i = 0; i < 20; i++) {
        const t = new Y.XmlText()
        const para = new Y.XmlElement('paragraph')
        const li = new Y.XmlElement('list_item')
        xml.insert(Math.floor(xml.length / 2), [li])
        li.insert(0, [para])
        para.insert(0, [t])
        t.insert(0, 'Lorem ipsum dolor sit amet, consectetur adipiscing elit '.repeat(2) + round)
        if (i % 5 === 0) t.delete(3, 10)
      }
    })
    const other = docs[(round + 1) % 3]
    Y.applyUpdate(other, Y.encodeStateAsUpdate(d, Y.encodeStateVector(other)))
    if (round % 10 === 0) size = Y.encodeStateAsUpdate(d).length
  }
  for (const d of docs) for (const o of docs) Y.applyUpdate(o, Y.encodeStateAsUpdate(d))
  return Y.encodeStateAsUpdate(docs[0])
}

function poisonedRows (depth) {
  const doc = new Y.Doc()
  const rows = []
  doc.on('update', (u) => rows.push(u))
  const chain = []
  doc.transact(() => {
    let parent = doc.getMap('root')
    for (let i = 0; i < depth; i++) {
      const child = new Y.Map()
      parent.set('child', child)
      chain.push(child)
      parent = child
    }
  })
  for (let b = 0; b < 10; b++) {
    doc.transact(() => {
      for (let i = depth - b * depth / 10 - 1; i >= depth - (b + 1) * depth / 10; i--) chain[i]._item.parent.delete('child')
    })
  }
  return rows
}

console.log('| what | time |\n|---|---|')
const big = twoTypists(200_000)
const server = new Y.Doc()
Y.applyUpdate(server, big)
const typist = new Y.Doc()
typist.clientID = 3
Y.applyUpdate(typist, big)
let typing
typist.on('update', (u) => { typing = u })
typist.getText('text').insert(123_456, 'typing a few words')
time(`inspect a ${typing.length}-byte keystroke on a 200,000-struct doc`, () => inspectUpdate(server, typing), 100_000)

const nested = new Y.Doc()
nested.clientID = 4
let leaf
nested.transact(() => {
  let parent = nested.getXmlFragment('pm')
  for (let i = 0; i < 6; i++) {
    const li = new Y.XmlElement('li')
    parent.insert(0, [li])
    parent = li
  }
  leaf = new Y.XmlText('hello')
  parent.insert(0, [leaf])
})
Y.applyUpdate(server, Y.encodeStateAsUpdate(nested))
let paragraph
nested.on('update', (u) => { paragraph = u })
nested.transact(() => {
  const para = new Y.XmlElement('paragraph')
  leaf.parent.parent.insert(0, [para])
  para.insert(0, [new Y.XmlText('new')])
})
time(`inspect a ${paragraph.length}-byte new paragraph 6 deep on the same doc`, () => inspectUpdate(server, paragraph), 100_000)

const step2 = proseMirrorLike(1_000_000)
const scan = scanUpdate(step2)
const kb = Math.round(step2.length / 1000)
time(`scan a ${kb} KB sync step 2 (${scan.structCount} structs)`, () => scanUpdate(step2), 20)
time(`inspect it against an empty doc`, () => inspectUpdate(new Y.Doc(), step2), 20)
time('for scale: Y.decodeUpdate of it', () => Y.decodeUpdate(step2), 10)
time('for scale: Y.applyUpdate of it to an empty doc', () => Y.applyUpdate(new Y.Doc(), step2), 10)

const rows = poisonedRows(10_000)
time('poisoned rows (10,000-deep deleted chain): applyStoredUpdates (fails, then flat)', () => {
  const loaded = applyStoredUpdates(new Y.Doc(), rows)
  if (!loaded.flat) throw new Error('expected the flat path')
}, 5)
time('poisoned rows: mergeStoredUpdates', () => mergeStoredUpdates(rows), 5)
const healthy = Y.encodeStateAsUpdate((() => {
  const d = new Y.Doc()
  d.transact(() => { let p = d.getMap('root'); for (let i = 0; i < 1000; i++) { const c = new Y.Map(); p.set(`k${i}`, c); c.set('v', i) } })
  return d
})())
time('for scale: applyStoredUpdates of a healthy 1,000-map doc (fast path)', () => applyStoredUpdates(new Y.Doc(), [healthy]), 50)
