import type { Logger } from 'pino'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { serverDoc } from './yjs/doc.js'
import type { Persistence } from '../persistence/types.js'
import { CloseCode } from './close-codes.js'
import type { Config, Hooks } from './config.js'
import { TandemError } from './errors.js'
import type { AwarenessReservations } from './reservations.js'
import type { StorageHealth } from './storage-health.js'
import { applyStoredUpdates } from './yjs/stored-updates.js'
import { isDocStuck } from './yjs/stuck-doc.js'
import { inspectUpdate } from './yjs/update-inspect.js'
import type { AwarenessOwners, Fanout, FanoutRoom } from './fanout/types.js'
import type { Member } from './member.js'
import { Presence } from './presence.js'
import type { Metrics } from './metrics.js'
import { FANOUT_ORIGIN, LOAD_ORIGIN, authorOf, isPublished, isRelayed, originOf, senderOf, type Origin } from './origin.js'
import { encodeSyncStep1, encodeSyncStep2, encodeSyncUpdate, isEmptyStateVector, isEmptyUpdate } from './protocol.js'
import { binaryFrame } from './wire.js'
import { mergeMany, WriteQueue, type StoredBatch, type WriteQueueHost } from './write-queue.js'

/** The limits a room enforces (see `ServerOptions` for what each bounds). */
export type RoomLimits = Pick<Config, 'maxDocumentBytes' | 'maxMessageBytes' | 'maxNestingDepth' | 'maxValueDepth' | 'maxAwarenessStateBytes' | 'maxAwarenessClientsPerConnection' | 'maxAwarenessBytesPerDoc'>

/** Who pays for work a change causes (measuring the document near its size limit): a member, or an HTTP request's user. */
export interface WorkBudget {
  allowWork(costBytes: number): boolean
}

export interface RoomDeps {
  persistence: Persistence
  fanout: Fanout
  metrics: Metrics
  logger: Logger
  hooks: Hooks
  compactAfterUpdates: number
  limits: RoomLimits
  /** Storage outages, logged once each; failed storage operations are retried meanwhile. */
  health: StorageHealth
  /** Awareness client ids reserved for the identities that left with them (outlives the room). */
  reservations: AwarenessReservations
  /**
   * Called after each batch of changes is stored and relayed, with the users
   * whose changes it holds (for features that follow edits: history, say).
   */
  onStored?: (room: Room, change: { update: Uint8Array; authors: string[]; local: boolean }) => void
  /** Called once when the room failed (a write was not stored), so its owner forgets it. */
  onFailed: (room: Room) => void
}

/**
 * One loaded document: the server's Y.Doc, its Awareness and the members
 * (client sockets) that joined it. The room is the unit of concurrency.
 *
 * Every change is applied to the Y.Doc at once (that validates it and
 * answers later syncs) and handed to the document's `WriteQueue`, which
 * stores it and only then lets the room relay it. Anything that reveals the
 * doc's state (a sync answer, an HTTP read) is computed now but released only
 * once storage has caught up with it, so no client ever receives an update
 * that a crash could lose.
 *
 * Updates are checked before they touch the document (`applyUpdate`). The
 * members and their awareness (ownership, limits, other instances' clients)
 * are the room's `Presence`; the path to storage is its `WriteQueue`.
 */
export class Room implements FanoutRoom, WriteQueueHost {
  /** The document; replaced only by `load` (when stored rows had to be loaded flat). */
  doc = serverDoc()
  /** The members and their presence; replaced together with `doc`. */
  presence: Presence
  private readonly writes: WriteQueue
  private destroyedFlag = false
  /** Encoded size of the doc, exact after each full encoding, an upper estimate in between (each update adds its length). */
  private docBytes = 0
  /** Sync answers (step-2 frames) for the document as it is now, by state vector; dropped by every change (only large ones are kept). */
  private answers: Map<string, Uint8Array> | null = null
  /** The whole document as one update, as it is now, if large; dropped by every change. */
  private full: Uint8Array | undefined
  private childLog: Logger | undefined
  private failReason: string | undefined
  /**
   * The sync answer for a client with an empty state vector, straight from
   * storage, while the document loads (null when the stored rows are not one
   * snapshot). Resolves once the rows were read; null once loaded.
   */
  storedFrames: Promise<EarlyAnswer | null> | null
  private resolveStoredFrames!: (answer: EarlyAnswer | null) => void
  /** Wakes the load's retry wait, so `destroy()` ends it early. */
  private wakers: Set<() => void> | null = null

  constructor (readonly name: string, private readonly deps: RoomDeps) {
    this.writes = new WriteQueue(deps, this)
    this.presence = new Presence(this.doc, deps, this)
    this.doc.on('update', this.onDocUpdate)
    this.storedFrames = new Promise((resolve) => { this.resolveStoredFrames = resolve })
  }

  /** The document's Awareness. */
  get awareness (): Awareness {
    return this.presence.awareness
  }

  /** The room's logger, a child made on first use (most rooms never log). */
  get log (): Logger {
    this.childLog ??= this.deps.logger.child({ doc: this.name })
    return this.childLog
  }

  /** The error that failed the room (a write was not stored), or null. */
  get failed (): Error | null {
    return this.writes.failed
  }

  get destroyed (): boolean {
    return this.destroyedFlag
  }

  /** True when nothing is queued or being written. */
  get idle (): boolean {
    return this.writes.idle
  }

  /**
   * Loads the stored state. Until it resolves no client is answered. A
   * storage that fails is retried with backoff (the registry's load timeout
   * bounds the wait, and unloading the room stops it).
   */
  async load (): Promise<void> {
    let updates: Uint8Array[]
    for (let attempt = 1; ; attempt++) {
      try {
        updates = await this.deps.persistence.load(this.name)
        this.deps.health.succeeded()
        break
      } catch (err) {
        if (this.destroyedFlag) return
        this.deps.metrics.storageErrors.inc({ op: 'load' })
        this.deps.health.failed('load', err as Error)
        await this.deps.health.wait(attempt, (wake) => (this.wakers ??= new Set()).add(wake))
        if (this.destroyedFlag) return
      }
    }
    if (this.destroyedFlag) return
    // A new document: nothing to integrate, and nothing to answer early.
    if (updates.length === 0) {
      this.resolveStoredFrames(null)
      this.loaded(updates)
      return
    }
    // Clients that asked for everything can have the stored state now, before
    // the (much slower) integration into the document: a document stored as
    // one row (compacted) is exactly what they need. The integration takes
    // the thread, so it waits until their sockets have taken the answer
    // (bounded: a client that does not read cannot hold the load up).
    const writes: Array<Promise<void>> = []
    const frames = updates.length === 1 ? [encodeSyncStep2(updates[0])] : null
    this.resolveStoredFrames(frames === null ? null : { frames, written: (write) => { writes.push(write) } })
    await new Promise((resolve) => setImmediate(resolve))
    // A small document integrates in less time than the wait would take.
    if (writes.length > 0 && updates.length === 1 && updates[0].byteLength >= EARLY_ANSWER_WAIT_BYTES) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(writes), new Promise((resolve) => { timer = setTimeout(resolve, EARLY_ANSWER_WRITE_MS) })])
      clearTimeout(timer)
    }
    if (this.destroyedFlag) return
    const loaded = applyStoredUpdates(this.doc, updates, { origin: LOAD_ORIGIN })
    if (loaded.flat) {
      // Rows of a document nested too deep for Yjs' recursion (stored before
      // updates were checked on arrival): loaded without recursion into a new
      // document, and compacted next, after which they load normally.
      this.replaceDoc(loaded.doc)
      this.deps.metrics.refused.inc({ code: 'LOADED_FLAT' })
      this.log.warn({ rows: updates.length }, 'the stored rows nest too deep to load in one transaction; loaded them flat and compacting them')
    }
    this.loaded(updates)
  }

  /** The stored rows are in the document. */
  private loaded (updates: Uint8Array[]): void {
    // Asked for only while loading: let the stored rows go.
    this.storedFrames = null
    this.resolveStoredFrames = ignoreAnswer
    this.docBytes = updates.reduce((sum, u) => sum + u.byteLength, 0)
    this.callHook('onLoad', () => this.deps.hooks.onLoad?.({ docName: this.name, doc: this.doc }))
    this.writes.loaded(updates.length)
  }

  // ---------------------------------------------------------------- updates

  private readonly onDocUpdate = (update: Uint8Array, txOrigin: unknown): void => {
    const origin = originOf(txOrigin)
    // Encodings of the document before this change are useless now: let them go.
    this.answers = null
    this.full = undefined
    if (origin.kind === 'load') return
    this.docBytes += update.byteLength
    this.writes.push(update, origin)
    this.deps.metrics.updatesApplied.inc({ origin: origin.kind })
    this.callHook('onChange', () => this.deps.hooks.onChange?.({ docName: this.name, update, origin: origin.kind }))
  }

  /**
   * Applies an update from `origin`, after the checks that protect the
   * document (each refusal is a `TandemError`, and nothing is applied):
   * - it must decode exactly as a V1 update (`UPDATE_INVALID`, saying so for V2);
   * - it may not nest shared types deeper than `maxNestingDepth` or values
   *   deeper than `maxValueDepth` (`UPDATE_TOO_DEEP`): Yjs deletes and
   *   garbage-collects nested types recursively, and a deep enough chain
   *   would make the document impossible to load;
   * - it may not depend on changes the document does not have
   *   (`UPDATE_INCOMPLETE`): Yjs would keep such parts pending, never emit
   *   them (so never store them), yet serve them to everyone who syncs;
   * - it may not grow the document past `maxDocumentBytes` (`DOC_TOO_LARGE`);
   *   `budget` pays for measuring the document exactly near the limit.
   * An update that changes nothing is skipped (`refuseEmpty`: refused, `UPDATE_EMPTY`).
   *
   * If Yjs throws halfway through a transaction its document can be left
   * unable to emit further changes; the room then fails (its members
   * reconnect and the document reloads from storage) rather than accept
   * writes it would never store.
   */
  applyUpdate (update: Uint8Array, origin: Origin, budget?: WorkBudget, options: { refuseEmpty?: boolean } = {}): void {
    if (this.failed !== null || this.destroyedFlag) throw new TandemError('STORAGE_FAILED', 'the document is reloading; retry')
    if (isEmptyUpdate(update)) {
      // Every client with nothing new answers the server's sync step 1 with this.
      if (options.refuseEmpty === true) throw new TandemError('UPDATE_EMPTY', 'the update changes nothing')
      return
    }
    const { maxNestingDepth, maxValueDepth } = this.deps.limits
    const inspection = inspectUpdate(this.doc, update, { maxDepth: maxNestingDepth, maxValueDepth })
    switch (inspection.status) {
      case 'malformed':
        throw new TandemError('UPDATE_INVALID', inspection.v2
          ? 'this is a V2-encoded update; send V1 (Y.encodeStateAsUpdate, not …V2)'
          : `the update does not decode: ${inspection.reason}`)
      case 'empty':
        if (options.refuseEmpty === true) throw new TandemError('UPDATE_EMPTY', 'the update changes nothing')
        return
      case 'too-deep':
        throw new TandemError('UPDATE_TOO_DEEP', inspection.limit === 'types'
          ? `the update nests shared types ${inspection.depth} deep; at most ${maxNestingDepth} are allowed`
          : `the update nests a value ${inspection.valueDepth} deep; at most ${maxValueDepth} are allowed`)
      case 'missing': {
        const { kind, client, clock } = inspection.missing
        throw new TandemError('UPDATE_INCOMPLETE', `the update depends on changes the server does not have (${kind} ${client}:${clock})`)
      }
    }
    // Deletions never grow a document past its limit.
    if (inspection.structs > 0) this.checkSize(update, budget)
    try {
      Y.applyUpdate(this.doc, update, origin)
    } catch (err) {
      if (isDocStuck(this.doc)) this.fail(err as Error, 'applying an update broke the document; reloading it from storage')
      throw new TandemError('UPDATE_INVALID', `the update does not apply: ${(err as Error).message}`)
    }
  }

  /**
   * Runs `fn`, which changes the document in its own transactions (with the
   * origin it chooses: JSON Patch, the server-side document API), with the
   * same protection as `applyUpdate`: refused (before anything changes) when
   * the document plus `growthBytes` would exceed `maxDocumentBytes`, and the
   * room fails rather than go on with a document Yjs left broken.
   */
  change<T> (fn: (doc: Y.Doc) => T, options: { growthBytes: number; budget?: WorkBudget }): T {
    if (this.failed !== null || this.destroyedFlag) throw new TandemError('STORAGE_FAILED', 'the document is reloading; retry')
    if (options.growthBytes > 0) this.checkGrowth(options.growthBytes, options.budget)
    try {
      return fn(this.doc)
    } catch (err) {
      if (isDocStuck(this.doc)) this.fail(err as Error, 'a change broke the document; reloading it from storage')
      throw err
    }
  }

  /** Refuses an update that would grow the document past `maxDocumentBytes`. */
  private checkSize (update: Uint8Array, budget?: WorkBudget): void {
    const max = this.deps.limits.maxDocumentBytes
    // The estimate adds every update's size, which overstates the growth
    // several times over. Past three quarters of the limit, a compaction (off
    // the event loop) brings it back to the document's real size, so that the
    // exact measurement below (an encoding of the whole document on the event
    // loop, seconds for a large one) is left to documents really near the limit.
    if (this.docBytes + update.byteLength > max * 0.75) this.writes.compactSoon()
    if (this.docBytes + update.byteLength <= max) return
    this.checkGrowth(update.byteLength, budget)
  }

  /** Refuses a change of `bytes` that would grow the document past `maxDocumentBytes`. */
  private checkGrowth (bytes: number, budget?: WorkBudget): void {
    const max = this.deps.limits.maxDocumentBytes
    if (this.docBytes + bytes <= max) return
    // The estimate says no; measure. Paid by the sender, so a client at the
    // limit cannot make the server encode the document for free.
    if (budget !== undefined && !budget.allowWork(this.docBytes)) throw new TandemError('RATE_LIMITED', 'too many updates at the document size limit')
    this.fullState()
    if (this.docBytes + bytes > max) throw new TandemError('DOC_TOO_LARGE', `the document would grow past ${max} bytes`)
  }

  /** The whole document as one update, encoded once per version. */
  private fullState (): Uint8Array {
    if (this.full !== undefined) return this.full
    const update = Y.encodeStateAsUpdate(this.doc)
    this.docBytes = update.byteLength
    if (update.byteLength >= CACHE_FROM_BYTES) this.full = update
    return update
  }

  /** Sends a stored batch to local members (encoded once) and to other instances (called by the room's WriteQueue). */
  batchStored ({ updates, merged, stored }: StoredBatch): void {
    if (stored !== null) this.callHook('onStore', () => this.deps.hooks.onStore?.({ docName: this.name, update: stored }))
    const relayed = updates.filter((p) => isRelayed(p.origin))
    if (relayed.length > 0) {
      const first = senderOf(relayed[0].origin)
      // A batch made only of one member's changes is not echoed to it.
      const skip = first !== null && relayed.every((p) => senderOf(p.origin) === first) ? first : null
      const frame = encodeSyncUpdate(relayed.length === updates.length ? merged : mergeMany(relayed.map((p) => p.update)))
      const wire = binaryFrame(frame)
      let sent = 0
      for (const member of this.presence.membersNow()) {
        if (member !== skip) {
          member.sendFramed(wire, frame)
          sent++
        }
      }
      if (sent > 0) this.deps.metrics.messagesOut.inc('sync-update', sent)
    }
    const published = updates.filter((p) => isPublished(p.origin))
    if (published.length > 0) {
      this.deps.fanout.publishUpdate(this.name, published.length === updates.length ? merged : mergeMany(published.map((p) => p.update)))
    }
    if (this.deps.onStored !== undefined) {
      const authors = new Set<string>()
      for (const p of updates) {
        const author = authorOf(p.origin)
        if (author !== undefined) authors.add(author)
      }
      const onStored = this.deps.onStored
      this.callHook('onStored', () => onStored(this, { update: merged, authors: [...authors], local: published.length > 0 }))
    }
  }

  /** Resolves once every change applied so far is stored; rejects if the room fails first. */
  whenStored (): Promise<void> {
    return this.writes.whenStored()
  }

  /**
   * Sends `frame` (which reflects the doc as of now) once storage has caught
   * up with everything in it.
   */
  sendWhenStored (member: Member, frame: Uint8Array, options?: { syncAnswer?: boolean }): void {
    if (this.writes.caughtUp) {
      member.send(frame, options)
      return
    }
    this.writes.whenStored().then(() => member.send(frame, options), () => {})
  }

  /**
   * The answer to a member's sync step 1: everything it lacks, released once
   * stored. Answers are cached per version of the document (every page load
   * asks with the same empty state vector), and a computed one is paid for
   * from the member's sync-work budget: a refused request throws a
   * `TandemError` (`RATE_LIMITED`).
   */
  answerSyncStep1 (member: Member, stateVector: Uint8Array): void {
    if (hasNoContent(this.doc) && this.writes.caughtUp) {
      // Nothing to encode and nothing to wait for (every new document).
      member.sendFramed(EMPTY_STEP2_WIRE, EMPTY_STEP2)
      return
    }
    let frame = this.cachedAnswer(stateVector)
    if (frame === undefined) {
      if (!member.allowWork(this.docBytes)) throw new TandemError('RATE_LIMITED', 'too many sync requests')
      frame = encodeSyncStep2(isEmptyStateVector(stateVector) ? this.fullState() : Y.encodeStateAsUpdate(this.doc, stateVector))
      this.cacheAnswer(stateVector, frame)
    }
    this.sendWhenStored(member, frame, { syncAnswer: true })
  }

  private cachedAnswer (stateVector: Uint8Array): Uint8Array | undefined {
    return this.answers?.get(answerKey(stateVector))
  }

  private cacheAnswer (stateVector: Uint8Array, frame: Uint8Array): void {
    // By the document's size, which is what an answer costs to compute (and is charged), whatever its own size.
    if (this.docBytes < CACHE_FROM_BYTES) return
    this.answers ??= new Map()
    // A few distinct state vectors per version (clients at the same state ask alike); bound the rest.
    if (this.answers.size >= MAX_CACHED_ANSWERS) return
    this.answers.set(answerKey(stateVector), frame)
  }

  /** The whole document as one update, once everything in it is stored. */
  async snapshot (): Promise<Uint8Array> {
    const update = this.fullState()
    await this.writes.whenStored()
    return update
  }

  /** Approximate encoded size of the document in bytes (exact after each full encoding). */
  get bytes (): number {
    return this.docBytes
  }

  /** A compaction failed (called by the room's WriteQueue): it only saves space and load time, the rows are intact. */
  compactionFailed (err: Error): void {
    this.log.warn({ err }, 'compaction failed')
  }

  /** A compaction measured the document (called by the room's WriteQueue). */
  compacted (bytes: number): void {
    if (bytes < this.docBytes) this.docBytes = bytes
  }

  /**
   * A write failed: nothing after it may be relayed, and the in-memory doc is
   * now ahead of storage. Close every member (they reconnect, the room reloads
   * from storage, and their sync sends back what was not stored).
   */
  writesFailed (err: Error): void {
    this.log.error({ err }, this.failReason ?? 'storing an update failed; closing the document\'s connections')
    for (const member of [...this.presence.membersNow()]) member.close(CloseCode.INTERNAL_ERROR, 'document reloading')
    this.deps.onFailed(this)
  }

  /** Swaps in a new document (and presence) before anyone joined: only `load` does. */
  private replaceDoc (doc: Y.Doc): void {
    this.doc.off('update', this.onDocUpdate)
    this.presence.destroy()
    this.doc.destroy()
    this.doc = doc
    this.presence = new Presence(doc, this.deps, this)
    this.doc.on('update', this.onDocUpdate)
  }

  /** Fails the room for a reason other than a write: the same path (members reconnect, the document reloads). */
  private fail (err: Error, reason: string): void {
    this.failReason = reason
    this.writes.fail(err)
  }

  // ---------------------------------------------------------------- members

  /**
   * Adds a member to the loaded room and sends it the awareness states. The
   * server's sync step 1 is the member's to ask for (`sendSyncStep1`): a
   * client that holds nothing never needs it.
   */
  join (member: Member): void {
    const states = this.presence.join(member)
    if (states !== null) member.send(states)
  }

  /** The server's sync step 1 to a member: its state vector, so the member answers with what the server lacks. */
  sendSyncStep1 (member: Member): void {
    if (hasNoContent(this.doc)) member.sendFramed(EMPTY_STEP1_WIRE, EMPTY_STEP1)
    else member.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
  }

  /** Removes a member and the awareness states it controlled. */
  leave (member: Member): void {
    this.presence.leave(member)
  }

  /** Number of members. */
  get size (): number {
    return this.presence.size
  }

  /** Applies a member's awareness update (see `Presence.apply` for the rules and refusals). */
  applyAwareness (update: Uint8Array, origin: Origin): void {
    this.presence.apply(update, origin)
  }

  /** The awareness of every client as one message, or null when nobody is present. */
  awarenessMessage (): Uint8Array | null {
    return this.presence.message()
  }

  awarenessCount (): number {
    return this.presence.count
  }

  // ---------------------------------------------------------------- fan-out

  onRemoteUpdate (update: Uint8Array): void {
    if (this.destroyedFlag || this.failed !== null) return
    try {
      Y.applyUpdate(this.doc, update, FANOUT_ORIGIN)
    } catch (err) {
      this.log.warn({ err }, 'dropped an update from another instance that does not apply')
    }
  }

  onRemoteAwareness (update: Uint8Array, owners?: AwarenessOwners): void {
    if (this.destroyedFlag) return
    this.presence.applyRemote(update, owners)
  }

  awarenessSnapshot (): Uint8Array | null {
    return this.presence.snapshot()
  }

  awarenessOwners (): AwarenessOwners {
    return this.presence.owners()
  }

  removeRemoteClients (clientIds: number[]): void {
    if (this.destroyedFlag) return
    this.presence.removeRemoteClients(clientIds)
  }

  stateVector (): Uint8Array {
    return Y.encodeStateVector(this.doc)
  }

  diff (stateVector: Uint8Array): Uint8Array | null {
    const update = Y.encodeStateAsUpdate(this.doc, stateVector)
    // An empty update is two zero bytes (no structs, no deletes).
    return update.length <= 2 ? null : update
  }

  /** A host's hook must not break the room: its errors are logged, not thrown. */
  private callHook (name: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.log.error({ err, hook: name }, 'a hook threw')
    }
  }

  /**
   * Unloads the document (frees the doc and its presence; safe to call twice). With `compact`, rows stored since the last
   * compaction are merged in the background (not when the server stops, nor
   * for a document being deleted).
   */
  destroy (options: { compact?: boolean } = {}): void {
    if (this.destroyedFlag) return
    this.destroyedFlag = true
    if (options.compact === true) this.writes.compactRest()
    for (const wake of this.wakers ?? []) wake()
    this.wakers = null
    this.resolveStoredFrames(null)
    this.writes.stop()
    this.doc.off('update', this.onDocUpdate)
    this.presence.destroy()
    this.doc.destroy()
    this.deps.persistence.release?.(this.name)
  }
}

function ignoreAnswer (): void {}

/**
 * A document with nothing in it (no structs, nothing pending): its state
 * vector is empty and so is the answer to any sync request.
 */
function hasNoContent (doc: Y.Doc): boolean {
  const store = doc.store
  return store.clients.size === 0 && store.pendingStructs === null && store.pendingDs === null
}

/** An empty state vector / an empty update (no structs, no deletions). */
const EMPTY_STATE_VECTOR = new Uint8Array([0])
const EMPTY_UPDATE = new Uint8Array([0, 0])
/** The server's sync step 1 and its answer to any sync step 1 for a document with no content, framed once for all. */
const EMPTY_STEP1 = encodeSyncStep1(EMPTY_STATE_VECTOR)
const EMPTY_STEP1_WIRE = binaryFrame(EMPTY_STEP1)
const EMPTY_STEP2 = encodeSyncStep2(EMPTY_UPDATE)
const EMPTY_STEP2_WIRE = binaryFrame(EMPTY_STEP2)

function answerKey (stateVector: Uint8Array): string {
  return Buffer.from(stateVector.buffer, stateVector.byteOffset, stateVector.byteLength).toString('latin1')
}

/** The stored state sent to clients that asked for everything while the document loads. */
export interface EarlyAnswer {
  frames: Uint8Array[]
  /** Each client sent the frames reports when its socket has taken them. */
  written: (write: Promise<void>) => void
}

/** How long the integration of a loaded document waits for early answers to be written. */
const EARLY_ANSWER_WRITE_MS = 500
/** Stored documents smaller than this are integrated without waiting for early answers to be written. */
const EARLY_ANSWER_WAIT_BYTES = 64 * 1024

/** Distinct state vectors whose sync answers are kept per document version. */
const MAX_CACHED_ANSWERS = 8
/**
 * Encodings of documents smaller than this are made again when asked rather
 * than kept: encoding a small document takes microseconds, and with
 * thousands of documents open their caches cost a fifth of a kilobyte per
 * connection.
 */
const CACHE_FROM_BYTES = 4096

