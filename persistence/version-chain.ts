import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { serverDoc } from '../src/yjs/doc.js'
import type { AddVersionResult, NewVersion, VersionInfo, VersionKind, VersionPolicy } from './types.js'

/**
 * How versions are kept, the same for every adapter: adapters store rows and
 * run these plans inside their own atomic write; what a row holds and which
 * rows change is decided here, once.
 *
 * A version is a snapshot of the whole document, but storing each one whole
 * costs the document's size per version: 100 automatic versions of the
 * automerge-paper trace (a 304 KB document at the end) take 16.4 MB as
 * snapshots. So most versions are stored as a diff against the version
 * before them: the structs added since (`Y.diffUpdate`) and the deletions
 * made since (0.44 MB for the same 100). Yjs's own diff repeats the whole
 * delete set (1.64 MB), a cost a writer could also multiply (scatter many
 * deletions, then save version after version); only new deletions are kept
 * here. A version is read by applying the rows from the nearest whole
 * snapshot (a keyframe) up to it. A new version becomes a keyframe when the
 * diffs since the last keyframe would outweigh a whole snapshot: reading any
 * version then costs at most about twice the document's size, and the
 * keyframes add at most as many bytes as the diffs before them.
 *
 * A diff is only correct on top of a version it contains (same structs and
 * deletions, or fewer): otherwise the chain would add what the newer version
 * never had. Within one instance versions always grow, but in a cluster two
 * instances can record states that do not contain each other for a moment;
 * such a version is stored whole.
 *
 * Deleting a version (retention or on request) folds it into the version
 * after it, so that one stays readable: a diff after a diff absorbs it
 * (`Y.mergeUpdates`), a diff after a keyframe becomes a keyframe itself.
 */

/** A stored version without its data. */
export interface VersionRow {
  /** Increasing per store, never reused: the version's id. */
  seq: number
  kind: VersionKind
  label: string | null
  authors: string[]
  /** Milliseconds since the epoch. */
  createdAt: number
  /** Size of the whole document as of this version. */
  bytes: number
  /** Whether `data` is a whole snapshot (else a diff against the row before). */
  keyframe: boolean
  /** Length of `data`. */
  storedBytes: number
}

/** A stored version's data. */
export interface VersionBody {
  /** The version's state vector: what the next version's diff is taken against. */
  sv: Uint8Array
  /** A whole snapshot (keyframe) or a diff against the version before. */
  data: Uint8Array
}

/** One change to the stored rows, for the adapter to write atomically with the others of a plan. */
export type ChainOp =
  | { op: 'insert'; row: Omit<VersionRow, 'seq'>; body: VersionBody }
  | { op: 'rewrite'; row: VersionRow; body: VersionBody }
  | { op: 'delete'; seq: number }

/** Reads a row's data inside the adapter's atomic write. */
export type BodyReader = (seq: number) => Promise<VersionBody>

/** The id a version is known by. */
export function versionId (seq: number): string {
  return String(seq)
}

/** The row number of an id, or undefined when it cannot be one. */
export function parseVersionId (id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined
  const seq = Number(id)
  return Number.isSafeInteger(seq) ? seq : undefined
}

export function versionInfo (row: VersionRow): VersionInfo {
  return {
    id: versionId(row.seq),
    createdAt: new Date(row.createdAt).toISOString(),
    label: row.label,
    kind: row.kind,
    authors: row.authors,
    bytes: row.bytes
  }
}

/** Named and backup versions are kept until deleted and count against `maxKept`. */
export function isKept (row: Pick<VersionRow, 'kind'>): boolean {
  return row.kind !== 'auto'
}

/** Sorted, without duplicates or empty names. */
export function sortedAuthors (authors: Iterable<string>): string[] {
  return [...new Set(authors)].filter((a) => a !== '').sort()
}

const NEW = -1

interface Entry extends VersionRow {
  /** The row's data, once read (or made here). */
  body?: VersionBody
  dirty?: boolean
}

/**
 * What storing `version` changes, given the document's rows (oldest first)
 * and the authors recorded by `addAuthors`. The adapter writes `ops`
 * atomically, then answers `result` (completed with the inserted row's seq).
 */
export async function planAdd (
  rows: VersionRow[],
  body: BodyReader,
  version: NewVersion,
  policy: VersionPolicy,
  recordedAuthors: string[]
): Promise<{ result: Exclude<AddVersionResult, { added: VersionInfo }> } | { ops: ChainOp[]; row: Omit<VersionRow, 'seq'> }> {
  const latest = rows[rows.length - 1]
  if (latest !== undefined && policy.skipIfNewerThanMs !== undefined && version.createdAt - latest.createdAt < policy.skipIfNewerThanMs) {
    return { result: { skipped: 'recent' } }
  }
  if (isKept(version) && rows.filter(isKept).length >= policy.maxKept) return { result: { refused: 'limit' } }
  const current = snapOfUpdate(version.snapshot)
  let data = version.snapshot
  let keyframe = true
  if (latest !== undefined) {
    const chain = chainFor(rows, latest.seq)
    const bodies: VersionBody[] = []
    for (const row of chain) bodies.push(await body(row.seq))
    const latestBody = bodies[bodies.length - 1]
    // The newest version's deletions are spread over its chain: every row holds those made since the row before.
    const previous: Snap = { sv: Y.decodeStateVector(latestBody.sv), ds: Y.mergeDeleteSets(bodies.map((b) => Y.decodeUpdate(b.data).ds)) }
    if (policy.skipIfUnchanged === true && covers(previous, current)) return { result: { skipped: 'unchanged' } }
    if (covers(current, previous)) {
      const diff = diffSince(version.snapshot, latestBody.sv, current.ds, previous.ds)
      if (chainBytes(rows) + diff.byteLength <= version.snapshot.byteLength) {
        data = diff
        keyframe = false
      }
    }
  }
  const entry: Entry = {
    seq: NEW,
    kind: version.kind,
    label: version.label,
    authors: sortedAuthors([...version.authors, ...recordedAuthors]),
    createdAt: version.createdAt,
    bytes: version.snapshot.byteLength,
    keyframe,
    storedBytes: data.byteLength,
    body: { sv: Y.encodeStateVectorFromUpdate(version.snapshot), data }
  }
  const entries: Entry[] = [...rows.map((r) => ({ ...r })), entry]
  const ops: ChainOp[] = []
  // Retention: the oldest automatic versions go first; the new one always stays (keepAuto ≥ 1).
  let autos = entries.filter((e) => e.kind === 'auto').length
  for (let i = 0; autos > policy.keepAuto && i < entries.length;) {
    if (entries[i].kind === 'auto' && entries[i].seq !== NEW) {
      await remove(entries, i, body, ops)
      autos--
    } else {
      i++
    }
  }
  pushRewrites(entries, ops)
  const { seq: _seq, body: finalBody, dirty: _dirty, ...row } = entry
  ops.push({ op: 'insert', row, body: finalBody! })
  return { ops, row }
}

/** What deleting the row `seq` changes; null when there is no such row. */
export async function planDelete (rows: VersionRow[], body: BodyReader, seq: number): Promise<ChainOp[] | null> {
  const entries: Entry[] = rows.map((r) => ({ ...r }))
  const index = entries.findIndex((e) => e.seq === seq)
  if (index === -1) return null
  const ops: ChainOp[] = []
  await remove(entries, index, body, ops)
  pushRewrites(entries, ops)
  return ops
}

/**
 * The rows to read for version `seq`: from the nearest keyframe at or
 * before it, up to it. Empty when there is no such version.
 */
export function chainFor (rows: VersionRow[], seq: number): VersionRow[] {
  const end = rows.findIndex((r) => r.seq === seq)
  if (end === -1) return []
  let start = end
  while (start > 0 && !rows[start].keyframe) start--
  return rows.slice(start, end + 1)
}

/**
 * The whole document from a chain's data (a keyframe, then diffs), as one
 * update. Through a fresh Y.Doc, so content deleted along the chain is
 * garbage-collected, as in the snapshot the version was made of.
 */
export function materialize (datas: Uint8Array[]): Uint8Array {
  if (datas.length === 1) return datas[0]
  const doc = serverDoc()
  try {
    doc.transact(() => {
      for (const data of datas) Y.applyUpdate(doc, data)
    })
    return Y.encodeStateAsUpdate(doc)
  } finally {
    doc.destroy()
  }
}

/** Removes `entries[index]`, folding its data into the version after it. */
async function remove (entries: Entry[], index: number, body: BodyReader, ops: ChainOp[]): Promise<void> {
  const victim = entries[index]
  const next = entries[index + 1]
  if (next !== undefined && !next.keyframe) {
    const victimBody = await bodyOf(victim, body)
    const nextBody = await bodyOf(next, body)
    const data = victim.keyframe ? materialize([victimBody.data, nextBody.data]) : Y.mergeUpdates([victimBody.data, nextBody.data])
    next.body = { sv: nextBody.sv, data }
    next.keyframe = victim.keyframe
    next.storedBytes = data.byteLength
    next.dirty = true
  }
  entries.splice(index, 1)
  if (victim.seq !== NEW) ops.push({ op: 'delete', seq: victim.seq })
}

function pushRewrites (entries: Entry[], ops: ChainOp[]): void {
  for (const { body, dirty, ...row } of entries) {
    if (dirty === true && row.seq !== NEW) ops.push({ op: 'rewrite', row, body: body! })
  }
}

async function bodyOf (entry: Entry, body: BodyReader): Promise<VersionBody> {
  entry.body ??= await body(entry.seq)
  return entry.body
}

type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/**
 * `snapshot` as a diff against a version it contains: the structs past
 * `sv`, and only the deletions `previous` lacks. Falls back to Yjs's own
 * diff (all deletions) if its delete set is not encoded where expected.
 */
function diffSince (snapshot: Uint8Array, sv: Uint8Array, current: DeleteSet, previous: DeleteSet): Uint8Array {
  const diff = Y.diffUpdate(snapshot, sv)
  // A V1 update is its structs followed by its delete set, which Yjs writes
  // in a canonical order: the same encoding here finds where it starts.
  const all = encodeDeleteSet(rangesOf(Y.decodeUpdate(diff).ds))
  if (all.byteLength > diff.byteLength || !endsWith(diff, all)) return diff
  const fresh = encodeDeleteSet(subtract(rangesOf(Y.mergeDeleteSets([current])), rangesOf(previous)))
  const out = new Uint8Array(diff.byteLength - all.byteLength + fresh.byteLength)
  out.set(diff.subarray(0, diff.byteLength - all.byteLength))
  out.set(fresh, diff.byteLength - all.byteLength)
  return out
}

/** Deleted ranges `[clock, end)` by client, in the order of the set. */
function rangesOf (ds: DeleteSet): Map<number, Array<[number, number]>> {
  const out = new Map<number, Array<[number, number]>>()
  for (const [client, items] of ds.clients) out.set(client, items.map((i) => [i.clock, i.clock + i.len]))
  return out
}

/** The ranges of `a` that `b` does not cover (both sorted and merged by client). */
function subtract (a: Map<number, Array<[number, number]>>, b: Map<number, Array<[number, number]>>): Map<number, Array<[number, number]>> {
  const out = new Map<number, Array<[number, number]>>()
  for (const [client, ranges] of a) {
    const minus = b.get(client) ?? []
    const kept: Array<[number, number]> = []
    let k = 0
    for (const [start, end] of ranges) {
      let at = start
      while (k < minus.length && minus[k][1] <= at) k++
      for (let m = k; m < minus.length && minus[m][0] < end; m++) {
        if (minus[m][0] > at) kept.push([at, minus[m][0]])
        at = Math.max(at, minus[m][1])
      }
      if (at < end) kept.push([at, end])
    }
    if (kept.length > 0) out.set(client, kept)
  }
  return out
}

/** A delete set in Yjs's V1 encoding: clients in descending order, then their ranges. */
function encodeDeleteSet (ranges: Map<number, Array<[number, number]>>): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, ranges.size)
  for (const [client, list] of [...ranges].sort((x, y) => y[0] - x[0])) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, list.length)
    for (const [start, end] of list) {
      encoding.writeVarUint(encoder, start)
      encoding.writeVarUint(encoder, end - start)
    }
  }
  return encoding.toUint8Array(encoder)
}

function endsWith (data: Uint8Array, tail: Uint8Array): boolean {
  const offset = data.byteLength - tail.byteLength
  for (let i = 0; i < tail.byteLength; i++) if (data[offset + i] !== tail[i]) return false
  return true
}

/** Bytes of the diffs stored since the last keyframe. */
function chainBytes (rows: VersionRow[]): number {
  let sum = 0
  for (let i = rows.length - 1; i >= 0 && !rows[i].keyframe; i--) sum += rows[i].storedBytes
  return sum
}

/** What a version holds: its state vector and its deletions. */
interface Snap {
  sv: Map<number, number>
  ds: ReturnType<typeof Y.createDeleteSet>
}

function snapOfUpdate (update: Uint8Array): Snap {
  return { sv: Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update)), ds: Y.decodeUpdate(update).ds }
}

/** Whether `a` holds every struct and every deletion `b` holds. */
function covers (a: Snap, b: Snap): boolean {
  for (const [client, clock] of b.sv) if ((a.sv.get(client) ?? 0) < clock) return false
  return Y.equalDeleteSets(Y.mergeDeleteSets([a.ds]), Y.mergeDeleteSets([a.ds, b.ds]))
}
