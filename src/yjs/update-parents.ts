/**
 * Which shared type each struct of a scanned update would land in, decided
 * the way Yjs decides it (`Item.getMissing`), without applying anything:
 *
 * - an explicit parent is a root name, or the id of an item whose content is
 *   a type (any other struct there, GC included, makes the new item a GC);
 * - otherwise the item sits next to its origin (or, without one, its right
 *   origin) and shares that neighbour's parent; a GC neighbour on either side
 *   makes the new item a GC.
 *
 * Neighbours and parents may be in the document or in the same update, in
 * any client's run and in the middle of a multi-character item. Answers are
 * memoized per struct and computed with an explicit stack, so a chain of ten
 * thousand keystrokes, each the origin of the next, costs ten thousand steps,
 * and a ten-thousand-deep chain of types cannot overflow anything.
 */
import * as Y from 'yjs'
import { NO_ID, ROOT_PARENT, StructKind, type ClientRun, type ScannedUpdate } from './update-scan.js'

/** `parentOf` results that are not an index into the update. */
export const Parent = {
  /** Not computed yet (internal). */
  UNRESOLVED: -1,
  /** A root type of the document. */
  ROOT: -2,
  /** No parent: Yjs turns the item into a GC struct. */
  NONE: -3,
  /** Something the parent depends on is neither in the document nor in the update. */
  MISSING: -4,
  /** A type already in the document; see `docParent`. */
  DOC: -5,
  /** Being computed further down the stack; meeting it again is a cycle (internal). */
  VISITING: -6
} as const

/** Where an id was found: an index into the update, or one of these. */
const IN_DOC = -2
const NOT_FOUND = -1

export class ParentResolver {
  /** Per struct: a `Parent` code, or the index of the update's type item that is its parent. */
  private readonly parents: Int32Array
  /** The parent type of structs whose parent is `Parent.DOC`. */
  private readonly docParents = new Map<number, Y.AbstractType<any>>()
  /** Depth of each update type item's own type (0 = unknown yet). */
  private readonly depths: Int32Array
  private readonly docDepths = new Map<Y.AbstractType<any>, number>()
  private readonly runs = new Map<number, ClientRun>()
  /** The document struct found by the last `find` that returned `IN_DOC`. */
  private found: Y.Item | Y.GC | null = null

  /** @param doc the document the update would be applied to; null for an empty one. */
  constructor (private readonly scan: ScannedUpdate, private readonly doc: Y.Doc | null) {
    this.parents = new Int32Array(scan.structCount).fill(Parent.UNRESOLVED)
    this.depths = new Int32Array(scan.structCount)
    for (const run of scan.runs) this.runs.set(run.client, run)
  }

  /** The document's clock for `client`: every clock below it is in the document. */
  docState (client: number): number {
    return this.doc === null ? 0 : Y.getState(this.doc.store, client)
  }

  /**
   * Finds the struct holding `client:clock`: returns its index in the update,
   * `IN_DOC` (and sets `found`), or `NOT_FOUND`. The document wins for clocks
   * it already has, as in Yjs, which skips what it already has.
   */
  private find (client: number, clock: number): number {
    if (clock < this.docState(client)) {
      const structs = (this.doc as Y.Doc).store.clients.get(client) as Array<Y.Item | Y.GC>
      this.found = structs[Y.findIndexSS(structs, clock)]
      return IN_DOC
    }
    return this.indexOf(client, clock)
  }

  /** Index of the update's struct that holds `client:clock`, or `NOT_FOUND`. */
  indexOf (client: number, clock: number): number {
    const run = this.runs.get(client)
    if (run === undefined || clock < run.firstClock || clock >= run.endClock) return NOT_FOUND
    const starts = this.scan.clock
    let lo = run.first
    let hi = run.end - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (starts[mid] <= clock) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /**
   * The parent of struct `i`: a `Parent` code (`ROOT`, `NONE`, `MISSING`,
   * `DOC`) or the index of the update's type item it lands in.
   */
  parentOf (i: number): number {
    const parents = this.parents
    if (parents[i] !== Parent.UNRESOLVED) return parents[i]
    const stack = [i]
    while (stack.length > 0) {
      const k = stack[stack.length - 1]
      const step = this.step(k)
      const first = pendingIndex(step)
      if (first < 0) {
        parents[k] = step
        stack.pop()
      } else if (parents[first] === Parent.VISITING) {
        // A cycle of neighbours: Yjs would keep all of them pending forever.
        parents[k] = Parent.MISSING
        stack.pop()
      } else {
        parents[k] = Parent.VISITING
        stack.push(first)
      }
    }
    return parents[i]
  }

  /**
   * How deep the type held by type item `i` would be: 1 for a type whose
   * parent is a root, 1 + its parent's depth otherwise; -1 if it would not
   * exist (it becomes a GC or waits for something missing).
   */
  typeDepth (i: number): number {
    const depths = this.depths
    const chain: number[] = []
    let base = -1
    for (let k = i; ;) {
      if (depths[k] !== 0) {
        base = depths[k]
        break
      }
      chain.push(k)
      const parent = this.parentOf(k)
      if (parent >= 0) {
        k = parent
        continue
      }
      if (parent === Parent.ROOT) base = 0
      else if (parent === Parent.DOC) base = this.docDepth(this.docParents.get(k) as Y.AbstractType<any>)
      break
    }
    for (let j = chain.length - 1; j >= 0; j--) {
      base = base < 0 ? -1 : base + 1
      depths[chain[j]] = base
    }
    return depths[i]
  }

  /** Depth of a document type: how many type items hold it, itself included (a root is 0). */
  docDepth (type: Y.AbstractType<any>): number {
    const chain: Array<Y.AbstractType<any>> = []
    let base = 0
    for (let t = type; ;) {
      const known = this.docDepths.get(t)
      if (known !== undefined) {
        base = known
        break
      }
      const parent = t._item?.parent
      if (!(parent instanceof Y.AbstractType)) break // t is a root
      chain.push(t)
      t = parent
    }
    for (let j = chain.length - 1; j >= 0; j--) this.docDepths.set(chain[j], ++base)
    return base
  }

  /**
   * One step of resolving struct `k`: its answer (a `Parent` code or a parent
   * index), or `pending(j)` when update struct `j` must be resolved first.
   */
  private step (k: number): number {
    const s = this.scan
    const kind = s.kind[k]
    if (kind === StructKind.GC) return Parent.NONE
    if (kind === StructKind.SKIP) return Parent.MISSING
    if (s.parentClient[k] === ROOT_PARENT) return Parent.ROOT
    if (s.parentClient[k] !== NO_ID) {
      const at = this.find(s.parentClient[k], s.parentClock[k])
      if (at === NOT_FOUND) return Parent.MISSING
      if (at === IN_DOC) {
        const found = this.found
        if (!(found instanceof Y.Item) || !(found.content instanceof Y.ContentType)) return Parent.NONE
        this.docParents.set(k, found.content.type)
        return Parent.DOC
      }
      if (s.kind[at] === StructKind.SKIP) return Parent.MISSING
      if (s.kind[at] !== StructKind.TYPE) return Parent.NONE
      // A type item that itself becomes a GC (or waits) takes its children with it.
      const its = this.parents[at]
      if (its === Parent.UNRESOLVED || its === Parent.VISITING) return pending(at)
      return its === Parent.NONE || its === Parent.MISSING ? its : at
    }
    // Both neighbours must exist; either one ending up a GC makes this a GC;
    // otherwise the item shares its origin's parent (or its right origin's).
    let gc = false
    let from: number | Y.Item | null = null
    for (let side = 0; side < 2; side++) {
      const client = side === 0 ? s.originClient[k] : s.rightClient[k]
      if (client === NO_ID) continue
      const at = this.find(client, side === 0 ? s.originClock[k] : s.rightClock[k])
      if (at === NOT_FOUND) return Parent.MISSING
      if (at === IN_DOC) {
        const found = this.found
        if (found instanceof Y.Item) from ??= found
        else gc = true
        continue
      }
      const atKind = s.kind[at]
      if (atKind === StructKind.SKIP) return Parent.MISSING
      if (atKind === StructKind.GC) {
        gc = true
        continue
      }
      const its = this.parents[at]
      if (its === Parent.UNRESOLVED || its === Parent.VISITING) return pending(at)
      if (its === Parent.MISSING) return Parent.MISSING
      if (its === Parent.NONE) gc = true
      else from ??= at
    }
    if (gc) return Parent.NONE
    if (from === null) return Parent.MISSING // the scan reads an explicit parent when there is no neighbour
    if (typeof from !== 'number') {
      const parent = from.parent
      if (!(parent instanceof Y.AbstractType)) return Parent.NONE
      this.docParents.set(k, parent)
      return Parent.DOC
    }
    const parent = this.parents[from]
    if (parent === Parent.DOC) this.docParents.set(k, this.docParents.get(from) as Y.AbstractType<any>)
    return parent
  }
}

/** Encodes "resolve update struct `index` first" apart from parent codes and parent indexes. */
const pending = (index: number): number => -100 - index
const pendingIndex = (step: number): number => step <= -100 ? -100 - step : -1
