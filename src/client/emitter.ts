/**
 * A minimal typed event emitter that runs in Node and browsers alike. A
 * listener that throws does not stop the others: the error is rethrown on a
 * fresh task so it surfaces as an uncaught error instead of vanishing.
 */
export class Emitter<Events extends Record<string, (...args: any[]) => void>> {
  #listeners = new Map<keyof Events, Set<(...args: any[]) => void>>()

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof Events> (event: E, listener: Events[E]): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener)
    return () => this.off(event, listener)
  }

  off<E extends keyof Events> (event: E, listener: Events[E]): void {
    this.#listeners.get(event)?.delete(listener)
  }

  emit<E extends keyof Events> (event: E, ...args: Parameters<Events[E]>): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(...args)
      } catch (err) {
        setTimeout(() => { throw err }, 0)
      }
    }
  }

  removeAllListeners (): void {
    this.#listeners.clear()
  }
}
