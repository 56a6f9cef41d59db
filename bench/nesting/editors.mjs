/**
 * How deep do real documents nest? Builds documents the way popular editors
 * store them in Yjs and reports the depth `inspectUpdate` measures for each.
 *
 *   npm run build && node bench/nesting/editors.mjs
 *
 * - ProseMirror / Tiptap through y-prosemirror: every node is a Y.XmlElement
 *   inside its parent, text is a Y.XmlText, marks are formatting attributes.
 * - BlockNote: blockGroup > blockContainer > content node, two levels per nesting.
 * - An outliner: each node a Y.Map whose "children" is a Y.Array of nodes.
 * - tldraw: records are plain JSON values in a root Y.Map / Y.Array (no nested
 *   types); rich text inside a record is ProseMirror JSON (value depth).
 */
import * as Y from 'yjs'
import { inspectUpdate } from '../../dist/src/yjs/update-inspect.js'

const el = (name, children) => {
  const e = new Y.XmlElement(name)
  e.insert(0, children)
  return e
}
const text = (s) => new Y.XmlText(s)
const paragraph = (s) => el('paragraph', [text(s)])

function nestedList (levels, innermost) {
  let item = el('listItem', [paragraph(`level ${levels}`), ...innermost])
  for (let level = levels - 1; level >= 1; level--) {
    item = el('listItem', [paragraph(`level ${level}`), el('bulletList', [item])])
  }
  return el('bulletList', [item])
}
const table = () => el('table', [el('tableRow', [el('tableCell', [paragraph('cell')]), el('tableCell', [paragraph('cell')])])])
const blockquotes = (levels, inner) => {
  let node = inner
  for (let i = 0; i < levels; i++) node = el('blockquote', [node])
  return node
}

function prosemirror (build) {
  const doc = new Y.Doc()
  doc.transact(() => doc.getXmlFragment('default').insert(0, [build()]))
  return doc
}

function blocknote (levels) {
  const doc = new Y.Doc()
  doc.transact(() => {
    let container = el('blockContainer', [paragraph('deepest')])
    for (let i = 0; i < levels; i++) container = el('blockContainer', [paragraph(`level ${i}`), el('blockGroup', [container])])
    doc.getXmlFragment('document-store').insert(0, [el('blockGroup', [container])])
  })
  return doc
}

function outliner (levels) {
  const doc = new Y.Doc()
  doc.transact(() => {
    let children = doc.getArray('outline')
    for (let i = 0; i < levels; i++) {
      const node = new Y.Map()
      children.push([node])
      node.set('title', `level ${i}`)
      const next = new Y.Array()
      node.set('children', next)
      children = next
    }
  })
  return doc
}

function tldraw (listLevels) {
  const doc = new Y.Doc()
  let content = [{ type: 'paragraph', content: [{ type: 'text', text: 'deepest', marks: [{ type: 'bold' }] }] }]
  for (let i = 0; i < listLevels; i++) content = [{ type: 'bulletList', content: [{ type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: `level ${i}` }] }, ...content] }] }]
  doc.getArray('tl_records').push([{ key: 'shape:1', val: { id: 'shape:1', typeName: 'shape', type: 'text', x: 0, y: 0, props: { richText: { type: 'doc', content } } } }])
  return doc
}

const cases = [
  ['ProseMirror: paragraph', () => prosemirror(() => paragraph('hello'))],
  ['ProseMirror: bullet list nested 10 levels', () => prosemirror(() => nestedList(10, []))],
  ['ProseMirror: table in a 10-level list', () => prosemirror(() => nestedList(10, [table()]))],
  ['ProseMirror: table in a 10-level list in 5 blockquotes', () => prosemirror(() => blockquotes(5, nestedList(10, [table()])))],
  ['ProseMirror: bullet list nested 30 levels', () => prosemirror(() => nestedList(30, []))],
  ['BlockNote: blocks nested 10 levels', () => blocknote(10)],
  ['outliner (Y.Map + Y.Array per node): 30 levels', () => outliner(30)],
  ['tldraw: a text shape with a 10-level list in its rich text', () => tldraw(10)]
]

console.log('| document | type depth | value depth |\n|---|---|---|')
for (const [name, make] of cases) {
  const result = inspectUpdate(new Y.Doc(), Y.encodeStateAsUpdate(make()), { maxDepth: 10_000, maxValueDepth: 10_000 })
  console.log(`| ${name} | ${result.depth} | ${result.valueDepth} |`)
}
