/**
 * Presence on top of the awareness protocol: who is here, how they look, where
 * their cursor is and whether they are active. No extra protocol: everything
 * travels as the client's awareness state, which the server drops for everyone
 * when the client disconnects or goes silent.
 *
 * Awareness state layout (compatible with the editor bindings of the Yjs
 * ecosystem, which read `user.name` and `user.color`):
 *
 *   { user: { name, color, colorLight }, status: 'online' | 'away', ...fields }
 *
 * A peer is "offline" when its state is gone: it is then reported once in
 * `left` and no longer listed by `peers()`.
 */
import type { Awareness } from 'y-protocols/awareness'
import { Emitter } from './emitter.js'

export type PresenceStatus = 'online' | 'away'

/** What a client publishes about itself. Extra fields are passed through. */
export interface PresenceFields {
  name?: string
  color?: string
  /** A lighter variant of `color`, used by editor bindings for selections. */
  colorLight?: string
  status?: PresenceStatus
  cursor?: unknown
  [field: string]: unknown
}

export interface Peer {
  /** The awareness client id, equal to the peer's `doc.clientID`. */
  clientId: number
  name: string | undefined
  color: string | undefined
  status: PresenceStatus
  cursor: unknown
  /** The raw awareness state. */
  state: Record<string, unknown>
}

export interface PresenceChange {
  joined: Peer[]
  left: Peer[]
  updated: Peer[]
  /** True when this client's own state changed. */
  local: boolean
}

/** Something that emits DOM-style events: `document` in a browser. */
export interface ActivitySource {
  addEventListener(type: string, listener: () => void, options?: { passive?: boolean }): void
  removeEventListener(type: string, listener: () => void): void
}

export interface PresenceOptions {
  /**
   * Milliseconds without local activity after which the status turns `away`.
   * @default 60000
   */
  awayAfterMs?: number
  /**
   * Where to listen for user input that counts as activity. `null` turns the
   * listening off; activity can still be reported with `touch()`.
   * @default globalThis.document when there is one, otherwise null
   */
  activitySource?: ActivitySource | null
}

export const DEFAULT_AWAY_AFTER_MS = 60_000

const ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'focusin'] as const
const USER_FIELDS = new Set(['name', 'color', 'colorLight'])

type PresenceEvents = { change: (change: PresenceChange) => void }

export class Presence {
  readonly awareness: Awareness
  readonly awayAfterMs: number
  #events = new Emitter<PresenceEvents>()
  #known = new Map<number, Peer>()
  #lastActivity = Date.now()
  #awayTimer: ReturnType<typeof setTimeout> | undefined
  #activitySource: ActivitySource | null
  #destroyed = false

  constructor (awareness: Awareness, options: PresenceOptions = {}) {
    this.awareness = awareness
    this.awayAfterMs = options.awayAfterMs ?? DEFAULT_AWAY_AFTER_MS
    if (!(this.awayAfterMs > 0)) throw new RangeError('awayAfterMs must be a positive number')
    this.#activitySource = options.activitySource !== undefined
      ? options.activitySource
      : (globalThis as { document?: ActivitySource }).document ?? null
    for (const type of ACTIVITY_EVENTS) this.#activitySource?.addEventListener(type, this.touch, { passive: true })
    awareness.on('change', this.#onChange)
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId !== awareness.clientID) this.#known.set(clientId, toPeer(clientId, state))
    }
    const current = awareness.getLocalState()
    if (current !== null && current.status === undefined) awareness.setLocalStateField('status', 'online')
    this.#scheduleAway(this.awayAfterMs)
  }

  /**
   * Merges `fields` into this client's published state. `name`, `color` and
   * `colorLight` go to the `user` object; a field set to `undefined` is removed.
   */
  set (fields: PresenceFields): void {
    if (this.#destroyed) return
    const state: Record<string, any> = { ...(this.awareness.getLocalState() ?? {}) }
    const user: Record<string, unknown> = { ...(state.user ?? {}) }
    for (const [key, value] of Object.entries(fields)) {
      const target = USER_FIELDS.has(key) ? user : state
      if (value === undefined) delete target[key]
      else target[key] = value
    }
    state.user = user
    if (state.status === undefined) state.status = 'online'
    this.awareness.setLocalState(state)
  }

  /** This client's own published fields, flattened like `set()` takes them. */
  get local (): PresenceFields {
    const { user, ...rest } = (this.awareness.getLocalState() ?? {}) as Record<string, any>
    return { ...rest, ...(user ?? {}) }
  }

  get status (): PresenceStatus {
    return this.awareness.getLocalState()?.status === 'away' ? 'away' : 'online'
  }

  /** Every other client that is currently present, ordered by client id. */
  peers (): Peer[] {
    return [...this.#known.values()].sort((a, b) => a.clientId - b.clientId)
  }

  /** Subscribes to joins, leaves and updates; returns the unsubscribe function. */
  on (event: 'change', listener: (change: PresenceChange) => void): () => void {
    return this.#events.on(event, listener)
  }

  off (event: 'change', listener: (change: PresenceChange) => void): void {
    this.#events.off(event, listener)
  }

  /**
   * Reports local activity: turns the status back to `online` and restarts the
   * away countdown. Cheap enough to call on every pointer move.
   */
  readonly touch = (): void => {
    if (this.#destroyed) return
    this.#lastActivity = Date.now()
    if (this.status === 'away') this.awareness.setLocalStateField('status', 'online')
    if (this.#awayTimer === undefined) this.#scheduleAway(this.awayAfterMs)
  }

  destroy (): void {
    if (this.#destroyed) return
    this.#destroyed = true
    clearTimeout(this.#awayTimer)
    this.#awayTimer = undefined
    for (const type of ACTIVITY_EVENTS) this.#activitySource?.removeEventListener(type, this.touch)
    this.awareness.off('change', this.#onChange)
    this.#events.removeAllListeners()
    this.#known.clear()
  }

  // One timer at a time: activity only moves `#lastActivity`, and the timer
  // re-arms itself for the remainder when it fires early.
  #scheduleAway (delayMs: number): void {
    this.#awayTimer = setTimeout(this.#checkAway, delayMs)
  }

  #checkAway = (): void => {
    this.#awayTimer = undefined
    if (this.#destroyed) return
    const idleMs = Date.now() - this.#lastActivity
    if (idleMs < this.awayAfterMs) {
      this.#scheduleAway(this.awayAfterMs - idleMs)
      return
    }
    if (this.awareness.getLocalState() !== null && this.status !== 'away') {
      this.awareness.setLocalStateField('status', 'away')
    }
  }

  #onChange = (
    { added, updated, removed }: { added: number[], updated: number[], removed: number[] },
    _origin: unknown
  ): void => {
    const self = this.awareness.clientID
    const states = this.awareness.getStates()
    const change: PresenceChange = { joined: [], left: [], updated: [], local: false }
    for (const clientId of [...added, ...updated]) {
      if (clientId === self) {
        change.local = true
        continue
      }
      const state = states.get(clientId)
      if (state === undefined) continue
      const peer = toPeer(clientId, state)
      const list = this.#known.has(clientId) ? change.updated : change.joined
      this.#known.set(clientId, peer)
      list.push(peer)
    }
    for (const clientId of removed) {
      if (clientId === self) {
        change.local = true
        continue
      }
      const peer = this.#known.get(clientId)
      if (peer === undefined) continue
      this.#known.delete(clientId)
      change.left.push(peer)
    }
    if (change.local || change.joined.length > 0 || change.left.length > 0 || change.updated.length > 0) {
      this.#events.emit('change', change)
    }
  }
}

function toPeer (clientId: number, state: Record<string, any>): Peer {
  const user = (state.user ?? {}) as Record<string, unknown>
  return {
    clientId,
    name: typeof user.name === 'string' ? user.name : undefined,
    color: typeof user.color === 'string' ? user.color : undefined,
    status: state.status === 'away' ? 'away' : 'online',
    cursor: state.cursor,
    state
  }
}
