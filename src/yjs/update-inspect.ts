/**
 * Looks at an incoming V1 update next to the document it is meant for,
 * before it is applied, and says whether applying it is safe and honest:
 *
 * - **malformed**: it does not decode exactly as a V1 update (a V2 update sent
 *   where V1 is expected often "decodes" as an empty V1 update followed by
 *   junk, which Yjs ignores: the write would be acknowledged and lost);
 * - **empty**: no structs and no deletions;
 * - **too deep**: it would create shared types nested deeper than
 *   `maxDepth`, or values nested deeper than `maxValueDepth`. Yjs deletes,
 *   garbage-collects, encodes and converts nested content recursively; deep
 *   enough nesting overflows the stack and leaves a document that can no
 *   longer be loaded or that silently stops emitting updates;
 * - **missing**: it depends on something neither the document nor the update
 *   has. Yjs would keep such structs pending: not emitted as an update (so
 *   not stored), yet served to every client that syncs, and merged again on
 *   every later update.
 *
 * The document is only read. Typing costs a few microseconds: the update is
 * scanned once and only type items trigger parent resolution.
 */
import * as Y from 'yjs'
import { StructKind, scanUpdate, looksLikeV2, type ScannedUpdate } from './update-scan.js'
import { ParentResolver } from './update-parents.js'
import { TandemError } from '../errors.js'

/**
 * Deepest nesting of shared types a client may create (a type in a root is
 * at depth 1). Editors stay far below it: through y-prosemirror a bullet
 * list nested ten levels deep is 22, a table inside it 25, thirty levels 62;
 * an outliner with a Y.Map and a Y.Array per node reaches 60 at thirty
 * levels. On Node's default stack Yjs first overflows at about 1,200–1,500
 * levels (`toJSON()` / `toString()` of nested Y.Array or Y.XmlElement), then
 * about 2,000 (deleting a nested Y.Map chain in one transaction): this stays
 * ten times below.
 * (`bench/nesting/` measures both.)
 */
export const DEFAULT_MAX_DEPTH = 128

/**
 * Deepest nesting of arrays and objects inside a value stored in a document
 * (`Y.Map#set(key, value)`, `Y.Array` items, embeds, formats). lib0 reads and
 * writes them recursively (overflowing at about 7,000 levels) and embeds go
 * through `JSON.stringify` (about 4,000). A tldraw text shape whose rich text
 * holds a list nested ten levels deep is 50.
 */
export const DEFAULT_MAX_VALUE_DEPTH = 128

export interface InspectOptions {
  /** Deepest nesting of shared types the update may create; deeper is `too-deep`. @default DEFAULT_MAX_DEPTH (128) */
  maxDepth?: number
  /** Deepest nesting of plain values (arrays, objects) in the update; deeper is `too-deep`. @default DEFAULT_MAX_VALUE_DEPTH (128) */
  maxValueDepth?: number
}

/** What a struct or deletion refers to that is not there. */
export type MissingKind =
  | 'clock-gap' // the client's first struct starts after the document's clock for it
  | 'skip' // a Skip struct: the sender says it left something out
  | 'origin'
  | 'right-origin'
  | 'parent'
  | 'delete' // a deletion of clocks nobody has

export interface MissingDependency {
  kind: MissingKind
  /** The id that is missing (for `clock-gap`: the first clock the document lacks). */
  client: number
  clock: number
}

export type UpdateInspection =
  | { status: 'ok'; depth: number; valueDepth: number; structs: number; deletes: number }
  | { status: 'empty' }
  /** `v2`: it has the shape of a V2 update, so the sender should send V1. */
  | { status: 'malformed'; reason: string; v2: boolean }
  | { status: 'too-deep'; limit: 'types' | 'values'; depth: number; valueDepth: number }
  | { status: 'missing'; missing: MissingDependency; depth: number; valueDepth: number }

/**
 * Inspects `update` (V1) as if it were applied to `doc`, without changing
 * `doc`. `depth` is the deepest type the update would create (0 if none).
 * A too-deep update is reported even when it also has missing dependencies:
 * waiting would not make it acceptable.
 */
export function inspectUpdate (doc: Y.Doc, update: Uint8Array, options: InspectOptions = {}): UpdateInspection {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const maxValueDepth = options.maxValueDepth ?? DEFAULT_MAX_VALUE_DEPTH
  let scan: ScannedUpdate
  try {
    scan = scanUpdate(update)
  } catch (err) {
    if (!(err instanceof TandemError)) throw err
    return { status: 'malformed', reason: err.message, v2: looksLikeV2(update) }
  }
  if (scan.structCount === 0 && scan.deletes.client.length === 0) return { status: 'empty' }
  const valueDepth = scan.valueDepth
  if (valueDepth > maxValueDepth) return { status: 'too-deep', limit: 'values', depth: 0, valueDepth }
  const selfReference = findSelfReference(scan)
  if (selfReference !== null) return { status: 'malformed', reason: selfReference, v2: false }

  const resolver = new ParentResolver(scan, doc)
  let depth = 0
  for (let i = 0; i < scan.structCount; i++) {
    // Only new type items create nesting; what the document already has is skipped by Yjs.
    if (scan.kind[i] !== StructKind.TYPE || scan.clock[i] < resolver.docState(scan.client[i])) continue
    const d = resolver.typeDepth(i)
    if (d > depth) depth = d
  }
  if (depth > maxDepth) return { status: 'too-deep', limit: 'types', depth, valueDepth }
  const missing = findMissing(scan, resolver)
  if (missing !== null) return { status: 'missing', missing, depth, valueDepth }
  return { status: 'ok', depth, valueDepth, structs: scan.structCount, deletes: scan.deletes.client.length }
}

/**
 * A struct whose origin, right origin or parent is itself or a later struct
 * of its own client. Nothing honest writes that (a reference always points
 * at something that existed before), and Yjs throws halfway through
 * integrating it instead of waiting.
 */
function findSelfReference (s: ScannedUpdate): string | null {
  for (let i = 0; i < s.structCount; i++) {
    const client = s.client[i]
    const clock = s.clock[i]
    if ((s.originClient[i] === client && s.originClock[i] >= clock) ||
      (s.rightClient[i] === client && s.rightClock[i] >= clock) ||
      (s.parentClient[i] === client && s.parentClock[i] >= clock)) {
      return `struct ${client}:${clock} refers to itself or to a later struct of its client`
    }
  }
  return null
}

/**
 * Replays the order in which Yjs integrates the update (`integrateStructs`:
 * clients from the highest id down, jumping to another client's structs when
 * a struct depends on them), tracking clocks instead of integrating, and
 * returns the first thing Yjs would have to keep pending.
 */
function findMissing (s: ScannedUpdate, resolver: ParentResolver): MissingDependency | null {
  const state = new Map<number, number>()
  const stateOf = (client: number): number => {
    let clock = state.get(client)
    if (clock === undefined) state.set(client, (clock = resolver.docState(client)))
    return clock
  }
  // Per client: index of its next struct to integrate.
  const next = new Map<number, number>()
  const end = new Map<number, number>()
  const order = s.runs.map((run) => run.client).sort((a, b) => a - b)
  for (const run of s.runs) {
    next.set(run.client, run.first)
    end.set(run.client, run.end)
  }
  const take = (client: number): number => {
    const i = next.get(client) as number
    next.set(client, i + 1)
    return i
  }
  const hasNext = (client: number): boolean => (next.get(client) ?? 0) < (end.get(client) ?? 0)
  const stack: number[] = []
  while (order.length > 0) {
    const current = order[order.length - 1]
    if (!hasNext(current)) {
      order.pop()
      continue
    }
    let head = take(current)
    for (;;) {
      const client = s.client[head]
      if (s.kind[head] === StructKind.SKIP) return { kind: 'skip', client, clock: s.clock[head] }
      const local = stateOf(client)
      if (local < s.clock[head]) return { kind: 'clock-gap', client, clock: local }
      const dep = firstMissingReference(s, head, stateOf)
      if (dep !== null) {
        if (!hasNext(dep.client)) return dep
        stack.push(head)
        head = take(dep.client)
        continue
      }
      if (local < s.clock[head] + s.length[head]) state.set(client, s.clock[head] + s.length[head])
      const back = stack.pop()
      if (back === undefined) break
      head = back
    }
  }
  const del = s.deletes
  for (let i = 0; i < del.client.length; i++) {
    const have = stateOf(del.client[i])
    if (del.clock[i] + del.length[i] > have) {
      return { kind: 'delete', client: del.client[i], clock: Math.max(del.clock[i], have) }
    }
  }
  return null
}

/**
 * Like `Item.getMissing`: another client's id at or beyond what is
 * integrated so far. (Ids are ≥ 0; `NO_ID` and `ROOT_PARENT` are not.)
 */
function firstMissingReference (s: ScannedUpdate, i: number, stateOf: (client: number) => number): MissingDependency | null {
  const own = s.client[i]
  let client = s.originClient[i]
  if (client >= 0 && client !== own && s.originClock[i] >= stateOf(client)) return { kind: 'origin', client, clock: s.originClock[i] }
  client = s.rightClient[i]
  if (client >= 0 && client !== own && s.rightClock[i] >= stateOf(client)) return { kind: 'right-origin', client, clock: s.rightClock[i] }
  client = s.parentClient[i]
  if (client >= 0 && client !== own && s.parentClock[i] >= stateOf(client)) return { kind: 'parent', client, clock: s.parentClock[i] }
  return null
}
