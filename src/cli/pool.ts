/**
 * A few documents in flight at once: storage round trips overlap (and the
 * adapters' group commit puts concurrent writes into one batch), while memory
 * stays bounded by `limit` documents whatever the number of documents.
 */
export class TaskPool {
  private readonly running = new Set<Promise<void>>()
  private readonly byKey = new Map<string, Promise<void>>()
  private failure: { error: unknown } | undefined

  constructor (private readonly limit: number) {}

  /**
   * Waits for a free slot, then starts `task`. Tasks with the same key run
   * one after the other (the same document twice in one import). Throws the
   * failure of an earlier task instead of starting a new one.
   */
  async run (key: string, task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running)
    this.throwIfFailed()
    const before = this.byKey.get(key)
    const tracked: Promise<void> = (async () => {
      if (before !== undefined) await before
      await task()
    })().then(() => {}, (error: unknown) => { this.failure ??= { error } }).finally(() => {
      this.running.delete(tracked)
      if (this.byKey.get(key) === tracked) this.byKey.delete(key)
    })
    this.running.add(tracked)
    this.byKey.set(key, tracked)
  }

  /** Waits for every started task; throws the first failure. */
  async drain (): Promise<void> {
    await this.settle()
    this.throwIfFailed()
  }

  /** Waits for every started task, whatever their outcome. */
  async settle (): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running)
  }

  private throwIfFailed (): void {
    if (this.failure !== undefined) throw this.failure.error
  }
}

/** Documents a command works on at once. */
export const DOCUMENTS_IN_FLIGHT = 16
