import type { Logger } from 'pino'
import { AWARENESS_SWEEP_MS } from './presence.js'
import { Room, type EarlyAnswer, type RoomDeps } from './room.js'

interface Entry {
  room: Room
  /** Resolves when the room is loaded and joined the fan-out; rejects if either failed. */
  ready: Promise<Room>
  /** Members plus in-flight HTTP operations; the room unloads at zero. */
  holds: number
  /** True once `ready` resolved. */
  loaded: boolean
}

export interface RoomRegistryDeps extends Omit<RoomDeps, 'onFailed'> {
  /** How long a document may take to load before its waiters are refused. */
  loadTimeoutMs: number
  logger: Logger
  /** Called with the number of loaded rooms whenever it changes. */
  onCountChange: (n: number) => void
}

/**
 * The loaded documents. Loads are single-flight (however many clients ask at
 * once, a document is read from storage once) and unloads wait until every
 * write is stored, re-checking after each await that nobody came back.
 * The registry owns the count of holds on each room.
 */
export class RoomRegistry {
  private readonly entries = new Map<string, Entry>()
  /** Fan-out leaves in flight, so a reload of the same document joins only after it. */
  private readonly leaving = new Map<string, Promise<void>>()
  private closing = false
  /** One sweep for the awareness timeouts of every room (instead of a timer per room). */
  private readonly awarenessSweep: NodeJS.Timeout
  /** What every room gets: one object for all (a copy and a closure per room cost memory per document). */
  private readonly roomDeps: RoomDeps

  constructor (private readonly deps: RoomRegistryDeps) {
    this.roomDeps = { ...deps, onFailed: (room) => this.forget(room) }
    this.awarenessSweep = setInterval(() => {
      const now = Date.now()
      for (const { room } of this.entries.values()) room.presence.expire(now)
    }, AWARENESS_SWEEP_MS)
    this.awarenessSweep.unref()
  }

  get size (): number {
    return this.entries.size
  }

  /** The loaded room for `name`, if any (never starts a load). */
  peek (name: string): Room | undefined {
    const entry = this.entries.get(name)
    return entry !== undefined && usable(entry.room) ? entry.room : undefined
  }

  /**
   * While `name` is loading: the stored state as a sync answer for clients
   * with an empty state vector (see `Room.storedFrames`). Undefined once it
   * is loaded or when nothing loads it.
   */
  storedFrames (name: string): Promise<EarlyAnswer | null> | undefined {
    const entry = this.entries.get(name)
    return entry !== undefined && !entry.loaded && usable(entry.room) ? entry.room.storedFrames ?? undefined : undefined
  }

  rooms (): Room[] {
    return [...this.entries.values()].map((e) => e.room)
  }

  /**
   * Takes a hold on the room for `name`, loading it if needed. Every
   * successful `acquire` must be paired with one `release`.
   */
  async acquire (name: string): Promise<Room> {
    if (this.closing) throw new Error('server is shutting down')
    let entry = this.entries.get(name)
    if (entry === undefined || !usable(entry.room)) entry = this.startLoad(name)
    entry.holds++
    try {
      return await entry.ready
    } catch (err) {
      entry.holds--
      throw err
    }
  }

  /**
   * Takes a hold on the room for `name` at once if it is loaded and usable
   * (a connection to an open document then joins in the same turn as its
   * handshake); undefined otherwise, for `acquire`. Paired with `release`.
   */
  acquireLoaded (name: string): Room | undefined {
    if (this.closing) return undefined
    const entry = this.entries.get(name)
    if (entry === undefined || !entry.loaded || !usable(entry.room)) return undefined
    entry.holds++
    return entry.room
  }

  private startLoad (name: string): Entry {
    const room = new Room(name, this.roomDeps)
    const entry: Entry = { room, ready: Promise.resolve(room), holds: 0, loaded: false }
    entry.ready = (async () => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`loading took longer than ${this.deps.loadTimeoutMs} ms`)), this.deps.loadTimeoutMs)
      })
      try {
        await Promise.race([room.load(), timeout])
        await this.leaving.get(name)
        if (room.destroyed) throw new Error('the document was unloaded while loading')
        await Promise.race([this.deps.fanout.join(name, room), timeout])
        entry.loaded = true
        return room
      } catch (err) {
        this.deps.metrics.storageErrors.inc({ op: 'load' })
        this.deps.logger.error({ err, doc: name }, 'loading a document failed')
        // Never serve (or store over) a document that did not load.
        this.forget(room)
        throw err
      } finally {
        clearTimeout(timer)
      }
    })()
    // The failure is reported to every acquirer; do not let it go unhandled here.
    entry.ready.catch(() => {})
    this.entries.set(name, entry)
    this.deps.onCountChange(this.entries.size)
    return entry
  }

  /** Gives back a hold; the last one unloads the room once its writes are stored. */
  release (room: Room): void {
    const entry = this.entries.get(room.name)
    // A room that failed or was evicted is no longer in the registry: nothing to count.
    if (entry === undefined || entry.room !== room) return
    entry.holds--
    if (entry.holds > 0) return
    void this.unloadWhenIdle(entry)
  }

  private async unloadWhenIdle (entry: Entry): Promise<void> {
    const room = entry.room
    // Bounded by activity: each turn waits for the writes queued so far.
    for (;;) {
      try {
        await room.whenStored()
      } catch {
        // A failed room is forgotten when it fails; nothing to store.
      }
      // Re-check: a client may have arrived while we waited.
      if (entry.holds > 0 || room.destroyed) return
      if (room.idle) {
        this.forget(room, { compact: !this.closing })
        return
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  private forget (room: Room, options: { compact?: boolean } = {}): void {
    const entry = this.entries.get(room.name)
    if (entry?.room === room) {
      this.entries.delete(room.name)
      this.deps.onCountChange(this.entries.size)
      const left: Promise<void> = this.deps.fanout.leave(room.name)
        .catch((err) => this.deps.logger.warn({ err, doc: room.name }, 'leaving the fan-out failed'))
        .finally(() => { if (this.leaving.get(room.name) === left) this.leaving.delete(room.name) })
      this.leaving.set(room.name, left)
    }
    room.destroy(options)
  }

  /**
   * Unloads `name` now, after its queued writes are stored (for deletion:
   * the caller has closed its connections and removes it from storage next).
   */
  async evict (name: string): Promise<void> {
    const entry = this.entries.get(name)
    if (entry === undefined) return
    await entry.ready.catch(() => {})
    await entry.room.whenStored().catch(() => {})
    this.forget(entry.room)
    await this.leaving.get(name)
  }

  /**
   * Waits until every room has stored its writes (at most `loadTimeoutMs`:
   * a storage that is down cannot take them, and the clients still hold
   * them), then unloads all.
   */
  async close (): Promise<void> {
    this.closing = true
    clearInterval(this.awarenessSweep)
    const rooms = this.rooms()
    let timer: NodeJS.Timeout | undefined
    const flushed = Promise.all(rooms.map((room) => room.whenStored().catch(() => {}))).then(() => true)
    const gaveUp = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), this.deps.loadTimeoutMs) })
    const complete = await Promise.race([flushed, gaveUp])
    clearTimeout(timer)
    if (!complete) {
      const unstored = rooms.filter((room) => !room.idle).map((room) => room.name)
      this.deps.logger.warn({ docs: unstored.slice(0, 20), count: unstored.length }, 'storage did not take every pending change before shutdown; the clients still hold them and resend them when they reconnect')
    }
    for (const room of rooms) this.forget(room)
    await Promise.all([...this.leaving.values()])
  }
}

function usable (room: Room): boolean {
  return !room.destroyed && room.failed === null
}
