import * as Y from 'yjs'
import { rootKind } from '../doc-json.js'
import { invalid } from './error.js'
import { formatPointer } from './pointer.js'
import { isPlainObject, setMember, type Json, type Spend } from './values.js'

/**
 * A draft of a Y.Doc: reads the live document, keeps this patch's changes to
 * the side, and records each change as the Yjs operation that makes it. A
 * patch is worked out on the draft; only when every operation succeeded are
 * the recorded edits made on the document, in one transaction (`applyEdits`).
 * Yjs transactions cannot be rolled back, so nothing may fail after the first
 * real write: every check happens on the draft.
 *
 * Reading never defines a root's type either: untyped roots (a document
 * loaded from updates) are read through the same internals the JSON view
 * judges them by. A root gets its type only when an edit is made to it.
 */

export type RootShape = 'map' | 'array' | 'text'

/** Where a draft's edits go: an existing shared type, or a root typed when the edits are made. */
type Live = Y.AbstractType<any> | { root: string; shape: RootShape }

export type Edit =
  | { kind: 'map-set'; target: DraftMap; key: string; value: Json }
  | { kind: 'map-delete'; target: DraftMap; key: string }
  | { kind: 'array-insert'; target: DraftArray; index: number; values: Json[] }
  | { kind: 'array-delete'; target: DraftArray; index: number; count: number }
  | { kind: 'text-insert'; target: DraftText; index: number; text: string }
  | { kind: 'text-delete'; target: DraftText; index: number; count: number }

export type Draft = DraftMap | DraftArray | DraftText

/** What a root is, as the JSON view reads it. */
export type Root =
  /** A root with content, read as its content says (a draft of it refuses edits if its defined type disagrees). */
  | { kind: 'shared'; draft: Draft }
  /** No live content: the view shows null. `shape` is set when the root's type is already defined. */
  | { kind: 'empty'; shape: RootShape | 'xml' | undefined }
  | { kind: 'xml'; value: string }

const DELETED = Symbol('deleted')

export const SHAPE_NAMES = { map: 'a Y.Map (an object)', array: 'a Y.Array (an array)', text: 'a Y.Text (a string)', xml: 'XML' } as const

/** Drafts of roots whose type disagrees with their content refuse edits, so no edit reaches the wrong type. */
abstract class Editable {
  constructor (readonly live: Live, private readonly readOnly: string | undefined) {}
  protected checkWritable (): void {
    if (this.readOnly !== undefined) throw invalid(this.readOnly)
  }
}

export class DraftDoc {
  readonly edits: Edit[] = []
  private readonly drafts = new Map<Y.AbstractType<any>, Draft>()
  /** Roots this patch created or gave a type to, by name. */
  private readonly typed = new Map<string, Draft>()

  constructor (readonly doc: Y.Doc, readonly spend: Spend) {}

  /** The roots the JSON view shows, and the ones this patch created. */
  rootNames (): string[] {
    const names = new Set(this.typed.keys())
    for (const [name, type] of this.doc.share) if (hasContent(type)) names.add(name)
    return Array.from(names)
  }

  root (name: string): Root | undefined {
    const draft = this.typed.get(name)
    if (draft !== undefined) return { kind: 'shared', draft }
    const type = this.doc.share.get(name)
    // A root some code asked for but nobody wrote to is not in the update, so not in the view.
    if (type === undefined || !hasContent(type)) return undefined
    const holds = rootKind(type)
    if (holds === 'xml') return { kind: 'xml', value: xmlString(type) }
    if (holds === 'empty') return { kind: 'empty', shape: definedShape(type) }
    return { kind: 'shared', draft: this.wrap(type, holds, name) }
  }

  /** The type root `name` was defined as in this document, even while it has no content. */
  definedShape (name: string): RootShape | 'xml' | undefined {
    const type = this.doc.share.get(name)
    return type === undefined ? undefined : definedShape(type)
  }

  /**
   * Root `name` as a draft of `shape`: for a new root, an emptied one, or one
   * already of that shape. The caller has checked that with `root()`.
   */
  typedRoot (name: string, shape: RootShape): Draft {
    const known = this.root(name)
    if (known?.kind === 'shared') return known.draft
    const type = this.doc.share.get(name)
    const live: Live = type !== undefined && definedShape(type) !== undefined ? type : { root: name, shape }
    // An emptied root's items are all deleted: the draft starts empty whatever they were.
    const draft = shape === 'map' ? new DraftMap(this, type ?? null, live) : shape === 'array' ? new DraftArray(this, null, live) : new DraftText(this, null, live)
    this.typed.set(name, draft)
    return draft
  }

  /** The draft of a nested Y.Map, Y.Array or Y.Text (not XML), or undefined for anything else. */
  shared (value: unknown): Draft | undefined {
    if (value instanceof DraftMap || value instanceof DraftArray || value instanceof DraftText) return value
    if (!(value instanceof Y.AbstractType) || isXml(value)) return undefined
    if (value instanceof Y.Map) return this.wrap(value, 'map')
    if (value instanceof Y.Array) return this.wrap(value, 'array')
    if (value instanceof Y.Text) return this.wrap(value, 'text')
    return undefined
  }

  private wrap (type: Y.AbstractType<any>, shape: RootShape, rootName?: string): Draft {
    let draft = this.drafts.get(type)
    if (draft === undefined) {
      const defined = definedShape(type)
      const live: Live = rootName !== undefined && defined === undefined ? { root: rootName, shape } : type
      // Yjs would write to the type as defined, not as the content reads: refuse instead.
      const readOnly = rootName !== undefined && defined !== undefined && defined !== shape
        ? `root ${formatPointer([rootName])} is defined in this document as ${SHAPE_NAMES[defined]} but holds ${SHAPE_NAMES[shape]}; it cannot be patched`
        : undefined
      draft = shape === 'map' ? new DraftMap(this, type, live, readOnly) : shape === 'array' ? new DraftArray(this, type, live, readOnly) : new DraftText(this, type, live, readOnly)
      this.drafts.set(type, draft)
    }
    return draft
  }

  /**
   * One level of a draft or shared type as plain containers of raw children,
   * for copyJson. Changed types are read through their drafts.
   */
  readonly expand = (value: object): unknown => {
    const draft = value instanceof Y.AbstractType ? this.drafts.get(value) : value
    if (draft === undefined) {
      // A shared type this patch did not touch: read it as it is.
      const type = value as Y.AbstractType<any>
      if (isXml(type)) return type.toJSON()
      if (type instanceof Y.Map) return mapObject(type, key => type.get(key))
      if (type instanceof Y.Array) return type.toArray()
      if (type instanceof Y.Text) return type.toString()
      return undefined
    }
    if (draft instanceof DraftMap) return mapObject(draft, key => draft.get(key))
    if (draft instanceof DraftArray) return draft.toArray()
    if (draft instanceof DraftText) return draft.toString()
    return undefined
  }
}

function mapObject (map: { keys: () => Iterable<string> }, get: (key: string) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of map.keys()) {
    const value = get(key)
    // An entry holding undefined is absent from the JSON view.
    if (value !== undefined) setMember(out, key, value)
  }
  return out
}

export class DraftMap extends Editable {
  private readonly changes = new Map<string, unknown>()
  constructor (private readonly owner: DraftDoc, private readonly base: Y.AbstractType<any> | null, live: Live, readOnly?: string) {
    super(live, readOnly)
  }

  get (key: string): unknown {
    if (this.changes.has(key)) {
      const value = this.changes.get(key)
      return value === DELETED ? undefined : value
    }
    if (this.base === null) return undefined
    // Y.Map#get, for typed and untyped maps alike.
    const item = this.base._map.get(key)
    return item !== undefined && !item.deleted ? item.content.getContent()[item.length - 1] : undefined
  }

  keys (): string[] {
    const keys = new Set<string>()
    if (this.base !== null) for (const [key, item] of this.base._map) if (!item.deleted) keys.add(key)
    for (const [key, value] of this.changes) {
      if (value === DELETED) keys.delete(key)
      else keys.add(key)
    }
    return Array.from(keys)
  }

  set (key: string, value: Json): void {
    this.checkWritable()
    this.changes.set(key, value)
    this.owner.edits.push({ kind: 'map-set', target: this, key, value })
  }

  delete (key: string): void {
    this.checkWritable()
    this.changes.set(key, DELETED)
    this.owner.edits.push({ kind: 'map-delete', target: this, key })
  }
}

export class DraftArray extends Editable {
  private items: unknown[] | null = null
  constructor (private readonly owner: DraftDoc, private readonly base: Y.AbstractType<any> | null, live: Live, readOnly?: string) {
    super(live, readOnly)
  }

  /** The elements, read once (typed and untyped arrays alike) and then kept up to date here. */
  private load (): unknown[] {
    if (this.items === null) {
      const items: unknown[] = []
      for (let item = this.base?._start ?? null; item !== null; item = item.right) {
        if (!item.deleted && item.countable) for (const value of item.content.getContent()) items.push(value)
      }
      this.owner.spend(items.length)
      this.items = items
    }
    return this.items
  }

  get length (): number {
    return this.load().length
  }

  get (index: number): unknown {
    return this.load()[index]
  }

  toArray (): unknown[] {
    return this.load().slice()
  }

  insert (index: number, values: Json[]): void {
    this.checkWritable()
    const items = this.load()
    // concat, not splice(...values): a spread of many values would overflow the argument list.
    this.items = items.slice(0, index).concat(values, items.slice(index))
    this.owner.edits.push({ kind: 'array-insert', target: this, index, values })
  }

  delete (index: number, count: number): void {
    this.checkWritable()
    this.load().splice(index, count)
    this.owner.edits.push({ kind: 'array-delete', target: this, index, count })
  }
}

export class DraftText extends Editable {
  private text: string | null = null
  private embeds = false
  constructor (private readonly owner: DraftDoc, private readonly base: Y.AbstractType<any> | null, live: Live, readOnly?: string) {
    super(live, readOnly)
  }

  private load (): string {
    if (this.text === null) {
      let text = ''
      for (let item = this.base?._start ?? null; item !== null; item = item.right) {
        if (item.deleted || !item.countable) continue
        if (item.content instanceof Y.ContentString) text += item.content.str
        else this.embeds = true
      }
      this.owner.spend(1 + (text.length >> 10))
      this.text = text
    }
    return this.text
  }

  override toString (): string {
    return this.load()
  }

  /** Embeds count in Y.Text indexes but not in the string the view shows. */
  get hasEmbeds (): boolean {
    this.load()
    return this.embeds
  }

  insert (index: number, text: string): void {
    this.checkWritable()
    const current = this.load()
    this.text = current.slice(0, index) + text + current.slice(index)
    this.owner.edits.push({ kind: 'text-insert', target: this, index, text })
  }

  delete (index: number, count: number): void {
    this.checkWritable()
    const current = this.load()
    this.text = current.slice(0, index) + current.slice(index + count)
    this.owner.edits.push({ kind: 'text-delete', target: this, index, count })
  }
}

/**
 * Makes the recorded edits on the live document. Call inside one
 * `doc.transact`; the draft has checked everything, so none of these throws.
 */
export function applyEdits (doc: Y.Doc, edits: readonly Edit[]): void {
  for (const edit of edits) {
    switch (edit.kind) {
      case 'map-set': (liveType(doc, edit.target) as Y.Map<unknown>).set(edit.key, edit.value); break
      case 'map-delete': (liveType(doc, edit.target) as Y.Map<unknown>).delete(edit.key); break
      case 'array-insert': (liveType(doc, edit.target) as Y.Array<unknown>).insert(edit.index, edit.values); break
      case 'array-delete': (liveType(doc, edit.target) as Y.Array<unknown>).delete(edit.index, edit.count); break
      case 'text-insert': (liveType(doc, edit.target) as Y.Text).insert(edit.index, edit.text); break
      case 'text-delete': (liveType(doc, edit.target) as Y.Text).delete(edit.index, edit.count); break
    }
  }
}

function liveType (doc: Y.Doc, draft: Draft): Y.AbstractType<any> {
  const live = draft.live
  if (live instanceof Y.AbstractType) return live
  // Defining the root's type here, with the first edit made to it, as a client would.
  return live.shape === 'map' ? doc.getMap(live.root) : live.shape === 'array' ? doc.getArray(live.root) : doc.getText(live.root)
}

function hasContent (type: Y.AbstractType<any>): boolean {
  return type._start !== null || type._map.size > 0
}

/** The shape a root's type was defined as in this document, or undefined while it is untyped. */
function definedShape (type: Y.AbstractType<any>): RootShape | 'xml' | undefined {
  if (isXml(type)) return 'xml'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.Text) return 'text'
  return undefined
}

function isXml (type: Y.AbstractType<any>): boolean {
  return type instanceof Y.XmlFragment || type instanceof Y.XmlText || type instanceof Y.XmlHook
}

/** What the JSON view shows for an XML root: its children's XML, as XmlFragment#toString gives it. */
function xmlString (type: Y.AbstractType<any>): string {
  if (type instanceof Y.XmlFragment || type instanceof Y.XmlText) return type.toString()
  let out = ''
  for (let item = type._start; item !== null; item = item.right) {
    if (!item.deleted && item.countable) for (const child of item.content.getContent()) out += String(child)
  }
  return out
}

export function isDraft (value: unknown): value is Draft {
  return value instanceof DraftMap || value instanceof DraftArray || value instanceof DraftText
}

/** Whether `value` is a Yjs shared type or a draft of one (as opposed to a plain value). */
export function isShared (value: unknown): boolean {
  return value instanceof Y.AbstractType || isDraft(value)
}

export function shapeOf (value: Json): RootShape | undefined {
  return isPlainObject(value) ? 'map' : Array.isArray(value) ? 'array' : typeof value === 'string' ? 'text' : undefined
}
