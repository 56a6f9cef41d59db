import type { Logger } from 'pino'
import type { VersionStore } from '../../persistence/types.js'

/** Documents whose authors wait in memory (on a store of its own) before the oldest go to storage. */
const MAX_DOCS_WAITING = 10_000
/** Authors of one document that wait in memory before they go to storage. */
const MAX_AUTHORS_WAITING = 1000

export interface AuthorLogDeps {
  /** Where authors are recorded when other instances may make the next version. */
  store: Pick<VersionStore, 'addAuthors'>
  /**
   * True when several instances share the store: each one writes the
   * authors it saw to storage, where whichever instance records the next
   * version takes them. Otherwise they stay here until that version.
   */
  shared: boolean
  /** How long authors wait before they are written (one write per document per period). */
  flushAfterMs: number
  logger: Logger
}

/**
 * The users whose changes went into each document since its latest version.
 *
 * In a cluster, the changes another instance received reach this one
 * through fan-out without their author, so authors travel through storage:
 * every instance records the authors of its own clients' changes
 * (`addAuthors`, batched per document: at most one small write per
 * `flushAfterMs` while a document is edited) and the instance that records
 * the next version takes all of them in the same transaction. A version
 * made within `flushAfterMs` of a change on another instance may name that
 * author in the version after instead.
 *
 * On a store of its own the authors wait here, except when too many
 * documents (or authors of one) wait: the oldest then go to storage like in
 * a cluster, so memory stays bounded whatever the edits, and the next
 * version takes them all the same.
 */
export class AuthorLog {
  private readonly pending = new Map<string, Set<string>>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  private closed = false

  constructor (private readonly deps: AuthorLogDeps) {}

  add (docName: string, authors: Iterable<string>): void {
    let set = this.pending.get(docName)
    for (const author of authors) {
      if (set === undefined) this.pending.set(docName, (set = new Set()))
      set.add(author)
    }
    if (set === undefined) return
    if (this.deps.shared) {
      if (this.timer === undefined && !this.closed) {
        this.timer = setTimeout(() => { this.timer = undefined; void this.flush() }, this.deps.flushAfterMs)
        this.timer.unref()
      }
      return
    }
    if (set.size > MAX_AUTHORS_WAITING) this.spill(docName)
    while (this.pending.size > MAX_DOCS_WAITING) this.spill(this.pending.keys().next().value as string)
  }

  /** Writes one document's waiting authors to storage and forgets them here. */
  private spill (docName: string): void {
    const authors = this.take(docName)
    this.deps.store.addAuthors(docName, authors).catch((err) => {
      this.deps.logger.warn({ err, doc: docName, authors: authors.length }, 'history: recording authors failed; the next version may not name them')
    })
  }

  /** The authors not yet written to storage, for the version made now (they are forgotten here). */
  take (docName: string): string[] {
    const set = this.pending.get(docName)
    this.pending.delete(docName)
    return set === undefined ? [] : [...set]
  }

  /** Authors taken for a version that was not stored: they go into the next one. */
  giveBack (docName: string, authors: string[]): void {
    if (authors.length > 0) this.add(docName, authors)
  }

  /** Forgets a deleted document's authors. */
  forget (docName: string): void {
    this.pending.delete(docName)
  }

  /** Writes the pending authors of every document (shared storage only). */
  flush (): Promise<void> {
    if (!this.deps.shared) return Promise.resolve()
    this.flushing = this.flushing.then(async () => {
      const batch = [...this.pending]
      this.pending.clear()
      await Promise.all(batch.map(async ([docName, authors]) => {
        try {
          await this.deps.store.addAuthors(docName, [...authors])
        } catch (err) {
          // Kept for the next flush, or for a version this instance makes.
          this.add(docName, authors)
          this.deps.logger.warn({ err, doc: docName }, 'history: recording authors failed; retrying')
        }
      }))
    })
    return this.flushing
  }

  /** Stops the timer and writes what is pending. Safe to call twice. */
  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }
}
