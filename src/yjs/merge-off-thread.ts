import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import * as Y from 'yjs'
import { mergeStoredUpdates } from './stored-updates.js'

/** Rows smaller than this together are merged on the calling thread: a worker round trip costs more. */
const OFF_THREAD_BYTES = 64 * 1024

/**
 * The worker: applies the rows to a fresh Y.Doc and encodes it (the fast path
 * of `mergeStoredUpdates`). An overflow is reported, not handled: the caller
 * merges such (poisoned) rows flat on its own thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Y = require(workerData.yjs)
parentPort.on('message', ({ id, rows }) => {
  const doc = new Y.Doc({ guid: 'merge' })
  try {
    doc.transact(() => { for (const row of rows) Y.applyUpdate(doc, row) })
    const merged = Y.encodeStateAsUpdate(doc)
    const stateVector = Y.encodeStateVector(doc)
    parentPort.postMessage({ id, merged, stateVector }, [merged.buffer, stateVector.buffer])
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) })
  } finally {
    try { doc.destroy() } catch {}
  }
})
`

interface Waiting {
  rows: Uint8Array[]
  resolve: (merged: MergedRows) => void
  reject: (err: Error) => void
}

/** A document's stored rows merged into one update, and that update's state vector. */
export interface MergedRows {
  merged: Uint8Array
  stateVector: Uint8Array
}

/**
 * Compaction's merge, off the event loop: applying a large document's rows
 * and encoding it takes hundreds of milliseconds, during which nothing would
 * be relayed or acknowledged. One worker per owner, started on first use and
 * unref'd (it never keeps the process alive). If the worker cannot merge the
 * rows (an overflow on a document poisoned before updates were checked, or
 * the worker died), they are merged here, flat, as `mergeStoredUpdates` does.
 */
export class OffThreadMerger {
  private worker: Worker | undefined
  private nextId = 1
  private readonly waiting = new Map<number, Waiting>()
  private closed = false
  /** Merges done in the worker and on the calling thread (a fallback, or rows too small to send). */
  readonly stats = { offThread: 0, here: 0 }

  async merge (rows: Uint8Array[]): Promise<MergedRows> {
    const bytes = rows.reduce((sum, row) => sum + row.byteLength, 0)
    if (bytes >= OFF_THREAD_BYTES && !this.closed) {
      try {
        const merged = await this.inWorker(rows)
        this.stats.offThread++
        return merged
      } catch {
        // merged here, below
      }
    }
    this.stats.here++
    return mergeHere(rows)
  }

  private inWorker (rows: Uint8Array[]): Promise<MergedRows> {
    const worker = this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { rows, resolve, reject })
      worker.postMessage({ id, rows })
    })
  }

  private start (): Worker {
    if (this.worker !== undefined) return this.worker
    const yjs = createRequire(import.meta.url).resolve('yjs')
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { yjs } })
    worker.unref()
    worker.on('message', (message: { id: number; merged?: Uint8Array; stateVector?: Uint8Array; error?: string }) => {
      const waiting = this.waiting.get(message.id)
      if (waiting === undefined) return
      this.waiting.delete(message.id)
      if (message.merged !== undefined && message.stateVector !== undefined) waiting.resolve({ merged: message.merged, stateVector: message.stateVector })
      else waiting.reject(new Error(message.error ?? 'merge failed'))
    })
    const lost = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined
      for (const waiting of this.waiting.values()) waiting.reject(err)
      this.waiting.clear()
    }
    worker.on('error', lost)
    worker.on('exit', () => lost(new Error('the merge worker exited')))
    this.worker = worker
    return worker
  }

  /** Stops the worker; merges still waiting fall back to the calling thread. Safe to call twice. */
  async close (): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    if (worker !== undefined) await worker.terminate()
  }
}

function mergeHere (rows: Uint8Array[]): MergedRows {
  const merged = mergeStoredUpdates(rows)
  return { merged, stateVector: Y.encodeStateVectorFromUpdate(merged) }
}
