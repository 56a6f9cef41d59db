/**
 * Garbage collection of deleted shared types, done on the encoded update
 * instead of inside a `Y.Doc`, so that it cannot overflow the stack however
 * deep the deleted types are nested.
 *
 * Yjs deletes and garbage-collects nested types recursively (`Item.delete` →
 * `ContentType.delete` → `Item.delete` …, `Item.gc` → `ContentType.gc` →
 * `Item.gc` …). A document that holds a few thousand nested types that were
 * deleted cannot be loaded in one transaction any more: applying its rows
 * overflows the stack, and the overflow inside Yjs' transaction cleanup
 * leaves the `Y.Doc` broken.
 *
 * What a load with garbage collection leaves behind is known in advance:
 *
 * - a deleted item whose parent survives keeps its place as an item whose
 *   content is `ContentDeleted` (so a deleted type loses its children);
 * - every item below a deleted type becomes a `GC` struct of the same length.
 *
 * `flatGarbageCollect` writes exactly that into the update: type items in the
 * delete set become `ContentDeleted`, everything below them `GC`. Applying the
 * result integrates no deleted type, so nothing recurses, and the document
 * has the same content, state vector and delete set as a normal load.
 *
 * Parents are resolved by `ParentResolver` (iterative, memoized). Items that
 * Yjs would keep pending (missing dependencies) are left as they are.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { ParentResolver } from './update-parents.js'
import { StructKind, scanUpdate, type ScannedUpdate } from './update-scan.js'

/** Inputs per `Y.mergeUpdates` call: its cost grows faster than linearly with the count. */
const MERGE_CHUNK = 32

/**
 * Merges `updates` (V1) into one update in which every deleted shared type is
 * already garbage-collected. Throws `TandemError('UPDATE_INVALID')` if the
 * rows do not decode.
 */
export function flatGarbageCollect (updates: readonly Uint8Array[]): Uint8Array {
  const scan = scanUpdate(mergeInRounds(updates))
  const fate = decideFates(scan)
  return rewrite(scan, fate)
}

const KEEP = 0
const TO_DELETED = 1
const TO_GC = 2

/** Per struct: keep it, turn it into `ContentDeleted`, or into a `GC`. */
function decideFates (scan: ScannedUpdate): Uint8Array {
  const resolver = new ParentResolver(scan, null)
  const deleted = deletedTypeItems(scan, resolver)
  // dead[j] for type item j: 1 if it or a type above it is deleted, 2 if not, 0 unknown.
  const dead = new Uint8Array(scan.structCount)
  const isDead = (j: number): boolean => {
    const chain: number[] = []
    let answer = false
    for (let k = j; ;) {
      if (dead[k] !== 0) {
        answer = dead[k] === 1
        break
      }
      chain.push(k)
      if (deleted.has(k)) {
        answer = true
        break
      }
      const parent = resolver.parentOf(k)
      if (parent < 0) break
      k = parent
    }
    // Every type on the chain is (or is below) the one that decided.
    for (const k of chain) dead[k] = answer ? 1 : 2
    return answer
  }
  const fate = new Uint8Array(scan.structCount)
  for (let i = 0; i < scan.structCount; i++) {
    const kind = scan.kind[i]
    if (kind === StructKind.GC || kind === StructKind.SKIP) continue
    const parent = resolver.parentOf(i)
    if (parent >= 0 && isDead(parent)) fate[i] = TO_GC
    else if (kind === StructKind.TYPE && deleted.has(i)) fate[i] = TO_DELETED
  }
  return fate
}

/** Indexes of the type items that the update's delete set covers. */
function deletedTypeItems (scan: ScannedUpdate, resolver: ParentResolver): Set<number> {
  const result = new Set<number>()
  const { client, clock, length } = scan.deletes
  for (let r = 0; r < client.length; r++) {
    const end = clock[r] + length[r]
    let i = resolver.indexOf(client[r], clock[r])
    if (i < 0) continue
    for (; i < scan.structCount && scan.client[i] === client[r] && scan.clock[i] < end; i++) {
      if (scan.kind[i] === StructKind.TYPE) result.add(i)
    }
  }
  return result
}

/** Writes the update again, struct by struct, with the decided replacements. */
function rewrite (scan: ScannedUpdate, fate: Uint8Array): Uint8Array {
  const bytes = scan.bytes
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, scan.runs.length)
  for (const run of scan.runs) {
    encoding.writeVarUint(e, run.end - run.first)
    encoding.writeVarUint(e, run.client)
    encoding.writeVarUint(e, run.firstClock)
    for (let i = run.first; i < run.end; i++) {
      const start = scan.start[i]
      const end = i + 1 < run.end ? scan.start[i + 1] : run.endByte
      if (fate[i] === TO_GC) {
        encoding.writeUint8(e, StructKind.GC)
        encoding.writeVarUint(e, scan.length[i])
      } else if (fate[i] === TO_DELETED) {
        // Same origins, parent and key; the content becomes "deleted, length n".
        encoding.writeUint8(e, (bytes[start] & ~31) | StructKind.DELETED)
        encoding.writeUint8Array(e, bytes.subarray(start + 1, scan.body[i]))
        encoding.writeVarUint(e, scan.length[i])
      } else { // KEEP
        encoding.writeUint8Array(e, bytes.subarray(start, end))
      }
    }
  }
  encoding.writeUint8Array(e, bytes.subarray(scan.structsEnd))
  return encoding.toUint8Array(e)
}

function mergeInRounds (updates: readonly Uint8Array[]): Uint8Array {
  let round = [...updates]
  if (round.length === 0) return new Uint8Array([0, 0])
  while (round.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < round.length; i += MERGE_CHUNK) {
      const chunk = round.slice(i, i + MERGE_CHUNK)
      next.push(chunk.length === 1 ? chunk[0] : Y.mergeUpdates(chunk))
    }
    round = next
  }
  return round[0]
}
