/**
 * Loading and compacting a document's stored rows, including the rows of a
 * document that was poisoned with deeply nested types before updates were
 * inspected on arrival.
 *
 * The fast path is one transaction, as always. It fails only for documents
 * whose deleted types are nested thousands deep: Yjs deletes and
 * garbage-collects them recursively, the stack overflows, and the `Y.Doc` is
 * left broken (`isDocStuck`). The fallback starts from a fresh doc and
 * applies `flatGarbageCollect(rows)`, in which the deleted types are already
 * collected, so nothing recurses: same content, same state vector, same
 * delete set.
 */
import * as Y from 'yjs'
import { serverDoc } from './doc.js'
import { TandemError } from '../errors.js'
import { flatGarbageCollect } from './flat-gc.js'
import { isDocStuck } from './stuck-doc.js'

export interface StoredLoad {
  /** The document holding the rows: the one passed in, or a new one when `flat` is true. */
  doc: Y.Doc
  /**
   * The one-transaction load overflowed and the rows were loaded flat. The
   * doc passed in is broken and must be discarded; the rows are worth
   * compacting (`mergeStoredUpdates`), after which they load normally.
   */
  flat: boolean
}

export interface ApplyStoredOptions {
  /** Transaction origin of the load. @default null */
  origin?: unknown
  /**
   * Makes the fresh document for the fallback (for instance with the
   * caller's observers attached).
   * @default () => new Y.Doc({ guid: doc.guid, gcFilter: doc.gcFilter })
   */
  makeDoc?: () => Y.Doc
}

/**
 * Applies stored rows (V1 updates) to `doc`, which should be empty, and
 * returns the document that holds them. Use the returned `doc`: when the
 * one-transaction load overflows, the rows are loaded into a new document.
 * Errors other than an overflow (a row that does not decode) propagate.
 * The fallback needs garbage collection: a doc with `gc: false` rethrows.
 */
export function applyStoredUpdates (doc: Y.Doc, updates: readonly Uint8Array[], options: ApplyStoredOptions = {}): StoredLoad {
  const origin = options.origin ?? null
  try {
    doc.transact(() => applyInOrder(doc, updates), origin)
    return { doc, flat: false }
  } catch (err) {
    // An overflow inside the transaction's cleanup surfaces as whatever the
    // cleanup threw next (often "Unexpected case"), but always leaves the doc stuck.
    if (!(err instanceof RangeError) && !isDocStuck(doc)) throw err
    if (!doc.gc) throw err
    let fresh: Y.Doc | undefined
    try {
      const flat = flatGarbageCollect(updates)
      fresh = options.makeDoc?.() ?? new Y.Doc({ guid: doc.guid, gcFilter: doc.gcFilter })
      const target = fresh
      target.transact(() => Y.applyUpdate(target, flat), origin)
      return { doc: fresh, flat: true }
    } catch (flatErr) {
      fresh?.destroy()
      throw new TandemError('INTERNAL', `stored updates load neither in one transaction (${(err as Error).message}) nor flat (${(flatErr as Error).message})`, { cause: err })
    }
  }
}

/**
 * Applies the rows one by one. Rows are stored in the order they were
 * written, so each normally finds what it builds on already applied. When
 * one does not (rows written by an older compaction that put its merged row
 * after the rows stored while it merged), Yjs keeps the row's structs
 * pending and merges every later row into them, which grows with the square
 * of the rows left; instead, the rows left are merged once and applied
 * together.
 */
function applyInOrder (doc: Y.Doc, updates: readonly Uint8Array[]): void {
  for (let i = 0; i < updates.length; i++) {
    Y.applyUpdate(doc, updates[i])
    if (doc.store.pendingStructs !== null && i < updates.length - 2) {
      Y.applyUpdate(doc, Y.mergeUpdates(updates.slice(i + 1)))
      return
    }
  }
}

/**
 * Merges stored rows into one update for compaction: the full state with
 * deleted content garbage-collected (as applying the rows to a fresh doc and
 * encoding it does), with the same fallback as `applyStoredUpdates`.
 * Structs with missing dependencies stay in the result, as Yjs keeps them.
 */
export function mergeStoredUpdates (updates: readonly Uint8Array[]): Uint8Array {
  const doc = serverDoc()
  let loaded: Y.Doc = doc
  try {
    loaded = applyStoredUpdates(doc, updates).doc
    return Y.encodeStateAsUpdate(loaded)
  } finally {
    if (loaded !== doc) loaded.destroy()
    doc.destroy()
  }
}
