/**
 * Awareness client ids of members that left, reserved for the identity that
 * controlled them for a while, so that nobody else can claim the id before
 * its owner reconnects (and have the owner's own state dropped as a forgery
 * when it does). Kept outside the rooms: a room whose last member left
 * unloads, and the reservation must outlive it.
 *
 * Bounded in time (`ttlMs`) and in size (`maxEntries`, oldest dropped first).
 */
export class AwarenessReservations {
  /** `doc \0 id` → reservation, in insertion order, which is expiry order (one ttl for all). */
  private readonly entries = new Map<string, { identity: string; until: number }>()

  constructor (
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now
  ) {}

  /** Reserves `ids` of document `doc` for `identity`. */
  reserve (doc: string, ids: Iterable<number>, identity: string): void {
    this.prune()
    const until = this.now() + this.ttlMs
    for (const id of ids) {
      const key = keyOf(doc, id)
      // Re-inserted, so the map stays ordered by expiry.
      this.entries.delete(key)
      this.entries.set(key, { identity, until })
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
    }
  }

  /** The identity an id is reserved for, if the reservation has not expired. */
  holder (doc: string, id: number): string | undefined {
    const entry = this.entries.get(keyOf(doc, id))
    return entry !== undefined && entry.until > this.now() ? entry.identity : undefined
  }

  /** Ends a reservation (its id was claimed). */
  release (doc: string, id: number): void {
    this.entries.delete(keyOf(doc, id))
  }

  get size (): number {
    return this.entries.size
  }

  private prune (): void {
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.until > now) break
      this.entries.delete(key)
    }
  }
}

function keyOf (doc: string, id: number): string {
  return `${doc}\u0000${id}`
}
