/**
 * The storage interface every adapter implements. It is deliberately narrow:
 * a document is an append-only list of Yjs updates that can be merged.
 *
 * Every method rejects when the storage did not do what was asked. An adapter
 * never resolves a failed write: the server relays an update only after
 * `store` resolved, so a swallowed error would be a lost keystroke.
 */
export interface Persistence {
  /** Short name for logs and metrics: `leveldb`, `postgres`, `memory`. */
  readonly name: string
  /**
   * True when several tandem instances read and write the same store (Postgres).
   * Updates that arrive from another instance were stored by that instance and
   * are not stored again.
   */
  readonly shared: boolean
  /**
   * Every stored update of the document, oldest first; an empty list for a
   * document that was never stored.
   */
  load(docName: string): Promise<Uint8Array[]>
  /** Appends one update. Resolves once it is stored; rejects otherwise. */
  store(docName: string, update: Uint8Array): Promise<void>
  /**
   * Merges the stored updates of the document into one, deleting exactly the
   * rows it merged. Safe to run while `store` is called concurrently.
   */
  compact(docName: string): Promise<void>
  /** Removes the document and all its updates. */
  delete(docName: string): Promise<void>
  /** Stored document names in ascending order, after `after`, at most `limit`. */
  list(options?: { after?: string; limit?: number }): Promise<string[]>
  /** Rejects when the storage is unreachable (used by `/healthz`). */
  check(): Promise<void>
  /** Flushes what is pending and releases the storage. Safe to call twice. */
  close(): Promise<void>
}

/** Thrown (or rejected) by adapters when the storage failed. */
export class StorageError extends Error {
  readonly code = 'STORAGE_FAILED'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StorageError'
  }
}
