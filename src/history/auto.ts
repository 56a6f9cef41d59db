import { callAt, systemClock, type TimerClock } from '../timers.js'

/** Why an automatic version is due. */
export type AutoTrigger = 'idle' | 'interval'

/** What an attempt came to. */
export type AutoOutcome = 'added' | 'unchanged' | 'recent' | 'empty' | 'skipped' | 'failed'

export interface AutoVersionsDeps {
  /** A version is due this long after the last change. 0 turns automatic versions off. */
  idleMs: number
  /** …and at least this long after the first change not in a version, while changes go on. */
  maxIntervalMs: number
  /**
   * Records a version of the document now. `localChanges`: whether this
   * instance's own clients changed it (else only other instances did).
   */
  record: (docName: string, trigger: AutoTrigger, localChanges: boolean) => Promise<AutoOutcome>
  /** Versions recorded at close at once, at most. */
  closeConcurrency?: number
  clock?: TimerClock
}

interface Pending {
  /** First change not in a version. */
  firstAt: number
  /** Latest change. */
  lastAt: number
  /** Whether any of them came from this instance's clients. */
  local: boolean
  /** When its version is due, while it waits for that (ms since the epoch). */
  at?: number
  /** A recording in flight; changes meanwhile are due again after it. */
  recording?: Promise<void>
  again?: { firstAt: number; local: boolean }
}

/**
 * Decides when each document gets an automatic version: once it has been
 * changed and then left alone for `idleMs`, and at least every
 * `maxIntervalMs` while changes go on. A document nobody changes gets none.
 *
 * It follows documents by name, not rooms: a room unloads when its last
 * client leaves, and its pending version still comes when due (the room is
 * loaded again for it). One timer for all documents, set for the earliest
 * version due (a timer per document cost about 0.25 KB for each one edited
 * in the last `idleMs`); at close, the versions still due are taken at
 * once, so a restart does not skip them.
 */
export class AutoVersions {
  private readonly pending = new Map<string, Pending>()
  /** Armed deadlines, earliest first; an item is stale once its entry is gone, taken or armed again. */
  private readonly queue = new DeadlineQueue()
  /** The deadline the timer is set for (Infinity: none), and how to cancel it. */
  private timerAt = Infinity
  private cancelTimer: (() => void) | undefined
  private closed = false

  constructor (private readonly deps: AutoVersionsDeps) {}

  get enabled (): boolean {
    return this.deps.idleMs > 0
  }

  /** Documents with a version due (for tests and metrics). */
  get size (): number {
    return this.pending.size
  }

  /** A change of `docName` was stored. */
  changed (docName: string, local: boolean): void {
    if (!this.enabled || this.closed) return
    const now = this.now()
    const entry = this.pending.get(docName)
    if (entry === undefined) {
      const fresh: Pending = { firstAt: now, lastAt: now, local }
      this.pending.set(docName, fresh)
      this.arm(docName, fresh)
      return
    }
    entry.lastAt = now
    if (entry.recording !== undefined) {
      entry.again ??= { firstAt: now, local: false }
      entry.again.local ||= local
      return
    }
    entry.local ||= local
    // The timer re-checks when it fires; an earlier deadline never comes from a later change.
  }

  /** Forgets a document (it was deleted); resolves once a recording in flight has finished. */
  async forget (docName: string): Promise<void> {
    const entry = this.pending.get(docName)
    if (entry === undefined) return
    entry.at = undefined
    this.pending.delete(docName)
    this.schedule()
    await entry.recording
  }

  /** Stops every timer and records the versions still due. Safe to call twice. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const due = [...this.pending]
    for (const [, entry] of due) entry.at = undefined
    this.schedule()
    await Promise.all(due.map(([, entry]) => entry.recording))
    const left = due.filter(([name, entry]) => this.pending.get(name) === entry)
    const concurrency = this.deps.closeConcurrency ?? 4
    // A few at a time: each loads and encodes a document.
    for (let i = 0; i < left.length; i += concurrency) {
      await Promise.all(left.slice(i, i + concurrency).map(([name, entry]) =>
        this.deps.record(name, 'idle', entry.local).catch(() => 'failed')))
    }
    this.pending.clear()
  }

  private now (): number {
    return this.deps.clock?.now() ?? Date.now()
  }

  private due (entry: Pending): number {
    return Math.min(entry.lastAt + this.deps.idleMs, entry.firstAt + this.deps.maxIntervalMs)
  }

  private arm (docName: string, entry: Pending, at = this.due(entry)): void {
    entry.at = at
    this.queue.push({ at, docName, entry })
    this.schedule()
  }

  private isLive (item: Deadline): boolean {
    return !this.closed && item.entry.at === item.at && this.pending.get(item.docName) === item.entry
  }

  /** Sets the one timer for the earliest live deadline (none when there is none). */
  private schedule (): void {
    while (this.queue.size > 0 && !this.isLive(this.queue.peek()!)) this.queue.pop()
    const next = this.queue.peek()?.at ?? Infinity
    if (next === this.timerAt) return
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.timerAt = next
    if (next === Infinity) return
    const clock = this.deps.clock ?? systemClock
    if (next <= clock.now()) {
      // Due already: on the next turn, never from inside the call that armed it.
      const handle = clock.setTimeout(this.onTimer, 0)
      this.cancelTimer = () => clock.clearTimeout(handle)
      return
    }
    this.cancelTimer = callAt(next, this.onTimer, clock)
  }

  /** The timer: every deadline that has come fires, then the timer is set for the next. */
  private readonly onTimer = (): void => {
    this.cancelTimer = undefined
    this.timerAt = Infinity
    const now = this.now()
    for (let item = this.queue.peek(); item !== undefined && item.at <= now; item = this.queue.peek()) {
      this.queue.pop()
      if (!this.isLive(item)) continue
      item.entry.at = undefined
      this.fire(item.docName, item.entry)
    }
    this.schedule()
  }

  private fire (docName: string, entry: Pending): void {
    if (this.closed || this.pending.get(docName) !== entry) return
    const now = this.now()
    if (now < this.due(entry)) {
      // Changed since the timer was set: wait for the new deadline.
      this.arm(docName, entry)
      return
    }
    const trigger: AutoTrigger = now >= entry.lastAt + this.deps.idleMs ? 'idle' : 'interval'
    entry.recording = this.deps.record(docName, trigger, entry.local)
      .catch((): AutoOutcome => 'failed')
      .then((outcome) => this.recorded(docName, entry, outcome))
  }

  private recorded (docName: string, entry: Pending, outcome: AutoOutcome): void {
    entry.recording = undefined
    if (this.closed || this.pending.get(docName) !== entry) return
    const now = this.now()
    if (outcome === 'failed') {
      // Storage trouble: try again after another idle period, keeping what is due.
      entry.local ||= entry.again?.local ?? false
      entry.again = undefined
      this.arm(docName, entry, now + this.deps.idleMs)
      return
    }
    if (outcome === 'recent') {
      // Another instance took this interval's version: the next is one interval on.
      entry.firstAt = now
      entry.local ||= entry.again?.local ?? false
      entry.again = undefined
      this.arm(docName, entry)
      return
    }
    if (entry.again !== undefined) {
      entry.firstAt = entry.again.firstAt
      entry.local = entry.again.local
      entry.again = undefined
      this.arm(docName, entry)
      return
    }
    this.pending.delete(docName)
  }
}

interface Deadline {
  at: number
  docName: string
  entry: Pending
}

/** Deadlines in a binary heap, earliest first. */
class DeadlineQueue {
  private readonly items: Deadline[] = []

  get size (): number {
    return this.items.length
  }

  peek (): Deadline | undefined {
    return this.items[0]
  }

  push (item: Deadline): void {
    const items = this.items
    let i = items.push(item) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent].at <= item.at) break
      items[i] = items[parent]
      i = parent
    }
    items[i] = item
  }

  pop (): Deadline | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length === 0 || last === undefined) return top
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= items.length) break
      const child = left + 1 < items.length && items[left + 1].at < items[left].at ? left + 1 : left
      if (items[child].at >= last.at) break
      items[i] = items[child]
      i = child
    }
    items[i] = last
    return top
  }
}
