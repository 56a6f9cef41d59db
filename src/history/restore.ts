import * as Y from 'yjs'
import { rootKind } from '../doc-json.js'

/**
 * The change that makes a document's content equal to an earlier version's,
 * as one Yjs update to apply like any client's.
 *
 * The version is an earlier state of the same document, so everything it
 * shows is made of items the document still has (the same ids), visible or
 * deleted since. The diff works on those ids rather than on content:
 *
 * - an item visible in both is kept as it is (only its formatting, or the
 *   content of a nested type, is brought back), so an edit made against it
 *   (a client offline during the restore, say) lands where its author put it;
 * - an item visible now but not in the version is deleted;
 * - an item visible in the version but deleted since is inserted again as
 *   new content, with its formatting, between the same neighbours (Yjs
 *   cannot undelete: the restore writes it again);
 * - map entries (and XML or text attributes) whose item changed are set to
 *   the version's value, entries added since are deleted.
 *
 * This covers every root kind (text with formatting and embeds, maps,
 * arrays, XML fragments as ProseMirror/Tiptap use them) and nested types at
 * any depth. The result is checked against the version, and a root that does
 * not match is rewritten whole (deleted and inserted again). One history
 * makes ids and content disagree: an edit that split a surrogate pair (an
 * emoji) makes Yjs replace both halves with U+FFFD in place, under the same
 * ids, so the version shows a character the document no longer has there.
 *
 * Pure: it works on scratch copies, never on a live document.
 */
export function restoreUpdate (current: Uint8Array, version: Uint8Array): Uint8Array | null {
  const live = new Y.Doc()
  const target = new Y.Doc()
  try {
    Y.applyUpdate(live, current)
    Y.applyUpdate(target, version)
    const roots = typedRoots(live, target)
    const updates: Uint8Array[] = []
    const collect = (update: Uint8Array): void => { updates.push(update) }
    live.on('update', collect)
    live.transact(() => {
      for (const [liveRoot, targetRoot] of roots) reconcile(liveRoot, targetRoot, true)
    })
    const wrong = roots.filter(([l, t]) => !sameView(l, t))
    if (wrong.length > 0) {
      live.transact(() => {
        for (const [liveRoot, targetRoot] of wrong) reconcile(liveRoot, targetRoot, false)
      })
      if (wrong.some(([l, t]) => !sameView(l, t))) throw new Error('the restore could not reproduce the version')
    }
    live.off('update', collect)
    if (updates.length === 0) return null
    return updates.length === 1 ? updates[0] : Y.mergeUpdates(updates)
  } finally {
    live.destroy()
    target.destroy()
  }
}

type Root = Y.AbstractType<any>

/**
 * Each root of either document, typed alike in both (the scratch documents
 * are ours to type). The kind is what the version's content says, else what
 * the current content says; a root empty in both is left alone.
 */
function typedRoots (live: Y.Doc, target: Y.Doc): Array<[Root, Root]> {
  const names = new Set([...live.share.keys(), ...target.share.keys()])
  const out: Array<[Root, Root]> = []
  for (const name of names) {
    const inTarget = target.share.get(name)
    const inLive = live.share.get(name)
    let kind = inTarget === undefined ? 'empty' : kindOf(inTarget)
    if (kind === 'empty' && inLive !== undefined) kind = kindOf(inLive)
    if (kind === 'empty') continue
    const get = (doc: Y.Doc): Root => {
      switch (kind) {
        case 'text': return doc.getText(name)
        case 'map': return doc.getMap(name)
        case 'array': return doc.getArray(name)
        default: return doc.getXmlFragment(name)
      }
    }
    out.push([get(live), get(target)])
  }
  return out
}

function kindOf (type: Root): string {
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.XmlFragment) return 'xml'
  return rootKind(type)
}

/** Makes `live` show what `target` shows. `byId` false: keep nothing, rewrite everything. */
function reconcile (live: Root, target: Root, byId: boolean): void {
  if (live instanceof Y.XmlHook || live instanceof Y.Map) {
    reconcileEntries(live, target, byId, (k, v) => (live as Y.Map<unknown>).set(k, v), (k) => (live as Y.Map<unknown>).delete(k))
  } else if (live instanceof Y.Text) {
    // Y.XmlText is a Y.Text: both have attributes beside their content.
    reconcileEntries(live, target, byId, (k, v) => live.setAttribute(k, v), (k) => live.removeAttribute(k))
    reconcileSequence(live, target, byId, true)
  } else if (live instanceof Y.XmlElement) {
    reconcileEntries(live, target, byId, (k, v) => live.setAttribute(k, v as string), (k) => live.removeAttribute(k))
    reconcileSequence(live, target, byId, false)
  } else {
    // Y.Array, Y.XmlFragment.
    reconcileSequence(live, target, byId, false)
  }
}

/** Map entries (or attributes): the version's value for each key, no key the version lacks. */
function reconcileEntries (live: Root, target: Root, byId: boolean, set: (key: string, value: unknown) => void, del: (key: string) => void): void {
  const keys = new Set([...live._map.keys(), ...target._map.keys()])
  for (const key of keys) {
    const want = target._map.get(key)
    const have = live._map.get(key)
    const wanted = want !== undefined && !want.deleted
    const had = have !== undefined && !have.deleted
    if (!wanted) {
      if (had) del(key)
      continue
    }
    if (byId && had && sameId(have.id, want.id)) {
      if (want.content instanceof Y.ContentType) reconcile((have.content as Y.ContentType).type, want.content.type, byId)
      continue
    }
    const values = want.content.getContent()
    set(key, copyValue(values[values.length - 1]))
  }
}

/** A visible run of one item's content: `len` units from `offset` on. */
interface Part {
  item: Y.Item
  offset: number
  len: number
  /** Whether the same units are visible on the other side. */
  kept: boolean
  /** The formatting in effect (texts only). */
  attrs?: Record<string, unknown>
}

/**
 * The sequence content: units visible in both are kept (their formatting,
 * and nested types, reconciled), those only visible now are deleted, those
 * only visible in the version are inserted again where they stood.
 *
 * A text gets all of it as one delta: `applyDelta` walks the text once, where
 * an index per edit would search for its position each time (a restore over
 * a long, much-edited text makes thousands of edits).
 */
function reconcileSequence (live: Root, target: Root, byId: boolean, text: boolean): void {
  const livePieces = visiblePieces(live, text)
  const targetPieces = visiblePieces(target, text)
  const liveParts = byId ? split(livePieces, new Ranges(targetPieces)) : livePieces.map((p) => ({ ...p, kept: false }))
  const targetParts = byId ? split(targetPieces, new Ranges(livePieces)) : targetPieces.map((p) => ({ ...p, kept: false }))
  const delta: DeltaOp[] = []
  const nested: Array<[Root, Root]> = []
  let i = 0
  let j = 0
  let pos = 0
  // Each turn consumes at least one unit of one of the two lists.
  while (i < targetParts.length || j < liveParts.length) {
    const have = liveParts[j]
    const want = targetParts[i]
    if (have !== undefined && !have.kept) {
      if (text) delta.push({ delete: have.len })
      else deleteAt(live, pos, have.len)
      j++
    } else if (want !== undefined && !want.kept) {
      if (text) delta.push(textInsert(want))
      else insertAt(live, pos, want)
      pos += want.len
      i++
    } else if (want === undefined || have === undefined || !sameId(idAt(want, 0), idAt(have, 0))) {
      throw new Error('the kept content is in a different order')
    } else {
      const n = Math.min(want.len, have.len)
      if (text) delta.push(sameAttrs(want.attrs!, have.attrs!) ? { retain: n } : { retain: n, attributes: attrsChange(have.attrs!, want.attrs!) })
      if (want.item.content instanceof Y.ContentType) nested.push([(have.item.content as Y.ContentType).type, want.item.content.type])
      pos += n
      if (advance(want, n)) i++
      if (advance(have, n)) j++
    }
  }
  if (text && delta.some((op) => op.retain === undefined || op.attributes !== undefined)) {
    // Never end on an insert: applyDelta may drop a trailing newline of a last insert (Quill's convention).
    delta.push({ retain: 0 })
    ;(live as Y.Text).applyDelta(delta)
  }
  for (const [liveType, targetType] of nested) reconcile(liveType, targetType, byId)
}

interface DeltaOp {
  insert?: unknown
  retain?: number
  delete?: number
  attributes?: Record<string, unknown>
}

/** A delta insert of a part of the version's text, with its formatting. */
function textInsert (part: Part): DeltaOp {
  const content = part.item.content
  // An embed (object or nested type) is one unit.
  const insert = content instanceof Y.ContentString ? content.str.slice(part.offset, part.offset + part.len) : copyValue(content.getContent()[0])
  return { insert, attributes: { ...part.attrs } }
}

/** Visible countable items in order, with the formatting in effect for texts. */
function visiblePieces (type: Root, text: boolean): Array<Omit<Part, 'kept'>> {
  const out: Array<Omit<Part, 'kept'>> = []
  const attrs = new Map<string, unknown>()
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted) continue
    if (item.content instanceof Y.ContentFormat) {
      if (item.content.value === null) attrs.delete(item.content.key)
      else attrs.set(item.content.key, item.content.value)
      continue
    }
    if (!item.countable) continue
    out.push({ item, offset: 0, len: item.length, attrs: text ? Object.fromEntries(attrs) : undefined })
  }
  return out
}

/** The ids visible in a list of pieces, by client, for lookups. */
class Ranges {
  private readonly byClient = new Map<number, Array<[number, number]>>()

  constructor (pieces: Array<Omit<Part, 'kept'>>) {
    for (const p of pieces) {
      const list = this.byClient.get(p.item.id.client) ?? []
      list.push([p.item.id.clock + p.offset, p.item.id.clock + p.offset + p.len])
      this.byClient.set(p.item.id.client, list)
    }
    for (const list of this.byClient.values()) list.sort((a, b) => a[0] - b[0])
  }

  /** `[start, end)` cut into runs that are visible here (true) or not (false). */
  cut (client: number, start: number, end: number): Array<[number, number, boolean]> {
    const list = this.byClient.get(client) ?? []
    const out: Array<[number, number, boolean]> = []
    // The first range that ends after `start`.
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid][1] <= start) lo = mid + 1
      else hi = mid
    }
    let at = start
    for (let k = lo; k < list.length && at < end; k++) {
      const [s, e] = list[k]
      if (s >= end) break
      if (s > at) out.push([at, s, false])
      const from = Math.max(s, at)
      const to = Math.min(e, end)
      out.push([from, to, true])
      at = to
    }
    if (at < end) out.push([at, end, false])
    return out
  }
}

/** Pieces cut where their units stop or start being visible on the other side. */
function split (pieces: Array<Omit<Part, 'kept'>>, other: Ranges): Part[] {
  const out: Part[] = []
  for (const p of pieces) {
    const start = p.item.id.clock + p.offset
    for (const [from, to, kept] of other.cut(p.item.id.client, start, start + p.len)) {
      out.push({ ...p, offset: p.offset + from - start, len: to - from, kept })
    }
  }
  return out
}

/** Moves a part past its first `n` units; true when nothing is left of it. */
function advance (part: Part, n: number): boolean {
  part.offset += n
  part.len -= n
  return part.len === 0
}

function idAt (part: Part, k: number): Y.ID {
  return Y.createID(part.item.id.client, part.item.id.clock + part.offset + k)
}

function sameId (a: Y.ID, b: Y.ID): boolean {
  return a.client === b.client && a.clock === b.clock
}

function deleteAt (type: Root, index: number, length: number): void {
  (type as Y.Array<unknown>).delete(index, length)
}

/** Inserts a part of the version's array or XML content at `index`. */
function insertAt (type: Root, index: number, part: Part): void {
  const values = part.item.content.getContent().slice(part.offset, part.offset + part.len).map(copyValue)
  ;(type as Y.Array<unknown>).insert(index, values)
}

function sameAttrs (a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && canonical(a[k]) === canonical(b[k]))
}

/** The `format` argument that turns formatting `from` into `to`: changed keys set, dropped keys null. */
function attrsChange (from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const change: Record<string, unknown> = {}
  for (const key of Object.keys(from)) if (!(key in to)) change[key] = null
  for (const [key, value] of Object.entries(to)) if (!(key in from) || canonical(from[key]) !== canonical(value)) change[key] = value
  return change
}

/**
 * A value of the version, ready to insert into the live document: plain
 * values as they are, shared types as fresh copies (with their attributes
 * and nested types, which Yjs's own `clone` leaves out for texts).
 */
function copyValue (value: unknown): unknown {
  if (value instanceof Y.Doc) return new Y.Doc({ guid: value.guid, meta: value.meta })
  if (!(value instanceof Y.AbstractType)) return value
  if (value instanceof Y.XmlHook) {
    const hook = new Y.XmlHook(value.hookName)
    value.forEach((v, k) => hook.set(k, copyValue(v)))
    return hook
  }
  if (value instanceof Y.Map) {
    const map = new Y.Map()
    value.forEach((v, k) => map.set(k, copyValue(v)))
    return map
  }
  if (value instanceof Y.Array) return Y.Array.from(value.toArray().map(copyValue) as any[])
  if (value instanceof Y.Text) {
    const text = value instanceof Y.XmlText ? new Y.XmlText() : new Y.Text()
    text.applyDelta(value.toDelta().map((op: { insert: unknown }) => ({ ...op, insert: copyValue(op.insert) })))
    for (const [k, v] of Object.entries(value.getAttributes())) text.setAttribute(k, copyValue(v))
    return text
  }
  if (value instanceof Y.XmlElement) {
    const element = new Y.XmlElement(value.nodeName)
    for (const [k, v] of Object.entries(value.getAttributes())) element.setAttribute(k, copyValue(v) as string)
    element.insert(0, value.toArray().map(copyValue) as Array<Y.XmlElement | Y.XmlText>)
    return element
  }
  if (value instanceof Y.XmlFragment) {
    const fragment = new Y.XmlFragment()
    fragment.insert(0, value.toArray().map(copyValue) as Array<Y.XmlElement | Y.XmlText>)
    return fragment
  }
  return value
}

/** Whether two types show the same content, formatting and attributes included. */
export function sameView (a: Root, b: Root): boolean {
  return canonical(view(a)) === canonical(view(b))
}

/** Everything a type shows, as plain data. */
export function view (value: unknown): unknown {
  if (value instanceof Y.Doc) return { subdoc: value.guid }
  if (value instanceof Uint8Array) return { binary: Buffer.from(value).toString('base64') }
  if (!(value instanceof Y.AbstractType)) return value
  if (value instanceof Y.Map || value instanceof Y.XmlHook) {
    const out: Record<string, unknown> = {}
    value.forEach((v: unknown, k: string) => { out[k] = view(v) })
    return { map: out }
  }
  if (value instanceof Y.Array) return { array: value.toArray().map(view) }
  if (value instanceof Y.Text) return { text: textView(value), attributes: mapView(value.getAttributes()) }
  if (value instanceof Y.XmlElement) return { element: value.nodeName, attributes: mapView(value.getAttributes()), children: value.toArray().map(view) }
  if (value instanceof Y.XmlFragment) return { fragment: value.toArray().map(view) }
  return null
}

/**
 * A text's delta with neighbouring runs of equal formatting joined: a
 * formatting mark that changes nothing still splits `toDelta`'s runs, and
 * two texts that show the same are the same.
 */
function textView (text: Y.Text): Array<{ insert: unknown; attributes: unknown }> {
  const out: Array<{ insert: unknown; attributes: unknown }> = []
  for (const op of text.toDelta() as Array<{ insert: unknown; attributes?: unknown }>) {
    const attributes = op.attributes ?? {}
    const last = out[out.length - 1]
    if (typeof op.insert === 'string' && last !== undefined && typeof last.insert === 'string' && canonical(last.attributes) === canonical(attributes)) {
      last.insert += op.insert
    } else {
      out.push({ insert: typeof op.insert === 'string' ? op.insert : view(op.insert), attributes })
    }
  }
  return out
}

function mapView (attributes: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, view(v)]))
}

/** JSON with object keys sorted, for comparisons. */
function canonical (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}
