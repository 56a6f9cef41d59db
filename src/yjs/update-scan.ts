/**
 * Reads a V1 Yjs update into flat arrays, one entry per struct, without
 * building any Yjs object and without recursion. It is the first step of
 * every check on an incoming update, so it has to be cheap for a keystroke
 * and safe on a hostile megabyte:
 *
 * - Nothing here recurses. Nested `Any` values (which lib0's `readAny` reads
 *   recursively) are walked with an explicit stack, and their depth is
 *   reported; JSON text is measured with a character scan.
 * - Every loop consumes input, so a count claiming billions of entries ends
 *   at the end of the buffer, after as many steps as there are bytes.
 * - The result keeps byte offsets, so a caller can copy or rewrite structs
 *   without encoding them again (see `flat-gc.ts`).
 * - Strings are checked (UTF-8, as lib0's fatal decoder wants) and measured
 *   in place, never decoded: a `TextDecoder` call costs about a microsecond,
 *   more than everything else a struct needs.
 *
 * The V1 layout, as Yjs writes it (`writeClientsStructs`, `writeDeleteSet`):
 *
 *   update   = varuint clientCount, { run }, deleteSet
 *   run      = varuint structCount, varuint client, varuint firstClock, { struct }
 *   struct   = u8 info, ...   info & 31: 0 GC (varuint len), 10 Skip (varuint len),
 *              1–9 an item: [origin id if info & 128] [right origin id if info & 64]
 *              [if neither: varuint 1 + string root name, or varuint 0 + parent id;
 *               then a string key if info & 32] content
 *   deleteSet = varuint clientCount, { varuint client, varuint count, { varuint clock, varuint len } }
 */
import * as decoding from 'lib0/decoding'
import { TandemError } from '../errors.js'
import { utf16Length } from './utf8.js'

/** `info & 31` of a struct: what its content is. */
export const StructKind = {
  GC: 0,
  DELETED: 1,
  JSON: 2,
  BINARY: 3,
  STRING: 4,
  EMBED: 5,
  FORMAT: 6,
  TYPE: 7,
  ANY: 8,
  DOC: 9,
  SKIP: 10
} as const

/** The shared types a `TYPE` struct can hold (`ContentType` type refs). */
export const TypeRef = {
  ARRAY: 0,
  MAP: 1,
  TEXT: 2,
  XML_ELEMENT: 3,
  XML_FRAGMENT: 4,
  XML_HOOK: 5,
  XML_TEXT: 6
} as const

/** "No such id" in the id arrays below (real clients and clocks are ≥ 0). */
export const NO_ID = -1

/** In `parentClient`: the parent is a root type, named in the update. */
export const ROOT_PARENT = -2

/** A range of structs of one client, in the order the update lists them. */
export interface ClientRun {
  client: number
  /** Index of the run's first struct in the struct arrays. */
  first: number
  /** Index after the run's last struct. */
  end: number
  firstClock: number
  /** Clock after the run's last struct. */
  endClock: number
  /** Byte offset after the run's last struct. */
  endByte: number
}

/**
 * A column of numbers, one per struct. Small updates use plain arrays:
 * allocating a typed array costs more than scanning a keystroke. Large ones
 * use `Float64Array`s that double when full: pushing onto plain arrays costs
 * several times more per struct.
 */
export type Column = number[] | Float64Array

const STRUCT_COLUMNS = ['client', 'clock', 'length', 'kind', 'typeRef', 'originClient', 'originClock', 'rightClient', 'rightClock', 'parentClient', 'parentClock', 'start', 'body'] as const

/** Updates from this size on get typed columns. */
const TYPED_COLUMNS_FROM_BYTES = 2048

/**
 * One V1 update as parallel arrays. Struct `i` covers clocks
 * `clock[i] .. clock[i] + length[i] - 1` of `client[i]`. Typed columns are
 * longer than `structCount`; what lies beyond it means nothing.
 */
export interface ScannedUpdate {
  bytes: Uint8Array
  structCount: number
  client: Column
  clock: Column
  length: Column
  /** A `StructKind`. */
  kind: Column
  /** A `TypeRef` for `TYPE` structs, otherwise -1. */
  typeRef: Column
  originClient: Column
  originClock: Column
  rightClient: Column
  rightClock: Column
  /**
   * Explicit parent id; `ROOT_PARENT` when the parent is a root type, `NO_ID`
   * when the parent is implied by an origin.
   */
  parentClient: Column
  parentClock: Column
  /** Byte offset of each struct's info byte. */
  start: Column
  /** Byte offset of each struct's content (for GC and Skip: of its length). */
  body: Column
  runs: ClientRun[]
  /** Byte offset where the delete set starts. */
  structsEnd: number
  deletes: { client: number[]; clock: number[]; length: number[] }
  /** Deepest nesting of arrays and objects in `Any`, JSON, embed, format and subdocument option values. */
  valueDepth: number
}

/**
 * Reads `update` as a V1 update. Throws `TandemError('UPDATE_INVALID')` when
 * it does not decode exactly as one (Yjs itself would ignore trailing bytes;
 * here they mean the sender encoded something else, typically V2).
 */
export function scanUpdate (update: Uint8Array): ScannedUpdate {
  const d = decoding.createDecoder(update)
  const typed = update.length >= TYPED_COLUMNS_FROM_BYTES
  // Most structs take 10–40 bytes; the columns double when that guess is short.
  const column = (): Column => typed ? new Float64Array(Math.max(64, update.length >> 5)) : []
  const s: ScannedUpdate = {
    bytes: update,
    structCount: 0,
    client: column(),
    clock: column(),
    length: column(),
    kind: column(),
    typeRef: column(),
    originClient: column(),
    originClock: column(),
    rightClient: column(),
    rightClock: column(),
    parentClient: column(),
    parentClock: column(),
    start: column(),
    body: column(),
    runs: [],
    structsEnd: 0,
    deletes: { client: [], clock: [], length: [] },
    valueDepth: 0
  }
  try {
    readStructs(d, s)
    s.structsEnd = d.pos
    readDeletes(d, s)
  } catch (err) {
    if (err instanceof TandemError) throw err
    throw invalid(`does not decode as a V1 update: ${(err as Error).message}`, err)
  }
  if (d.pos !== update.length) throw invalid(`${update.length - d.pos} bytes after the V1 update`)
  return s
}

function readStructs (d: decoding.Decoder, s: ScannedUpdate): void {
  const typed = s.client instanceof Float64Array
  const clientCount = readUint(d)
  const seen = new Set<number>()
  for (let c = 0; c < clientCount; c++) {
    const structCount = readUint(d)
    const client = readUint(d)
    let clock = readUint(d)
    // Yjs keeps only the last run of a client that appears twice, silently
    // dropping the others; no encoder writes that.
    if (seen.has(client)) throw invalid(`client ${client} appears twice`)
    seen.add(client)
    const run: ClientRun = { client, first: s.structCount, end: s.structCount, firstClock: clock, endClock: clock, endByte: d.pos }
    for (let i = 0; i < structCount; i++) {
      const start = d.pos
      const info = readByte(d)
      const kind = info & 31
      let origin = NO_ID
      let originClock = NO_ID
      let right = NO_ID
      let rightClock = NO_ID
      let parent = NO_ID
      let parentClock = NO_ID
      let typeRef = -1
      if (kind !== StructKind.GC && kind !== StructKind.SKIP) {
        if ((info & 128) !== 0) {
          origin = readUint(d)
          originClock = readUint(d)
        }
        if ((info & 64) !== 0) {
          right = readUint(d)
          rightClock = readUint(d)
        }
        if ((info & 192) === 0) {
          if (readUint(d) === 1) {
            parent = ROOT_PARENT
            skipString(d)
          } else {
            parent = readUint(d)
            parentClock = readUint(d)
          }
          if ((info & 32) !== 0) skipString(d)
        }
      }
      const body = d.pos
      let length = 1
      if (kind === StructKind.TYPE) {
        typeRef = readUint(d)
        if (typeRef > TypeRef.XML_TEXT) throw invalid(`unknown type ref ${typeRef}`)
        if (typeRef === TypeRef.XML_ELEMENT || typeRef === TypeRef.XML_HOOK) skipString(d)
      } else {
        length = readContent(d, kind, s)
      }
      if (length <= 0) throw invalid(`struct ${client}:${clock} has no length`)
      const i = s.structCount
      if (typed && i === s.client.length) grow(s)
      s.client[i] = client
      s.clock[i] = clock
      s.length[i] = length
      s.kind[i] = kind
      s.typeRef[i] = typeRef
      s.originClient[i] = origin
      s.originClock[i] = originClock
      s.rightClient[i] = right
      s.rightClock[i] = rightClock
      s.parentClient[i] = parent
      s.parentClock[i] = parentClock
      s.start[i] = start
      s.body[i] = body
      s.structCount++
      clock += length
      if (!Number.isSafeInteger(clock)) throw invalid('clock out of range')
    }
    run.end = s.structCount
    run.endClock = clock
    run.endByte = d.pos
    if (run.end > run.first) s.runs.push(run)
  }
}

/** Reads the content of a struct that is not a type; returns its clock length. */
function readContent (d: decoding.Decoder, kind: number, s: ScannedUpdate): number {
  switch (kind) {
    case StructKind.GC:
    case StructKind.SKIP:
    case StructKind.DELETED:
      return readUint(d)
    case StructKind.JSON: {
      const count = readUint(d)
      for (let i = 0; i < count; i++) skipJson(d, s)
      return count
    }
    case StructKind.BINARY:
      skipBytes(d, readUint(d))
      return 1
    case StructKind.STRING:
      // The clock length is the string's length in UTF-16 code units, as Yjs counts it.
      return skipString(d)
    case StructKind.EMBED:
      skipJson(d, s)
      return 1
    case StructKind.FORMAT:
      skipString(d)
      skipJson(d, s)
      return 1
    case StructKind.ANY: {
      const count = readUint(d)
      for (let i = 0; i < count; i++) s.valueDepth = Math.max(s.valueDepth, skipAny(d))
      return count
    }
    case StructKind.DOC:
      skipString(d)
      s.valueDepth = Math.max(s.valueDepth, skipAny(d))
      return 1
    default:
      throw invalid(`unknown struct kind ${kind}`)
  }
}

/** Doubles the typed columns. */
function grow (s: ScannedUpdate): void {
  for (const name of STRUCT_COLUMNS) {
    const bigger = new Float64Array(s[name].length * 2)
    bigger.set(s[name] as Float64Array)
    s[name] = bigger
  }
}

function readDeletes (d: decoding.Decoder, s: ScannedUpdate): void {
  const clientCount = readUint(d)
  for (let c = 0; c < clientCount; c++) {
    const client = readUint(d)
    const count = readUint(d)
    for (let i = 0; i < count; i++) {
      const clock = readUint(d)
      const length = readUint(d)
      if (length === 0) continue
      s.deletes.client.push(client)
      s.deletes.clock.push(clock)
      s.deletes.length.push(length)
    }
  }
}

/**
 * Skips one lib0 `Any` value and returns its nesting depth (a scalar is 0,
 * `[]` is 1, `[[1]]` is 2). The value's structure lives on an explicit stack
 * of "entries left" counters instead of the call stack.
 */
function skipAny (d: decoding.Decoder): number {
  // left[k] = values still to read at level k; objects count keys and values.
  const left: number[] = [1]
  const isObject: boolean[] = [false]
  let depth = 0
  while (left.length > 0) {
    const top = left.length - 1
    if (left[top] === 0) {
      left.pop()
      isObject.pop()
      continue
    }
    left[top]--
    if (isObject[top]) skipString(d)
    const tag = readByte(d)
    switch (tag) {
      case 127: case 126: case 121: case 120: break // undefined, null, false, true
      case 125: decoding.readVarInt(d); break
      case 124: skipBytes(d, 4); break // float32
      case 123: case 122: skipBytes(d, 8); break // float64, bigint64
      case 119: skipString(d); break
      case 116: skipBytes(d, readUint(d)); break
      case 118: case 117: {
        left.push(readUint(d))
        isObject.push(tag === 118)
        depth = Math.max(depth, left.length - 1)
        break
      }
      default: throw invalid(`unknown value tag ${tag}`)
    }
  }
  return depth
}

/**
 * Skips a JSON text (Yjs parses it with `JSON.parse`) and records its
 * bracket depth. The scan runs over the UTF-8 bytes: quotes, brackets and
 * backslashes are ASCII, and no byte of a multi-byte character is ASCII.
 */
function skipJson (d: decoding.Decoder, s: ScannedUpdate): void {
  const start = d.pos
  skipString(d)
  const bytes = d.arr
  let depth = 0
  let inString = false
  for (let i = start; i < d.pos; i++) {
    const c = bytes[i]
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      depth++
      if (depth > s.valueDepth) s.valueDepth = depth
    } else if (c === 93 || c === 125) depth--
  }
}

/** Skips a length-prefixed UTF-8 string; returns its length in UTF-16 code units. */
function skipString (d: decoding.Decoder): number {
  const byteLength = readUint(d)
  const start = d.pos
  skipBytes(d, byteLength)
  const length = utf16Length(d.arr, start, d.pos)
  if (length < 0) throw invalid('a string is not valid UTF-8')
  return length
}

function skipBytes (d: decoding.Decoder, count: number): void {
  if (count > d.arr.length - d.pos) throw invalid('the update ends inside a struct')
  d.pos += count
}

/** lib0's `readUint8` reads `undefined` past the end; this throws instead. */
function readByte (d: decoding.Decoder): number {
  if (d.pos >= d.arr.length) throw invalid('the update ends inside a struct')
  return d.arr[d.pos++]
}

function readUint (d: decoding.Decoder): number {
  const value = decoding.readVarUint(d)
  if (!Number.isSafeInteger(value)) throw invalid('integer out of range')
  return value
}

function invalid (message: string, cause?: unknown): TandemError {
  return new TandemError('UPDATE_INVALID', message, cause === undefined ? undefined : { cause })
}

/**
 * Whether `update` has the shape of a V2 update: a feature flag of 0 and the
 * nine length-prefixed column buffers that `UpdateEncoderV2` writes, followed
 * by a struct and a delete section. This is a shape test, deliberately not a
 * full decode: Yjs' V2 decoders repeat run-length values forever once a column
 * runs out, so a crafted twenty-byte V2 update can make `Y.decodeUpdateV2`
 * allocate structs until memory is gone.
 */
export function looksLikeV2 (update: Uint8Array): boolean {
  const d = decoding.createDecoder(update)
  try {
    if (decoding.readVarUint(d) !== 0) return false
    for (let i = 0; i < 9; i++) decoding.readVarUint8Array(d)
    // At least the client count of the structs and of the delete set.
    return update.length - d.pos >= 2
  } catch {
    return false
  }
}
