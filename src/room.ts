import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Persistence } from '../persistence/types.js'
import { CloseCode } from './close-codes.js'
import type { Hooks } from './config.js'
import type { Fanout, FanoutRoom } from './fanout/types.js'
import type { Member } from './member.js'
import type { Metrics } from './metrics.js'
import { FANOUT_ORIGIN, LOAD_ORIGIN, isPublished, isRelayed, originOf, senderOf, type Origin } from './origin.js'
import { decodeAwarenessUpdate, encodeAwareness, encodeAwarenessUpdate as encodeAwarenessEntries, encodeSyncStep1, encodeSyncStep2, encodeSyncUpdate } from './protocol.js'
import { binaryFrame } from './wire.js'
import { mergeMany, WriteQueue, type StoredBatch } from './write-queue.js'

export interface RoomDeps {
  persistence: Persistence
  fanout: Fanout
  metrics: Metrics
  logger: Logger
  hooks: Hooks
  compactAfterUpdates: number
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
 * The room owns its members: which awareness client ids each one controls is
 * held here, next to the rules that use it.
 */
export class Room implements FanoutRoom {
  readonly doc = new Y.Doc()
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  /** Each member and the awareness client ids it controls (removed when it leaves). */
  private readonly members = new Map<Member, Set<number>>()
  private readonly writes: WriteQueue
  private destroyedFlag = false
  private awarenessChanged = new Set<number>()
  private awarenessScheduled = false
  private childLog: Logger | undefined

  constructor (readonly name: string, private readonly deps: RoomDeps) {
    this.writes = new WriteQueue({
      docName: name,
      persistence: deps.persistence,
      metrics: deps.metrics,
      compactAfterUpdates: deps.compactAfterUpdates,
      onStored: (batch) => this.relay(batch),
      onFailed: (err) => this.onWriteFailed(err),
      // Compaction only saves space and load time; the rows are intact.
      onCompactionFailed: (err) => this.log.warn({ err }, 'compaction failed')
    })
    // The server has no presence of its own.
    this.awareness.setLocalState(null)
    this.doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
  }

  /** A child logger made on first use (most rooms never log). */
  private get log (): Logger {
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

  /** Loads the stored state. Until it resolves no client is answered. */
  async load (): Promise<void> {
    const updates = await this.deps.persistence.load(this.name)
    if (this.destroyedFlag) return
    this.doc.transact(() => {
      for (const update of updates) Y.applyUpdate(this.doc, update)
    }, LOAD_ORIGIN)
    this.callHook('onLoad', () => this.deps.hooks.onLoad?.({ docName: this.name, doc: this.doc }))
    this.writes.loaded(updates.length)
  }

  // ---------------------------------------------------------------- updates

  private readonly onDocUpdate = (update: Uint8Array, txOrigin: unknown): void => {
    const origin = originOf(txOrigin)
    if (origin.kind === 'load') return
    this.writes.push(update, origin)
    this.deps.metrics.updatesApplied.inc({ origin: origin.kind })
    this.callHook('onChange', () => this.deps.hooks.onChange?.({ docName: this.name, update, origin: origin.kind }))
  }

  /**
   * Applies an update from `origin`. Throws if the update does not decode; what
   * Yjs integrated before the error is valid and stays consistent with storage.
   */
  applyUpdate (update: Uint8Array, origin: Origin): void {
    Y.applyUpdate(this.doc, update, origin)
  }

  /** Sends a stored batch to local members (encoded once) and to other instances. */
  private relay ({ updates, merged, stored }: StoredBatch): void {
    if (stored !== null) this.callHook('onStore', () => this.deps.hooks.onStore?.({ docName: this.name, update: stored }))
    const relayed = updates.filter((p) => isRelayed(p.origin))
    if (relayed.length > 0) {
      const first = senderOf(relayed[0].origin)
      // A batch made only of one member's changes is not echoed to it.
      const skip = first !== null && relayed.every((p) => senderOf(p.origin) === first) ? first : null
      const frame = encodeSyncUpdate(relayed.length === updates.length ? merged : mergeMany(relayed.map((p) => p.update)))
      const wire = binaryFrame(frame)
      let sent = 0
      for (const member of this.members.keys()) {
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
  }

  /** Resolves once every change applied so far is stored; rejects if the room fails first. */
  whenStored (): Promise<void> {
    return this.writes.whenStored()
  }

  /**
   * Sends `frame` (which reflects the doc as of now) once storage has caught
   * up with everything in it.
   */
  sendWhenStored (member: Member, frame: Uint8Array): void {
    if (this.writes.caughtUp) {
      member.send(frame)
      return
    }
    this.writes.whenStored().then(() => member.send(frame), () => {})
  }

  /** The answer to a member's sync step 1: everything it lacks, released once stored. */
  answerSyncStep1 (member: Member, stateVector: Uint8Array): void {
    this.sendWhenStored(member, encodeSyncStep2(Y.encodeStateAsUpdate(this.doc, stateVector)))
  }

  /** The whole document as one update, once everything in it is stored. */
  async snapshot (): Promise<Uint8Array> {
    const update = Y.encodeStateAsUpdate(this.doc)
    await this.writes.whenStored()
    return update
  }

  /**
   * A write failed: nothing after it may be relayed, and the in-memory doc is
   * now ahead of storage. Close every member (they reconnect, the room reloads
   * from storage, and their sync sends back what was not stored).
   */
  private onWriteFailed (err: Error): void {
    this.log.error({ err }, 'storing an update failed; closing the document\'s connections')
    for (const member of [...this.members.keys()]) member.close(CloseCode.INTERNAL_ERROR, 'storage failed')
    this.deps.onFailed(this)
  }

  // ---------------------------------------------------------------- members

  /** Adds a member to the loaded room and starts the sync handshake. */
  join (member: Member): void {
    this.members.set(member, new Set())
    member.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    const states = this.awareness.getStates()
    if (states.size > 0) {
      member.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...states.keys()])))
    }
  }

  /** Removes a member and the awareness states it controlled. */
  leave (member: Member): void {
    const controlled = this.members.get(member)
    if (controlled === undefined) return
    this.members.delete(member)
    if (controlled.size > 0 && !this.destroyedFlag) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [...controlled], { kind: 'connection', member } satisfies Origin)
    }
  }

  /** Number of members. */
  get size (): number {
    return this.members.size
  }

  /** The full awareness state as one message, or null when nobody is present. */
  awarenessMessage (): Uint8Array | null {
    const snapshot = this.awarenessSnapshot()
    return snapshot === null ? null : encodeAwareness(snapshot)
  }

  /**
   * Applies an awareness update. A member may only set or remove states of
   * client ids it announced itself: entries for ids another member controls
   * (or the server's own id) are dropped and counted. Throws on an update
   * that does not decode.
   */
  applyAwareness (update: Uint8Array, origin: Origin): void {
    const entries = decodeAwarenessUpdate(update)
    for (const entry of entries) JSON.parse(entry.state)
    const own = origin.kind === 'connection' ? origin.member : null
    const ownIds = own === null ? undefined : this.members.get(own)
    const allowed = entries.filter((entry) => {
      if (entry.clientId === this.awareness.clientID) return false
      if (own === null || ownIds?.has(entry.clientId) === true) return true
      // Stock clients echo every awareness change they receive back to the
      // server. An echo carries the clock the server already has and changes
      // nothing; only a newer clock (or a removal at the same clock) is a claim.
      const known = this.awareness.meta.get(entry.clientId)
      const claim = known === undefined || entry.clock > known.clock || (entry.clock === known.clock && entry.state === 'null')
      if (!claim) return true
      for (const [member, ids] of this.members) {
        if (member === own || !ids.has(entry.clientId)) continue
        // A client that reconnected before the server noticed its old socket
        // died announces the same id again: the same identity takes it over
        // (and the old socket's close will not remove it). Anyone else is forging.
        if (member.identity !== own.identity) return false
        ids.delete(entry.clientId)
      }
      return true
    })
    if (allowed.length < entries.length) {
      this.deps.metrics.forgedAwareness.inc(entries.length - allowed.length)
      this.log.info({ dropped: entries.length - allowed.length }, 'dropped awareness entries for client ids this connection does not own')
    }
    if (allowed.length === 0) return
    awarenessProtocol.applyAwarenessUpdate(this.awareness, allowed.length === entries.length ? update : encodeAwarenessEntries(allowed), origin)
  }

  private readonly onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    txOrigin: unknown
  ): void => {
    const origin = originOf(txOrigin)
    const owned = origin.kind === 'connection' ? this.members.get(origin.member) : undefined
    if (owned !== undefined) {
      for (const id of added) owned.add(id)
      for (const id of updated) owned.add(id)
      for (const id of removed) owned.delete(id)
    }
    for (const id of added) this.awarenessChanged.add(id)
    for (const id of updated) this.awarenessChanged.add(id)
    for (const id of removed) this.awarenessChanged.add(id)
    if (isPublished(origin) && (added.length + updated.length + removed.length) > 0) {
      const changed = [...added, ...updated, ...removed]
      this.deps.fanout.publishAwareness(this.name, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
    }
    if (!this.awarenessScheduled && this.awarenessChanged.size > 0) {
      this.awarenessScheduled = true
      // Coalesce: one encoding per tick for all recipients.
      setImmediate(this.broadcastAwareness)
    }
  }

  private readonly broadcastAwareness = (): void => {
    this.awarenessScheduled = false
    if (this.destroyedFlag || this.awarenessChanged.size === 0) return
    const frame = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awarenessChanged]))
    this.awarenessChanged.clear()
    const wire = binaryFrame(frame)
    for (const member of this.members.keys()) member.sendFramed(wire, frame)
    this.deps.metrics.messagesOut.inc('awareness', this.members.size)
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

  onRemoteAwareness (update: Uint8Array): void {
    if (this.destroyedFlag) return
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, FANOUT_ORIGIN)
    } catch (err) {
      this.log.warn({ err }, 'dropped an awareness update from another instance that does not apply')
    }
  }

  stateVector (): Uint8Array {
    return Y.encodeStateVector(this.doc)
  }

  diff (stateVector: Uint8Array): Uint8Array | null {
    const update = Y.encodeStateAsUpdate(this.doc, stateVector)
    // An empty update is two zero bytes (no structs, no deletes).
    return update.length <= 2 ? null : update
  }

  awarenessSnapshot (): Uint8Array | null {
    const ids = [...this.awareness.getStates().keys()]
    return ids.length === 0 ? null : awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)
  }

  /** Removes awareness states of a dead instance's clients, except those a local member now controls. */
  removeRemoteClients (clientIds: number[]): void {
    if (this.destroyedFlag) return
    const remote = clientIds.filter((id) => !this.controlledLocally(id))
    if (remote.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, remote, FANOUT_ORIGIN)
  }

  private controlledLocally (clientId: number): boolean {
    for (const ids of this.members.values()) if (ids.has(clientId)) return true
    return false
  }

  /** A host's hook must not break the room: its errors are logged, not thrown. */
  private callHook (name: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.log.error({ err, hook: name }, 'a hook threw')
    }
  }

  awarenessCount (): number {
    return this.awareness.getStates().size
  }

  /** Frees the doc and the awareness timer. Safe to call twice. */
  destroy (): void {
    if (this.destroyedFlag) return
    this.destroyedFlag = true
    this.writes.stop()
    this.awareness.off('update', this.onAwarenessUpdate)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.destroy()
    this.doc.destroy()
  }
}
