/**
 * How deep can nesting go before Yjs overflows Node's default stack?
 *
 *   node bench/nesting/limits.mjs            # every case, one child process each, Markdown table
 *   node bench/nesting/limits.mjs map 0 toJSON   # one case: kind, extra frames, operation
 *
 * Each case binary-searches the largest depth that still works, in a fresh
 * process (stack use depends on what V8 has optimized, so cases must not share
 * one). "Extra frames" runs the operation below 200 frames of an ordinary
 * function, as a server does from inside ws and event handlers.
 * Not part of `npm test`; the numbers vary by a few percent between runs.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

const KINDS = ['map', 'array', 'xml']
const TYPE_OPS = ['deleteTop', 'loadDeleted', 'loadDeletedMerged', 'toJSON', 'encodeState', 'mergeUpdates', 'loadLive']
const VALUE_OPS = ['anyDecode', 'anyEncode', 'embedEncode']
const MAX = 60_000

function measure (kind, pad, op) {
  const run = (depth) => { try { return OPS[op](kind, depth, pad) } catch (err) { if (process.env.DEBUG) console.error(err); return false } }
  run(50); run(100); run(200) // warm up
  let lo = 10
  let hi = MAX
  if (!run(lo)) return `< ${lo}`
  if (run(hi)) return `≥ ${hi}`
  while (hi - lo > Math.max(5, lo * 0.01)) {
    const mid = Math.floor((lo + hi) / 2)
    if (run(mid)) lo = mid
    else hi = mid
  }
  return `${lo} (${hi})`
}

function root (doc, kind) {
  return kind === 'map' ? doc.getMap('r') : kind === 'array' ? doc.getArray('r') : doc.getXmlFragment('r')
}

function build (kind, depth) {
  const doc = new Y.Doc()
  const rows = []
  doc.on('update', (u) => rows.push(u))
  const types = []
  doc.transact(() => {
    let parent = root(doc, kind)
    for (let i = 0; i < depth; i++) {
      const child = kind === 'map' ? new Y.Map() : kind === 'array' ? new Y.Array() : new Y.XmlElement('p')
      if (parent instanceof Y.Map) parent.set('k', child)
      else parent.insert(0, [child])
      types.push(child)
      parent = child
    }
  })
  return { doc, rows, types }
}

function removeFromParent (type) {
  const parent = type._item.parent
  if (parent instanceof Y.Map) parent.delete('k')
  else parent.delete(0, 1)
}

/** Deletes the chain bottom-up, 200 levels per transaction: each step is shallow. */
function deleteBottomUp ({ doc, types }) {
  for (let end = types.length; end > 0; end -= 200) {
    doc.transact(() => {
      for (let i = end - 1; i >= Math.max(0, end - 200); i--) removeFromParent(types[i])
    })
  }
}

const stuck = (doc) => doc._transaction !== null || doc._transactionCleanups.length > 0

/** Runs `fn` below `frames` frames of a function with a few locals. */
function below (frames, fn) {
  const rec = (i, a, b, c) => {
    if (i <= 0) return fn()
    const x = [a, b]
    const y = { c }
    return rec(i - 1, a + 1, x, y)
  }
  return rec(frames, 0, 1, 2)
}

function nestedAnyUpdate (depth) {
  // One ContentAny item in root array "a" holding [[[…1…]]], written by hand:
  // lib0's writeAny would overflow first.
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0)
  encoding.writeUint8(e, 8); encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'a')
  encoding.writeVarUint(e, 1)
  for (let i = 0; i < depth; i++) { encoding.writeUint8(e, 117); encoding.writeVarUint(e, 1) }
  encoding.writeUint8(e, 125); encoding.writeVarInt(e, 1)
  encoding.writeVarUint(e, 0)
  return encoding.toUint8Array(e)
}

function nestedValue (depth) {
  let v = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

const OPS = {
  deleteTop (kind, depth, pad) {
    const { doc } = build(kind, depth)
    below(pad, () => doc.transact(() => removeFromParent(doc.share.get('r')._map.get('k')?.content.type ?? root(doc, kind).get(0))))
    return !stuck(doc)
  },
  loadDeleted (kind, depth, pad) {
    const built = build(kind, depth)
    deleteBottomUp(built)
    const doc = new Y.Doc()
    below(pad, () => doc.transact(() => { for (const row of built.rows) Y.applyUpdate(doc, row) }))
    return !stuck(doc)
  },
  loadDeletedMerged (kind, depth, pad) {
    const built = build(kind, depth)
    deleteBottomUp(built)
    const merged = Y.mergeUpdates(built.rows)
    const doc = new Y.Doc()
    below(pad, () => Y.applyUpdate(doc, merged))
    return !stuck(doc)
  },
  toJSON (kind, depth, pad) {
    const { doc } = build(kind, depth)
    below(pad, () => kind === 'xml' ? root(doc, kind).toString() : root(doc, kind).toJSON())
    return true
  },
  encodeState (kind, depth, pad) {
    const { doc } = build(kind, depth)
    below(pad, () => Y.encodeStateAsUpdate(doc))
    return true
  },
  mergeUpdates (kind, depth, pad) {
    const built = build(kind, depth)
    deleteBottomUp(built)
    below(pad, () => Y.mergeUpdates(built.rows))
    return true
  },
  loadLive (kind, depth, pad) {
    const update = Y.encodeStateAsUpdate(build(kind, depth).doc)
    const doc = new Y.Doc()
    below(pad, () => Y.applyUpdate(doc, update))
    return !stuck(doc)
  },
  anyDecode (_kind, depth, pad) {
    const update = nestedAnyUpdate(depth)
    const doc = new Y.Doc()
    below(pad, () => Y.applyUpdate(doc, update))
    return doc.getArray('a').length === 1
  },
  anyEncode (_kind, depth, pad) {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, nestedAnyUpdate(Math.min(depth, 1000))) // decodable; then nest deeper locally
    doc.getArray('a').insert(0, [nestedValue(depth)])
    below(pad, () => Y.encodeStateAsUpdate(doc))
    return true
  },
  embedEncode (_kind, depth, pad) {
    const doc = new Y.Doc()
    doc.getText('t').insertEmbed(0, nestedValue(depth))
    below(pad, () => Y.encodeStateAsUpdate(doc))
    return true
  }
}

if (process.argv.length <= 2) {
  const self = fileURLToPath(import.meta.url)
  const rows = []
  for (const pad of [0, 200]) {
    for (const op of [...TYPE_OPS, ...VALUE_OPS]) {
      for (const kind of VALUE_OPS.includes(op) ? ['value'] : KINDS) {
        const out = execFileSync(process.execPath, [self, kind, String(pad), op], { encoding: 'utf8' }).trim()
        rows.push(`| ${op} | ${kind} | ${pad} | ${out} |`)
        console.error(rows[rows.length - 1])
      }
    }
  }
  console.log('| operation | nesting | extra frames | works up to (fails at) |\n|---|---|---|---|\n' + rows.join('\n'))
} else {
  const [kind, padArg, op] = process.argv.slice(2)
  console.log(measure(kind, Number(padArg), op))
}
