import * as Y from 'yjs'
import type { Persistence } from '../persistence/types.js'
import type { Config } from './config.js'
import type { Metrics } from './metrics.js'
import { isStored, type Origin } from './origin.js'
import type { StorageHealth } from './storage-health.js'

/** One change waiting for storage. */
export interface QueuedUpdate {
  readonly update: Uint8Array
  readonly origin: Origin
  /** Position in the document's sequence of changes, from 1. */
  readonly seq: number
  /** `performance.now()` when it was applied. */
  readonly receivedAt: number
}

/** A batch that storage has caught up with, handed on in order to be relayed. */
export interface StoredBatch {
  /** The changes, oldest first. */
  readonly updates: readonly QueuedUpdate[]
  /** All of them merged into one update. */
  readonly merged: Uint8Array
  /** What this instance wrote to storage for the batch (null when nothing needed storing). */
  readonly stored: Uint8Array | null
}

/** What the queues of every document share (their rooms' dependencies: one object per server). */
export interface WriteQueueDeps {
  persistence: Pick<Persistence, 'store' | 'compact' | 'shared'>
  metrics: Pick<Metrics, 'storeSeconds' | 'batchSize' | 'applyStoreSeconds' | 'storageErrors'>
  /** Stored updates of a document before a background compaction merges them (at least). */
  compactAfterUpdates: number
  /** Storage failed or answered again: a failed write is retried until it succeeds. */
  health: Pick<StorageHealth, 'failed' | 'succeeded' | 'wait'>
  /**
   * During an outage, changes of up to a whole document and one more message
   * may wait for storage; past that the document gives up (its clients
   * reconnect and resend).
   */
  limits: Pick<Config, 'maxDocumentBytes' | 'maxMessageBytes'>
}

/**
 * The document a queue writes for, told what happens to its writes (its
 * room: methods rather than a closure each, as thousands of documents may
 * be open).
 */
export interface WriteQueueHost {
  /** The document's name in storage. */
  readonly name: string
  /**
   * The document's current encoded size (an upper estimate is fine). A
   * compaction costs about that much (every row is read and merged), so the
   * queue waits until the bytes stored since the last one reach it: the cost
   * per stored byte stays the same however large the document grows,
   * instead of growing with it.
   */
  readonly bytes: number
  /** Each batch once it is stored, in order. Relaying happens here. */
  batchStored (batch: StoredBatch): void
  /**
   * The queue failed for good: nothing queued may be relayed. Called once,
   * when more than the held-bytes bound waits for a storage that keeps failing (or
   * when the owner fails it).
   */
  writesFailed (err: Error): void
  /** A background compaction failed (the stored rows are intact). */
  compactionFailed (err: Error): void
  /**
   * A compaction wrote a merged row: `bytes` is an upper bound of the
   * document's size now (the merged row, plus everything stored or queued
   * since), known without encoding the document.
   */
  compacted (bytes: number): void
}

interface Waiter {
  seq: number
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * A document's path to storage: relayed means durable.
 *
 * Changes are numbered as they are applied, queued, and written in batches:
 * everything that arrives while a write is in flight (or within one turn of
 * the event loop) is merged into one write. A batch is handed to `batchStored`
 * (which relays it) only after the write resolved, and `whenStored(seq)`
 * resolves once storage has caught up with change `seq`. Anything that
 * reveals the document (a sync answer, an HTTP read) waits on `whenStored`,
 * so no client ever receives a change a crash could lose.
 *
 * A failed write is retried with backoff until storage answers again:
 * meanwhile nothing is relayed or acknowledged, clients stay connected, and
 * what arrives joins the next attempt. Only when more than a document and a
 * message wait does the queue fail for good: the waiters reject, `writesFailed` runs
 * once, and the owner reloads the document from storage.
 *
 * The queue also decides when the document is compacted (storage only knows
 * how): after `compactAfterUpdates` stored updates, in the background.
 */
export class WriteQueue {
  private seq = 0
  private storedSeq = 0
  private pending: QueuedUpdate[] = []
  private flushScheduled = false
  private writing = false
  private waiters: Waiter[] = []
  private failure: Error | null = null
  private stopped = false
  /** Updates stored since the last compaction (a stored row may hold many). */
  private sinceCompaction = 0
  /** Bytes stored since the last compaction. */
  private bytesSinceCompaction = 0
  /** The document's size when the last compaction started (what the next one will read, besides the new bytes). */
  private baseBytes = 0
  private compacting = false
  /** The document unloaded while a compaction ran: merge what it left once it is done. */
  private compactWhenDone = false
  private heldBytes = 0
  /** Failed attempts in a row of the write in flight. */
  private attempts = 0
  private wakeRetry: (() => void) | undefined

  constructor (private readonly deps: WriteQueueDeps, private readonly host: WriteQueueHost) {}

  /** Queues an applied change; returns its sequence number. */
  push (update: Uint8Array, origin: Origin): number {
    const seq = ++this.seq
    this.pending.push({ update, origin, seq, receivedAt: performance.now() })
    this.heldBytes += update.byteLength
    const maxHeld = this.deps.limits.maxDocumentBytes + this.deps.limits.maxMessageBytes
    if (this.heldBytes > maxHeld && this.failure === null) {
      this.fail(new Error(`more than ${maxHeld} bytes of changes wait for storage`))
      return seq
    }
    if (!this.flushScheduled && !this.writing && this.failure === null && !this.stopped) {
      this.flushScheduled = true
      // Coalesce everything that arrives in this turn of the event loop into one write.
      setImmediate(WriteQueue.startFlush, this)
    }
    return seq
  }

  /** The number of the latest change. */
  get latest (): number {
    return this.seq
  }

  /** True when storage holds every change queued so far. */
  get caughtUp (): boolean {
    return this.storedSeq >= this.seq
  }

  /** True when nothing is queued or being written. */
  get idle (): boolean {
    return this.pending.length === 0 && !this.writing && !this.flushScheduled
  }

  /** The error that failed the queue, if one did. */
  get failed (): Error | null {
    return this.failure
  }

  /** Resolves once change `seq` (default: every change so far) is stored; rejects if the queue fails or stops first. */
  whenStored (seq = this.seq): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure)
    if (seq <= this.storedSeq) return Promise.resolve()
    if (this.stopped) return Promise.reject(new Error('document unloaded'))
    return new Promise((resolve, reject) => { this.waiters.push({ seq, resolve, reject }) })
  }

  /**
   * Counts the rows a load read: more than one is worth merging once, so the
   * next load applies a single snapshot.
   */
  loaded (rows: number): void {
    this.sinceCompaction = rows > 1 ? Math.max(rows, this.deps.compactAfterUpdates) : 0
    this.bytesSinceCompaction = rows > 1 ? Infinity : 0
    this.baseBytes = this.host.bytes
    this.maybeCompact()
  }

  /**
   * Merges, in the background, what was stored since the last compaction
   * (the document is unloading): its next load reads one row, which a client
   * that holds nothing can be sent before the document is rebuilt in memory.
   * A compaction already running is followed by one more when it left rows.
   */
  compactRest (): void {
    if (this.failure !== null || this.sinceCompaction === 0) return
    if (this.compacting) this.compactWhenDone = true
    else this.compact({ idle: true })
  }

  /**
   * Starts a compaction now, whatever the amortization says, when there is
   * something to merge (the document nears its size limit, and its merged
   * size tells the room how large it really is).
   */
  compactSoon (): void {
    if (this.compacting || this.failure !== null || this.stopped || this.sinceCompaction === 0) return
    // Not merge after merge: a document that really is near its limit waits for a quarter of its size in new rows.
    if (this.bytesSinceCompaction < Math.max(SOON_MIN_BYTES, this.baseBytes / 4)) return
    this.baseBytes = this.host.bytes
    this.compact()
  }

  /** Fails the queue: waiters reject, nothing more is written. Safe to call twice. */
  fail (err: Error): void {
    if (this.failure !== null) return
    this.failure = err
    this.pending = []
    this.rejectWaiters(err)
    this.host.writesFailed(err)
  }

  /** Stops the queue for good (the room unloads); waiters reject. Safe to call twice. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.wakeRetry?.()
    this.rejectWaiters(new Error('document unloaded'))
  }

  private rejectWaiters (err: Error): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w.reject(err)
  }

  /** Starts a flush of `queue` (one function for all queues, not a closure each). */
  private static startFlush (queue: WriteQueue): void {
    // Anything unexpected fails this document (its clients reconnect), never the process.
    queue.flush().catch((err) => queue.fail(err as Error))
  }

  private async flush (): Promise<void> {
    this.flushScheduled = false
    if (this.writing || this.stopped || this.failure !== null) return
    this.writing = true
    try {
      while (this.pending.length > 0 && !this.stopped && this.failure === null) {
        const batch = this.pending
        this.pending = []
        const merged = mergeAll(batch)
        const toStore = batch.filter((p) => isStored(p.origin, this.deps.persistence.shared))
        let stored: Uint8Array | null = null
        if (toStore.length > 0) {
          const update = stored = toStore.length === batch.length ? merged : mergeAll(toStore)
          const started = performance.now()
          try {
            await this.deps.persistence.store(this.host.name, update)
          } catch (err) {
            this.deps.metrics.storageErrors.inc({ op: 'store' })
            this.deps.health.failed('store', err as Error)
            // Held, not dropped: the batch goes back in front and is retried (merged with what arrives meanwhile).
            this.pending = batch.concat(this.pending)
            await this.backoff(++this.attempts)
            continue
          }
          this.attempts = 0
          this.deps.health.succeeded()
          this.deps.metrics.storeSeconds.observe((performance.now() - started) / 1000)
          this.deps.metrics.batchSize.observe(toStore.length)
          this.sinceCompaction += toStore.length
          this.bytesSinceCompaction += update.byteLength
        }
        if (this.stopped) return
        for (const p of batch) this.heldBytes -= p.update.byteLength
        this.storedSeq = batch[batch.length - 1].seq
        this.host.batchStored({ updates: batch, merged, stored })
        this.releaseWaiters()
        const now = performance.now()
        for (const p of batch) this.deps.metrics.applyStoreSeconds.observe((now - p.receivedAt) / 1000)
      }
    } finally {
      this.writing = false
    }
    this.maybeCompact()
  }

  /** Waits before retry `attempt`; storage answering elsewhere, or `stop()`, cuts the wait short. */
  private async backoff (attempt: number): Promise<void> {
    await this.deps.health.wait(attempt, (wake) => { this.wakeRetry = wake })
    this.wakeRetry = undefined
  }

  private releaseWaiters (): void {
    let i = 0
    while (i < this.waiters.length && this.waiters[i].seq <= this.storedSeq) this.waiters[i++].resolve()
    if (i > 0) this.waiters.splice(0, i)
  }

  private maybeCompact (): void {
    if (this.compacting || this.failure !== null || this.stopped || this.sinceCompaction < this.deps.compactAfterUpdates) return
    // Amortized: a compaction reads the whole document, so wait until as many bytes were stored since the last one.
    if (this.bytesSinceCompaction < this.baseBytes) return
    this.baseBytes = this.host.bytes
    this.compact()
  }

  private compact (options: { idle?: boolean } = {}): void {
    this.compacting = true
    const counted = this.sinceCompaction
    const countedBytes = this.bytesSinceCompaction
    this.deps.persistence.compact(this.host.name, options).then((merged) => {
      this.sinceCompaction -= counted
      this.bytesSinceCompaction = countedBytes === Infinity ? 0 : this.bytesSinceCompaction - countedBytes
      // Rows stored after the merge read them are counted in both: still an
      // upper bound. Not with shared storage: other instances' changes that
      // arrived after the read are in neither.
      if (typeof merged === 'number' && countedBytes !== Infinity && !this.deps.persistence.shared) this.host.compacted(merged + this.bytesSinceCompaction + this.heldBytes)
    }, (err: Error) => {
      this.deps.metrics.storageErrors.inc({ op: 'compact' })
      this.host.compactionFailed(err)
    }).finally(() => {
      this.compacting = false
      if (this.compactWhenDone) {
        this.compactWhenDone = false
        this.compactRest()
      }
    })
  }
}

/** New bytes a compaction started early (near the size limit) waits for at least. */
const SOON_MIN_BYTES = 1024 * 1024

function mergeAll (entries: readonly QueuedUpdate[]): Uint8Array {
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
