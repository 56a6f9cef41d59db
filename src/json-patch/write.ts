import { DraftArray, DraftMap, DraftText, SHAPE_NAMES, isShared, shapeOf, type Draft, type DraftDoc } from './draft.js'
import { invalid } from './error.js'
import { END, arrayIndex, formatPointer } from './pointer.js'
import { valueJson, type Node, type Slot, type Target } from './target.js'
import { deepEqual, hasOwn, isPlainObject, setMember, type Json, type Spend } from './values.js'
import { textDiff } from '../text-diff.js'

/**
 * The changes RFC 6902 `add`, `remove` and `replace` make, as Yjs operations:
 * map sets and deletes, array inserts and deletes, and text edits. Values
 * below the last shared type are plain JSON, rewritten whole.
 */

export interface EditContext {
  draft: DraftDoc
  maxValueDepth: number
  spend: Spend
}

export function addValue (ctx: EditContext, target: Target, value: Json, depth: number): void {
  const { parent, token } = target
  switch (parent.kind) {
    case 'doc':
      return setRoot(ctx, target, value, true)
    case 'map':
      checkDepth(ctx, target, depth, 0)
      // RFC 6902 §4.1: adding an existing member replaces it.
      if (parent.type.get(token) !== undefined) return replaceInSlot(ctx, target, { map: parent.type, key: token }, value)
      checkStorable(target, value)
      parent.type.set(token, value)
      return
    case 'array': {
      checkDepth(ctx, target, depth, 0)
      const index = insertIndex(target, parent.type.length)
      checkStorable(target, value)
      parent.type.insert(index, [value])
      return
    }
    case 'plain':
      checkDepth(ctx, target, depth, parent.inner.length + 1)
      return editPlain(ctx, target, parent, container => {
        if (Array.isArray(container)) container.splice(insertIndex(target, container.length), 0, value)
        else setMember(container, token, value)
      })
    default:
      throw notContainer(target)
  }
}

export function removeValue (ctx: EditContext, target: Target): void {
  const { parent, token } = target
  switch (parent.kind) {
    case 'doc':
      if (ctx.draft.root(token) === undefined) throw missing(target)
      throw invalid(`${target.field} ${target.text} is a root, which cannot be removed (Yjs has no way to delete one); replace its content instead`)
    case 'map':
      if (parent.type.get(token) === undefined) throw missing(target)
      parent.type.delete(token)
      return
    case 'array':
      parent.type.delete(existingIndex(target, parent.type.length), 1)
      return
    case 'plain':
      return editPlain(ctx, target, parent, container => {
        if (Array.isArray(container)) container.splice(existingIndex(target, container.length), 1)
        else if (hasOwn(container, token)) delete container[token]
        else throw missing(target)
      })
    default:
      throw notContainer(target)
  }
}

export function replaceValue (ctx: EditContext, target: Target, value: Json, depth: number): void {
  const { parent, token } = target
  switch (parent.kind) {
    case 'doc':
      return setRoot(ctx, target, value, false)
    case 'map':
      checkDepth(ctx, target, depth, 0)
      if (parent.type.get(token) === undefined) throw missing(target)
      return replaceInSlot(ctx, target, { map: parent.type, key: token }, value)
    case 'array': {
      checkDepth(ctx, target, depth, 0)
      const index = existingIndex(target, parent.type.length)
      return replaceInSlot(ctx, target, { array: parent.type, index }, value)
    }
    case 'plain':
      checkDepth(ctx, target, depth, parent.inner.length + 1)
      return editPlain(ctx, target, parent, container => {
        if (Array.isArray(container)) container[existingIndex(target, container.length)] = value
        else if (hasOwn(container, token)) setMember(container, token, value)
        else throw missing(target)
      })
    default:
      throw notContainer(target)
  }
}

/** `add` or `replace` at path "": the value is the object of all roots. */
export function setDocument (ctx: EditContext, target: Target, value: Json): void {
  if (!isPlainObject(value)) throw invalid(`${target.field} "" is the whole document, an object of roots; it cannot become ${describeValue(value)}`)
  for (const name of ctx.draft.rootNames()) {
    if (!hasOwn(value, name)) throw invalid(`the root /${escape(name)} is missing from the new document, and roots cannot be removed`)
  }
  for (const name of Object.keys(value)) {
    setRoot(ctx, { ...target, parent: { kind: 'doc' }, token: name, tokens: [name], text: '/' + escape(name) }, value[name], true)
  }
}

/**
 * A root keeps the kind it has: a Y.Map holds an object, a Y.Array an array,
 * a Y.Text a string. A root whose content was all removed (null in the view)
 * takes any of the three, and a new root is created as the value says.
 */
function setRoot (ctx: EditContext, target: Target, value: Json, create: boolean): void {
  const name = target.token
  const root = ctx.draft.root(name)
  if (root === undefined && !create) throw missing(target)
  // The view already shows an emptied root as null: setting null again changes nothing.
  if (value === null && root?.kind === 'empty') return
  const wanted = shapeOf(value)
  if (wanted === undefined) throw invalid(`${target.field} ${target.text} is a root, which holds an object, an array or a string, not ${describeValue(value)}`)
  // A root keeps the type it has: the one its content shows, or the one it was defined as here.
  const has = root === undefined || root.kind === 'empty' ? root?.shape ?? ctx.draft.definedShape(name) : root.kind === 'xml' ? 'xml' : shapeOfDraft(root.draft)
  if (has === 'xml') throw invalid(`${target.field} ${target.text} is an XML root, which JSON Patch cannot change`)
  if (has !== undefined && has !== wanted) throw invalid(`${target.field} ${target.text} is ${SHAPE_NAMES[has]} and cannot hold ${describeValue(value)}`)
  reconcile(ctx, target, ctx.draft.typedRoot(name, wanted), value)
}

function shapeOfDraft (draft: Draft): 'map' | 'array' | 'text' {
  return draft instanceof DraftMap ? 'map' : draft instanceof DraftArray ? 'array' : 'text'
}

/**
 * Replaces what a slot holds. A shared type given a value of its own kind is
 * edited to match instead of being swapped for a plain copy, so concurrent
 * edits inside it survive; an equal plain value is left alone.
 */
function replaceInSlot (ctx: EditContext, target: Target, slot: Slot, value: Json, work?: Array<[Draft, Json]>): void {
  const current = 'map' in slot ? slot.map.get(slot.key) : slot.array.get(slot.index)
  const shared = ctx.draft.shared(current)
  if (shared !== undefined && shapeOfDraft(shared) === shapeOf(value)) {
    if (work !== undefined) work.push([shared, value])
    else reconcile(ctx, target, shared, value)
    return
  }
  if (!isShared(current) && current !== undefined && deepEqual(current, value, ctx.spend)) return
  writeSlot(target, slot, value)
}

/** Edits `type` until its JSON equals `value` (of the same kind), breadth-first through nested shared types. */
function reconcile (ctx: EditContext, target: Target, type: Draft, value: Json): void {
  const work: Array<[Draft, Json]> = [[type, value]]
  while (work.length > 0) {
    const [current, next] = work.pop()!
    if (current instanceof DraftText) replaceText(ctx, target, current, next as string)
    else if (current instanceof DraftMap) reconcileMap(ctx, target, current, next as Record<string, Json>, work)
    else reconcileArray(ctx, target, current, next as Json[], work)
  }
}

function reconcileMap (ctx: EditContext, target: Target, map: DraftMap, next: Record<string, Json>, work: Array<[Draft, Json]>): void {
  for (const key of Array.from(map.keys())) {
    ctx.spend(1)
    if (!hasOwn(next, key)) map.delete(key)
  }
  for (const key of Object.keys(next)) {
    const slot = { map, key }
    if (map.get(key) === undefined) writeSlot(target, slot, next[key])
    else replaceInSlot(ctx, target, slot, next[key], work)
  }
}

/**
 * Keeps the elements the old and new arrays share at both ends and rewrites
 * the middle: element by element when it keeps its length (so a nested shared
 * type can be edited in place), else as one delete and one insert.
 */
function reconcileArray (ctx: EditContext, target: Target, array: DraftArray, next: Json[], work: Array<[Draft, Json]>): void {
  const current = array.toArray()
  ctx.spend(current.length)
  const limit = Math.min(current.length, next.length)
  let prefix = 0
  while (prefix < limit && equalElement(ctx, current[prefix], next[prefix])) prefix++
  let suffix = 0
  while (suffix < limit - prefix && equalElement(ctx, current[current.length - 1 - suffix], next[next.length - 1 - suffix])) suffix++
  const removed = current.length - prefix - suffix
  const added = next.slice(prefix, next.length - suffix)
  if (removed === added.length) {
    for (let i = 0; i < removed; i++) replaceInSlot(ctx, target, { array, index: prefix + i }, added[i], work)
    return
  }
  for (const value of added) checkStorable(target, value)
  if (removed > 0) array.delete(prefix, removed)
  if (added.length > 0) array.insert(prefix, added)
}

function equalElement (ctx: EditContext, current: unknown, next: Json): boolean {
  if (!isShared(current)) return deepEqual(current, next, ctx.spend)
  const json = valueJson(ctx.draft, current, { maxDepth: Number.MAX_SAFE_INTEGER, spend: ctx.spend })
  return json.ok && deepEqual(json.value, next, ctx.spend)
}

/** Edits only the middle that differs, never splitting a surrogate pair. */
function replaceText (ctx: EditContext, target: Target, text: DraftText, next: string): void {
  // Embeds count in Y.Text indexes but not in the string the view shows, so string offsets would miss.
  if (text.hasEmbeds) throw invalid(`${target.field} ${target.text}: the text has embedded objects, which JSON Patch cannot edit around`)
  const before = text.toString()
  ctx.spend(1 + ((before.length + next.length) >> 10))
  const edit = textDiff(before, next)
  if (edit.deleteCount > 0) text.delete(edit.index, edit.deleteCount)
  if (edit.insert !== '') text.insert(edit.index, edit.insert)
}

/**
 * Changes inside a plain value: copy the containers on the way down (the
 * stored value is never mutated), change the copy, store the whole value again.
 */
function editPlain (ctx: EditContext, target: Target, parent: Extract<Node, { kind: 'plain' }>, change: (container: Record<string, unknown> | unknown[]) => void): void {
  if (!Array.isArray(parent.value) && !isPlainObject(parent.value)) throw notContainer(target)
  const top = shallowCopy(ctx, parent.root)
  let container = top
  for (const token of parent.inner) {
    const child = shallowCopy(ctx, Array.isArray(container) ? container[Number(token)] : container[token])
    if (Array.isArray(container)) container[Number(token)] = child
    else setMember(container, token, child)
    container = child
  }
  change(container)
  writeSlot(target, parent.slot, top as Json)
}

function shallowCopy (ctx: EditContext, value: unknown): Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) {
    ctx.spend(value.length)
    return value.slice()
  }
  const object = value as Record<string, unknown>
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(object)) setMember(copy, key, object[key])
  ctx.spend(1 + Object.keys(copy).length)
  return copy
}

function writeSlot (target: Target, slot: Slot, value: Json): void {
  checkStorable(target, value)
  if ('map' in slot) {
    slot.map.set(slot.key, value)
  } else {
    slot.array.delete(slot.index, 1)
    slot.array.insert(slot.index, [value])
  }
}

/**
 * Yjs picks the content type of a stored value by `value.constructor`, so an
 * object whose own member is named "constructor" cannot be stored whole
 * (Yjs throws); one level deeper it is fine.
 */
function checkStorable (target: Target, value: Json): void {
  if (isPlainObject(value) && hasOwn(value, 'constructor')) {
    throw invalid(`${target.field} ${target.text}: Yjs cannot store an object with a member named "constructor" as a Y.Map entry or Y.Array element; nest it one level deeper`)
  }
}

function checkDepth (ctx: EditContext, target: Target, depth: number, above: number): void {
  if (above + depth > ctx.maxValueDepth) {
    throw invalid(`${target.field} ${target.text}: the stored value would be nested ${above + depth} levels deep; the limit is ${ctx.maxValueDepth} (maxValueDepth)`)
  }
}

function insertIndex (target: Target, length: number): number {
  const index = arrayIndex(target.token)
  if (index === undefined) throw notIndex(target)
  if (index === END) return length
  if (index > length) throw invalid(`${target.field} ${target.text}: index ${index} is past the end of the array (length ${length})`)
  return index
}

function existingIndex (target: Target, length: number): number {
  const index = arrayIndex(target.token)
  if (index === undefined) throw notIndex(target)
  if (index === END || index >= length) throw missing(target)
  return index
}

function missing (target: Target): Error {
  return invalid(`${target.field} ${target.text} does not exist`)
}

function notIndex (target: Target): Error {
  return invalid(`${target.field} ${target.text}: ${JSON.stringify(target.token)} is not an array index`)
}

function notContainer (target: Target): Error {
  return invalid(`${target.field} ${target.text}: ${formatPointer(target.tokens.slice(0, -1))} is not an object or an array`)
}

function describeValue (value: Json): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

function escape (name: string): string {
  return formatPointer([name]).slice(1)
}
