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
   * `idle`: nobody is editing the document (it unloaded), so the adapter may
   * also give the merged rows' space back now, at a cost to other writes.
   * Resolves with the merged row's size in bytes when it wrote one (the
   * server then knows the document's size without encoding it).
   */
  compact(docName: string, options?: { idle?: boolean }): Promise<number | void>
  /**
   * The server unloaded the document (its queued stores may still be
   * running): the adapter may drop what it keeps in memory for it. Optional.
   */
  release?(docName: string): void
  /** Removes the document, all its updates, its versions and its recorded authors. */
  delete(docName: string): Promise<void>
  /** Stored document names in ascending order, after `after`, at most `limit`. */
  list(options?: { after?: string; limit?: number }): Promise<string[]>
  /** Rejects when the storage is unreachable (used by `/healthz`). */
  check(): Promise<void>
  /** Flushes what is pending and releases the storage. Safe to call twice. */
  close(): Promise<void>
  // Version history (every adapter of this package has it; an adapter
  // written for an older version may not, and the server then answers
  // history requests with HISTORY_UNAVAILABLE).
  addVersion?: VersionStore['addVersion']
  listVersions?: VersionStore['listVersions']
  getVersion?: VersionStore['getVersion']
  deleteVersion?: VersionStore['deleteVersion']
  addAuthors?: VersionStore['addAuthors']
}

/** The version-history part of a storage adapter. */
export interface VersionStore {
  /**
   * Stores a version of the document (see `version-chain.ts` for how it is
   * kept: a diff against the version before it, or a whole snapshot), in
   * one atomic write together with what `policy` asks: retention of
   * automatic versions, the limit on kept versions, and taking the authors
   * recorded by `addAuthors`. Concurrent calls for one document run one
   * after the other, also across instances sharing the store, so the
   * checks see each other's versions. Resolves once stored.
   */
  addVersion(docName: string, version: NewVersion, policy: VersionPolicy): Promise<AddVersionResult>
  /** Versions of the document, newest first: those older than `after` (an id), at most `limit`. */
  listVersions(docName: string, options?: { after?: string; limit?: number }): Promise<VersionInfo[]>
  /** One version and the whole document as of it (one Yjs update); null when there is no such version. */
  getVersion(docName: string, id: string): Promise<{ version: VersionInfo; update: Uint8Array } | null>
  /** Deletes one version (the versions after it stay readable); false when there was none. */
  deleteVersion(docName: string, id: string): Promise<boolean>
  /**
   * Records users whose changes went into the document since its latest
   * version, so that the next version names them whichever instance makes it.
   */
  addAuthors(docName: string, authors: string[]): Promise<void>
}

/** Whether an adapter stores versions. */
export function hasVersions (p: Persistence): p is Persistence & VersionStore {
  return typeof p.addVersion === 'function' && typeof p.listVersions === 'function' && typeof p.getVersion === 'function' &&
    typeof p.deleteVersion === 'function' && typeof p.addAuthors === 'function'
}

export type VersionKind = 'auto' | 'named' | 'backup'

/** A version as the API shows it. */
export interface VersionInfo {
  /** Opaque, unique within the document, never reused. */
  id: string
  /** ISO 8601. */
  createdAt: string
  label: string | null
  kind: VersionKind
  /** Users whose changes went into the document since the version before, sorted. */
  authors: string[]
  /** Size of the whole document as of this version (one Yjs update), in bytes. */
  bytes: number
}

export interface NewVersion {
  kind: VersionKind
  label: string | null
  /** The whole document as one Yjs update. */
  snapshot: Uint8Array
  /** Authors the caller knows of; joined with those recorded by `addAuthors`. */
  authors: string[]
  /** Milliseconds since the epoch. */
  createdAt: number
}

/** What `addVersion` checks and does in the same atomic write. */
export interface VersionPolicy {
  /** Automatic versions kept per document: the oldest ones beyond it are deleted. */
  keepAuto: number
  /** Named and backup versions allowed per document: a new one beyond it is refused. */
  maxKept: number
  /** Skip when the newest version already holds everything the snapshot holds. */
  skipIfUnchanged?: boolean
  /** Skip when the newest version is younger than this many milliseconds (at `createdAt`). */
  skipIfNewerThanMs?: number
}

export type AddVersionResult =
  | { added: VersionInfo }
  | { skipped: 'unchanged' | 'recent' }
  | { refused: 'limit' }

/** Thrown (or rejected) by adapters when the storage failed. */
export class StorageError extends Error {
  readonly code = 'STORAGE_FAILED'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StorageError'
  }
}
