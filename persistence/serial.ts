/**
 * Runs tasks one after the other per key (a document's versions), while
 * tasks of other keys run freely. A failed task does not stop the ones after
 * it. Holds an entry only while a key has tasks.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const run = previous.then(fn)
    const settled = run.catch(() => {})
    this.tails.set(key, settled)
    void settled.then(() => { if (this.tails.get(key) === settled) this.tails.delete(key) })
    return run
  }
}
