import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Persistence } from '../persistence/types.js'
import { CloseCode } from './close-codes.js'
import type { Hooks } from './config.js'
import { binaryFrame } from './wire.js'
import type { Connection } from './connection.js'
import type { Fanout, FanoutRoom } from './fanout/types.js'
import type { Metrics } from './metrics.js'
import { FANOUT_ORIGIN, LOAD_ORIGIN, type Origin } from './origin.js'
import { decodeAwarenessUpdate, encodeAwareness, encodeAwarenessUpdate as encodeAwarenessEntries, encodeSyncStep1, encodeSyncStep2, encodeSyncUpdate } from './protocol.js'

export interface RoomDeps {
  persistence: Persistence
  fanout: Fanout
  metrics: Metrics
  logger: Logger
  hooks: Hooks
  compactAfterUpdates: number
  /** Called when the room failed (a write was not stored) so the registry forgets it. */
  onFailed: (room: Room) => void
}

interface PendingUpdate {
  update: Uint8Array
  origin: Origin
  seq: number
  receivedAt: number
}

interface Waiter {
  seq: number
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * One loaded document: the server's Y.Doc, its Awareness and the connections
 * that joined it. The room is the unit of concurrency.
 *
 * Durability: every change is applied to the Y.Doc at once (that validates it
 * and answers later syncs), queued, stored in a batch, and only then relayed.
 * Changes are numbered; `storedSeq` says how far storage has caught up. Anything
 * that reveals the doc's state (a sync reply, an HTTP read) is computed now but
 * released only once `storedSeq` has reached the changes it contains — so no
 * client ever receives an update that a crash could lose.
 */
export class Room implements FanoutRoom {
  readonly doc = new Y.Doc()
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  readonly connections = new Set<Connection>()
  /** Connections plus in-flight HTTP operations; the room unloads at zero. */
  holds = 0
  failed: Error | null = null
  destroyed = false

  private seq = 0
  private storedSeq = 0
  private pending: PendingUpdate[] = []
  private flushScheduled = false
  private writing = false
  private waiters: Waiter[] = []
  /** Updates stored since the last compaction (a batch row holds many). */
  private updatesSinceCompaction = 0
  private compacting = false
  private awarenessChanged = new Set<number>()
  private awarenessScheduled = false
  private childLog: Logger | undefined

  constructor (readonly name: string, private readonly deps: RoomDeps) {
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

  /** Loads the stored state. Until it resolves no client is answered. */
  async load (): Promise<void> {
    const updates = await this.deps.persistence.load(this.name)
    if (this.destroyed) return
    this.doc.transact(() => {
      for (const update of updates) Y.applyUpdate(this.doc, update)
    }, LOAD_ORIGIN)
    // Rows written before (each possibly a large batch) are worth merging once
    // they are more than one: the next load then applies a single snapshot.
    this.updatesSinceCompaction = updates.length > 1 ? Math.max(updates.length, this.deps.compactAfterUpdates) : 0
    this.callHook('onLoad', () => this.deps.hooks.onLoad?.({ docName: this.name, doc: this.doc }))
    this.maybeCompact()
  }

  // ---------------------------------------------------------------- updates

  private readonly onDocUpdate = (update: Uint8Array, origin: Origin): void => {
    if (origin === LOAD_ORIGIN) return
    const seq = ++this.seq
    this.pending.push({ update, origin, seq, receivedAt: performance.now() })
    this.deps.metrics.updatesApplied.inc({ origin: origin?.kind ?? 'unknown' })
    this.callHook('onChange', () => this.deps.hooks.onChange?.({ docName: this.name, update, origin: origin?.kind ?? 'unknown' }))
    if (!this.flushScheduled && !this.writing) {
      this.flushScheduled = true
      // Coalesce everything that arrives in this turn of the event loop into one write.
      setImmediate(this.startFlush)
    }
  }

  /**
   * Applies an update from `origin`. Throws if the update does not decode; what
   * Yjs integrated before the error is valid and stays consistent with storage.
   */
  applyUpdate (update: Uint8Array, origin: Origin): void {
    Y.applyUpdate(this.doc, update, origin)
  }

  private readonly startFlush = (): void => {
    // Anything unexpected fails this room (its clients reconnect), never the process.
    this.flush().catch((err) => this.fail(err as Error))
  }

  private readonly flush = async (): Promise<void> => {
    this.flushScheduled = false
    if (this.writing || this.destroyed) return
    this.writing = true
    try {
      while (this.pending.length > 0 && !this.destroyed) {
        const batch = this.pending
        this.pending = []
        const toStore = this.deps.persistence.shared
          ? batch.filter((p) => p.origin.kind !== 'fanout')
          : batch
        const merged = mergeOrSingle(batch)
        if (toStore.length > 0) {
          const update = toStore.length === batch.length ? merged : mergeOrSingle(toStore)
          const started = performance.now()
          try {
            await this.deps.persistence.store(this.name, update)
          } catch (err) {
            this.deps.metrics.storageErrors.inc({ op: 'store' })
            this.fail(err as Error)
            return
          }
          this.deps.metrics.storeSeconds.observe((performance.now() - started) / 1000)
          this.deps.metrics.batchSize.observe(toStore.length)
          this.updatesSinceCompaction += toStore.length
          this.callHook('onStore', () => this.deps.hooks.onStore?.({ docName: this.name, update }))
        }
        this.storedSeq = batch[batch.length - 1].seq
        this.relay(batch, merged)
        this.releaseWaiters()
        const now = performance.now()
        for (const p of batch) this.deps.metrics.applyStoreSeconds.observe((now - p.receivedAt) / 1000)
      }
    } finally {
      this.writing = false
    }
    this.maybeCompact()
  }

  /** Sends a stored batch to local clients (encoded once) and to other instances. */
  private relay (batch: PendingUpdate[], merged: Uint8Array): void {
    const first = batch[0].origin
    const soleSender = first.kind === 'connection' && batch.every((p) => p.origin === first) ? first.connection : null
    const frame = encodeSyncUpdate(merged)
    const wire = binaryFrame(frame)
    let sent = 0
    for (const conn of this.connections) {
      if (conn !== soleSender) {
        conn.sendFramed(wire, frame)
        sent++
      }
    }
    if (sent > 0) this.deps.metrics.messagesOut.inc('sync-update', sent)
    const local = batch.filter((p) => p.origin.kind !== 'fanout')
    if (local.length > 0) {
      this.deps.fanout.publishUpdate(this.name, local.length === batch.length ? merged : mergeOrSingle(local))
    }
  }

  private releaseWaiters (): void {
    let i = 0
    while (i < this.waiters.length && this.waiters[i].seq <= this.storedSeq) this.waiters[i++].resolve()
    if (i > 0) this.waiters.splice(0, i)
  }

  /** Resolves once every change applied so far is stored; rejects if the room fails first. */
  whenStored (seq = this.seq): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed)
    if (seq <= this.storedSeq) return Promise.resolve()
    return new Promise((resolve, reject) => { this.waiters.push({ seq, resolve, reject }) })
  }

  /**
   * Sends `frame` (which reflects the doc as of now) once storage has caught
   * up with everything in it.
   */
  sendWhenStored (conn: Connection, frame: Uint8Array): void {
    if (this.storedSeq >= this.seq) {
      conn.send(frame)
      return
    }
    this.whenStored().then(() => conn.send(frame), () => {})
  }

  /** The answer to a client's sync step 1: everything it lacks, released once stored. */
  answerSyncStep1 (conn: Connection, stateVector: Uint8Array): void {
    this.sendWhenStored(conn, encodeSyncStep2(Y.encodeStateAsUpdate(this.doc, stateVector)))
  }

  /** The whole document as one update, once everything in it is stored. */
  async snapshot (): Promise<Uint8Array> {
    const update = Y.encodeStateAsUpdate(this.doc)
    await this.whenStored()
    return update
  }

  private maybeCompact (): void {
    if (this.compacting || this.updatesSinceCompaction < this.deps.compactAfterUpdates || this.failed !== null) return
    this.compacting = true
    const counted = this.updatesSinceCompaction
    this.deps.persistence.compact(this.name).then(() => {
      this.updatesSinceCompaction -= counted
    }, (err: Error) => {
      // Compaction only saves space and load time; the rows are intact.
      this.deps.metrics.storageErrors.inc({ op: 'compact' })
      this.log.warn({ err }, 'compaction failed')
    }).finally(() => { this.compacting = false })
  }

  /**
   * A write failed: nothing after it may be relayed, and the in-memory doc is
   * now ahead of storage. Close every client (they reconnect, the room reloads
   * from storage, and their sync sends back what was not stored).
   */
  private fail (err: Error): void {
    if (this.failed !== null) return
    this.failed = err
    this.log.error({ err }, 'storing an update failed; closing the document\'s connections')
    for (const w of this.waiters) w.reject(err)
    this.waiters = []
    this.pending = []
    for (const conn of [...this.connections]) conn.close(CloseCode.INTERNAL_ERROR, 'storage failed')
    this.deps.onFailed(this)
  }

  // ---------------------------------------------------------------- connections

  /** Adds a connection to a loaded room and starts the sync handshake. */
  join (conn: Connection): void {
    this.connections.add(conn)
    conn.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    const states = this.awareness.getStates()
    if (states.size > 0) {
      conn.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...states.keys()])))
    }
  }

  /** Removes a connection and the awareness states it controlled. */
  leave (conn: Connection): void {
    if (!this.connections.delete(conn)) return
    if (conn.awarenessClients.size > 0 && !this.destroyed) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [...conn.awarenessClients], conn.origin)
    }
  }

  /** The full awareness state as one message, or null when nobody is present. */
  awarenessMessage (): Uint8Array | null {
    const snapshot = this.awarenessSnapshot()
    return snapshot === null ? null : encodeAwareness(snapshot)
  }

  /**
   * Applies a connection's awareness update. A connection may only set or
   * remove states of client ids it announced itself: entries for ids another
   * connection controls (or the server's own id) are dropped and counted.
   * Throws on an update that does not decode.
   */
  applyAwareness (update: Uint8Array, origin: Origin): void {
    const entries = decodeAwarenessUpdate(update)
    for (const entry of entries) JSON.parse(entry.state)
    const own = origin.kind === 'connection' ? origin.connection : null
    const allowed = entries.filter((entry) => {
      if (entry.clientId === this.awareness.clientID) return false
      if (own === null || own.awarenessClients.has(entry.clientId)) return true
      // Stock clients echo every awareness change they receive back to the
      // server. An echo carries the clock the server already has and changes
      // nothing; only a newer clock (or a removal at the same clock) is a claim.
      const known = this.awareness.meta.get(entry.clientId)
      const claim = known === undefined || entry.clock > known.clock || (entry.clock === known.clock && entry.state === 'null')
      if (!claim) return true
      for (const conn of this.connections) {
        if (conn === own || !conn.awarenessClients.has(entry.clientId)) continue
        // A client that reconnected before the server noticed its old socket
        // died announces the same id again: the same identity takes it over
        // (and the old socket's close will not remove it). Anyone else is forging.
        if (conn.identity !== own.identity) return false
        conn.awarenessClients.delete(entry.clientId)
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
    origin: Origin | string | null
  ): void => {
    if (typeof origin === 'object' && origin !== null && origin.kind === 'connection') {
      const owned = origin.connection.awarenessClients
      for (const id of added) owned.add(id)
      for (const id of updated) owned.add(id)
      for (const id of removed) owned.delete(id)
    }
    for (const id of added) this.awarenessChanged.add(id)
    for (const id of updated) this.awarenessChanged.add(id)
    for (const id of removed) this.awarenessChanged.add(id)
    if (origin !== FANOUT_ORIGIN && (added.length + updated.length + removed.length) > 0) {
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
    if (this.destroyed || this.awarenessChanged.size === 0) return
    const frame = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awarenessChanged]))
    this.awarenessChanged.clear()
    const wire = binaryFrame(frame)
    for (const conn of this.connections) conn.sendFramed(wire, frame)
    this.deps.metrics.messagesOut.inc('awareness', this.connections.size)
  }

  // ---------------------------------------------------------------- fan-out

  onRemoteUpdate (update: Uint8Array): void {
    if (this.destroyed || this.failed !== null) return
    try {
      Y.applyUpdate(this.doc, update, FANOUT_ORIGIN)
    } catch (err) {
      this.log.warn({ err }, 'dropped an update from another instance that does not apply')
    }
  }

  onRemoteAwareness (update: Uint8Array): void {
    if (this.destroyed) return
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

  /** Removes awareness states of a dead instance's clients, except those a local connection now controls. */
  removeRemoteClients (clientIds: number[]): void {
    if (this.destroyed) return
    const remote = clientIds.filter((id) => !this.ownedLocally(id))
    if (remote.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, remote, FANOUT_ORIGIN)
  }

  private ownedLocally (clientId: number): boolean {
    for (const conn of this.connections) if (conn.awarenessClients.has(clientId)) return true
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

  /** True when nothing is queued or being written. */
  get idle (): boolean {
    return this.pending.length === 0 && !this.writing && !this.flushScheduled
  }

  awarenessCount (): number {
    return this.awareness.getStates().size
  }

  /** Frees the doc and the awareness timer. Safe to call twice. */
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const w of this.waiters) w.reject(new Error('document unloaded'))
    this.waiters = []
    this.awareness.off('update', this.onAwarenessUpdate)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.destroy()
    this.doc.destroy()
  }
}

function mergeOrSingle (entries: PendingUpdate[]): Uint8Array {
  return entries.length === 1 ? entries[0].update : mergeMany(entries.map((p) => p.update))
}

/** Inputs per `Y.mergeUpdates` call: its cost grows much faster than linearly with the count. */
const MERGE_FAN_IN = 32

/** Merges any number of updates in rounds of at most MERGE_FAN_IN, keeping the cost near linear. */
export function mergeMany (updates: Uint8Array[]): Uint8Array {
  let level = updates
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += MERGE_FAN_IN) {
      const chunk = level.slice(i, i + MERGE_FAN_IN)
      next.push(chunk.length === 1 ? chunk[0] : Y.mergeUpdates(chunk))
    }
    level = next
  }
  return level[0]
}
