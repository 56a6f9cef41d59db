import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import * as Y from 'yjs'
import type { NewVersion, VersionInfo, VersionPolicy, VersionStore } from '../../persistence/types.js'
import { TandemError } from '../errors.js'
import { LOCAL_ORIGIN, type Origin } from '../origin.js'
import { validateDocName } from '../request.js'
import type { Room } from '../room.js'
import type { TimerClock } from '../timers.js'
import { AuthorLog } from './authors.js'
import { AutoVersions, type AutoOutcome, type AutoTrigger } from './auto.js'
import { restoreUpdate } from './restore.js'

export type { VersionInfo } from '../../persistence/types.js'

/** What history needs of a loaded document. */
export type HistoryRoom = Pick<Room, 'name' | 'doc' | 'bytes' | 'snapshot' | 'whenStored' | 'applyUpdate'>

/** Pays for work of `costBytes` (the caller's sync-work budget over HTTP); false refuses it. */
export type Charge = (costBytes: number) => boolean

/**
 * Version history of documents, for a host application (`server.history`)
 * and the HTTP routes alike. Every method rejects with a `TandemError`:
 * `NOT_FOUND` for an unknown document or version, `VERSION_LIMIT`,
 * `LABEL_TOO_LONG`, `RATE_LIMITED` (when `charge` refuses), `DOC_TOO_LARGE`,
 * `STORAGE_FAILED`, `HISTORY_UNAVAILABLE` (a storage adapter without versions).
 */
export interface HistoryApi {
  /** Versions, newest first; `next` is the `after` of the following page, or null. */
  list(docName: string, options?: { limit?: number; after?: string; charge?: Charge }): Promise<{ versions: VersionInfo[]; next: string | null }>
  /** A named version of the document as it is now; resolves once stored. */
  create(docName: string, options?: { label?: string | null; userId?: string; charge?: Charge }): Promise<VersionInfo>
  /** The whole document as of a version, as one Yjs update. */
  get(docName: string, id: string, options?: { charge?: Charge }): Promise<{ version: VersionInfo; update: Uint8Array }>
  /**
   * Makes the document's content equal to the version's, as a change stored
   * and relayed like any client's, after saving the current state as a
   * `backup` version. Resolves once the change is stored.
   */
  restore(docName: string, id: string, options?: { userId?: string; charge?: Charge }): Promise<{ restored: string; backup: VersionInfo }>
  /** Deletes one version. */
  delete(docName: string, id: string): Promise<void>
}

export interface HistoryLimits {
  historyIdleMs: number
  historyMaxIntervalMs: number
  historyKeep: number
  historyMaxNamedVersions: number
  historyMaxLabelChars: number
  maxDocNameBytes: number
}

export interface HistoryDeps {
  /** The storage's versions; undefined when the adapter has none. */
  store: VersionStore | undefined
  /** Whether other instances share the storage (authors then travel through it). */
  shared: boolean
  /** A hold on the loaded document (loading it if needed); every acquire is paired with a release. */
  acquire: (docName: string) => Promise<HistoryRoom>
  release: (room: HistoryRoom) => void
  /** The document if it is loaded here, without loading it. */
  peek: (docName: string) => HistoryRoom | undefined
  limits: HistoryLimits
  /** Longest a version or restore waits for storage before it fails (storage outages pause writes). */
  storageWaitMs: number
  logger: Logger
  registry: Registry
  clock?: TimerClock
}

/** The service behind `HistoryApi`, plus what the server feeds it: changes, deletions, close. */
export class History implements HistoryApi {
  private readonly authors: AuthorLog
  private readonly auto: AutoVersions
  private readonly recorded: Counter<'kind' | 'outcome'>

  constructor (private readonly deps: HistoryDeps) {
    const { limits } = deps
    this.authors = new AuthorLog({
      store: deps.store ?? { addAuthors: async () => {} },
      shared: deps.shared && deps.store !== undefined,
      // Well inside the idle period, so an automatic version on another instance sees them.
      flushAfterMs: limits.historyIdleMs > 0 ? Math.max(50, Math.min(1000, Math.floor(limits.historyIdleMs / 4))) : 1000,
      logger: deps.logger
    })
    this.auto = new AutoVersions({
      idleMs: deps.store === undefined ? 0 : limits.historyIdleMs,
      maxIntervalMs: limits.historyMaxIntervalMs,
      record: (docName, trigger, local) => this.recordAuto(docName, trigger, local),
      clock: deps.clock
    })
    this.recorded = new Counter({
      name: 'tandem_versions_total',
      help: 'Versions recorded or skipped, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers: [deps.registry]
    })
  }

  /** A batch of changes was stored (and relayed); `local`: made by this instance's clients. */
  changed (docName: string, authors: string[], local: boolean): void {
    if (authors.length > 0) this.authors.add(docName, authors)
    this.auto.changed(docName, local)
  }

  /** The document is being deleted: nothing more is recorded for it. */
  async forget (docName: string): Promise<void> {
    this.authors.forget(docName)
    await this.auto.forget(docName)
  }

  /** Records the versions still due, writes pending authors and stops every timer. Safe to call twice. */
  async close (): Promise<void> {
    await this.auto.close()
    await this.authors.close()
  }

  async list (docName: string, options: { limit?: number; after?: string; charge?: Charge } = {}): Promise<{ versions: VersionInfo[]; next: string | null }> {
    const store = this.store(docName)
    const limit = options.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TandemError('BAD_REQUEST', 'limit must be an integer from 1 to 1000')
    // One more than asked tells whether there is a next page.
    const found = await store.listVersions(docName, { after: options.after, limit: limit + 1 })
    if (found.length === 0 && options.after === undefined) {
      // No versions: a document that exists has an empty history, one that does not is unknown.
      await this.withDoc(docName, async () => {}, options.charge)
    }
    const versions = found.slice(0, limit)
    return { versions, next: found.length > limit ? versions[versions.length - 1].id : null }
  }

  async create (docName: string, options: { label?: string | null; userId?: string; charge?: Charge } = {}): Promise<VersionInfo> {
    const store = this.store(docName)
    const label = this.checkLabel(options.label)
    return await this.withDoc(docName, async (room) => {
      const snapshot = await this.stored(room.snapshot())
      return await this.add(store, docName, { kind: 'named', label, snapshot, authors: [], createdAt: this.now() })
    }, options.charge)
  }

  async get (docName: string, id: string, options: { charge?: Charge } = {}): Promise<{ version: VersionInfo; update: Uint8Array }> {
    const store = this.store(docName)
    const found = await store.getVersion(docName, id)
    if (found === null) throw notFound(docName, id)
    // Reading a version applies its chain of diffs: about the work of a full sync.
    if (options.charge !== undefined && !options.charge(found.version.bytes)) throw new TandemError('RATE_LIMITED', 'too many version reads')
    return found
  }

  async restore (docName: string, id: string, options: { userId?: string; charge?: Charge } = {}): Promise<{ restored: string; backup: VersionInfo }> {
    const store = this.store(docName)
    const found = await store.getVersion(docName, id)
    if (found === null) throw notFound(docName, id)
    return await this.withDoc(docName, async (room) => {
      // Reading the current state, the version and computing the diff each cost a pass over a document.
      if (options.charge !== undefined && !options.charge(2 * room.bytes + found.version.bytes)) throw new TandemError('RATE_LIMITED', 'too many restores')
      // The backup and the diff are taken from the same state, with no wait in
      // between: restoring the backup then undoes exactly this restore.
      const current = Y.encodeStateAsUpdate(room.doc)
      const update = computeRestore(current, found.update)
      await this.stored(room.whenStored())
      const backup = await this.add(store, docName, { kind: 'backup', label: null, snapshot: current, authors: [], createdAt: this.now() })
      if (update !== null) {
        // Through the room, like any client's change: checked against the
        // document's limits, stored, relayed here and to other instances.
        const origin: Origin = options.userId === undefined ? LOCAL_ORIGIN : { kind: 'http', userId: options.userId }
        room.applyUpdate(update, origin, options.charge === undefined ? undefined : { allowWork: options.charge })
        await this.stored(room.whenStored())
      }
      this.deps.logger.info({ doc: docName, version: id, backup: backup.id, user: options.userId }, 'version restored')
      return { restored: found.version.id, backup }
    })
  }

  async delete (docName: string, id: string): Promise<void> {
    const store = this.store(docName)
    if (!await store.deleteVersion(docName, id)) throw notFound(docName, id)
  }

  /** An automatic version, unless the newest version already holds the document's state. */
  private async recordAuto (docName: string, trigger: AutoTrigger, local: boolean): Promise<AutoOutcome> {
    const store = this.deps.store
    if (store === undefined) return 'skipped'
    // Changes made only on other instances are theirs to record; a document
    // still open here is tried anyway (storage keeps the cluster to one version).
    if (!local && this.deps.peek(docName) === undefined) return this.count('auto', 'skipped')
    let room: HistoryRoom
    try {
      room = await this.deps.acquire(docName)
    } catch (err) {
      this.deps.logger.warn({ err, doc: docName }, 'history: the document did not load for an automatic version')
      return this.count('auto', 'failed')
    }
    let authors: string[] = []
    try {
      if (room.doc.store.clients.size === 0) return this.count('auto', 'empty')
      const snapshot = await this.stored(room.snapshot())
      authors = this.authors.take(docName)
      const policy: VersionPolicy = {
        ...this.policy(),
        skipIfUnchanged: true,
        // Several instances hold a document edited without pause: the first
        // to reach the interval records it for all of them.
        skipIfNewerThanMs: trigger === 'interval' ? Math.floor(this.deps.limits.historyMaxIntervalMs / 2) : undefined
      }
      const result = await store.addVersion(docName, { kind: 'auto', label: null, snapshot, authors, createdAt: this.now() }, policy)
      if ('added' in result) return this.count('auto', 'added')
      // Skipped as recent: these changes are not in a version yet.
      if ('skipped' in result && result.skipped === 'recent') this.authors.giveBack(docName, authors)
      return this.count('auto', 'skipped' in result ? result.skipped : 'skipped')
    } catch (err) {
      this.authors.giveBack(docName, authors)
      this.deps.logger.warn({ err, doc: docName }, 'history: an automatic version was not stored; retrying later')
      return this.count('auto', 'failed')
    } finally {
      this.deps.release(room)
    }
  }

  /** Stores a named or backup version with the authors since the last version. */
  private async add (store: VersionStore, docName: string, version: NewVersion): Promise<VersionInfo> {
    const authors = this.authors.take(docName)
    let result
    try {
      result = await store.addVersion(docName, { ...version, authors: [...version.authors, ...authors] }, this.policy())
    } catch (err) {
      this.authors.giveBack(docName, authors)
      throw storeFailed(err)
    }
    if ('added' in result) {
      this.count(version.kind, 'added')
      return result.added
    }
    this.authors.giveBack(docName, authors)
    this.count(version.kind, 'refused')
    throw new TandemError('VERSION_LIMIT', `the document has ${this.deps.limits.historyMaxNamedVersions} named and backup versions, the most it may keep; delete some first`)
  }

  /** What `pending` resolves to, once storage has caught up; STORAGE_FAILED when it fails or does not answer in time. */
  private async stored<T> (pending: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('storage did not answer in time')), this.deps.storageWaitMs)
    })
    try {
      return await Promise.race([pending, late])
    } catch (err) {
      throw storeFailed(err)
    } finally {
      clearTimeout(timer)
    }
  }

  private policy (): VersionPolicy {
    return { keepAuto: this.deps.limits.historyKeep, maxKept: this.deps.limits.historyMaxNamedVersions }
  }

  /** Runs `fn` with a hold on the loaded document; `NOT_FOUND` when it was never written. */
  private async withDoc<T> (docName: string, fn: (room: HistoryRoom) => Promise<T>, charge?: Charge): Promise<T> {
    let room: HistoryRoom
    try {
      room = await this.deps.acquire(docName)
    } catch (err) {
      if (err instanceof TandemError) throw err
      throw new TandemError('STORAGE_FAILED', `the document did not load: ${(err as Error).message}`)
    }
    try {
      // A document with no structs was never written (deleting content leaves structs).
      if (room.doc.store.clients.size === 0) throw new TandemError('NOT_FOUND', `no document named ${JSON.stringify(docName)}`)
      if (charge !== undefined && !charge(room.bytes)) throw new TandemError('RATE_LIMITED', 'too much document work')
      return await fn(room)
    } finally {
      this.deps.release(room)
    }
  }

  private store (docName: string): VersionStore {
    const valid = validateDocName(docName, this.deps.limits.maxDocNameBytes)
    if (!valid.ok) throw new TandemError('DOC_NAME_INVALID', valid.reason)
    if (this.deps.store === undefined) throw new TandemError('HISTORY_UNAVAILABLE', 'this storage adapter does not keep versions')
    return this.deps.store
  }

  private checkLabel (label: unknown): string | null {
    if (label === undefined || label === null) return null
    if (typeof label !== 'string') throw new TandemError('BODY_INVALID', 'label must be a string or null')
    const max = this.deps.limits.historyMaxLabelChars
    // Characters as people count them (code points), not UTF-16 units.
    if (label.length > max && [...label].length > max) throw new TandemError('LABEL_TOO_LONG', `the label is longer than ${max} characters`)
    return label
  }

  private count (kind: string, outcome: AutoOutcome | 'refused'): AutoOutcome {
    this.recorded.inc({ kind, outcome })
    return outcome === 'refused' ? 'skipped' : outcome
  }

  private now (): number {
    return this.deps.clock?.now() ?? Date.now()
  }
}

function storeFailed (err: unknown): TandemError {
  if (err instanceof TandemError) return err
  return new TandemError('STORAGE_FAILED', `storage failed: ${(err as Error).message}`)
}

/** The restore's change; a document nested too deep for it (the stack) is refused like its JSON view. */
function computeRestore (current: Uint8Array, version: Uint8Array): Uint8Array | null {
  try {
    return restoreUpdate(current, version)
  } catch (err) {
    if (err instanceof RangeError) throw new TandemError('DOC_TOO_DEEP', 'the document nests too deep to restore a version of it')
    throw err
  }
}

function notFound (docName: string, id: string): TandemError {
  return new TandemError('NOT_FOUND', `no version ${JSON.stringify(id)} of ${JSON.stringify(docName)}`)
}
