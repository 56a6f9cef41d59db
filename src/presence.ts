import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import type * as Y from 'yjs'
import type { Config } from './config.js'
import { TandemError } from './errors.js'
import type { AwarenessOwners, Fanout } from './fanout/types.js'
import type { Member } from './member.js'
import type { Metrics } from './metrics.js'
import { FANOUT_ORIGIN, isPublished, originOf, type Origin } from './origin.js'
import { decodeAwarenessUpdate, encodeAwareness, encodeAwarenessUpdate as encodeAwarenessEntries, type AwarenessEntry } from './protocol.js'
import type { AwarenessReservations } from './reservations.js'
import { binaryFrame } from './wire.js'

/** The limits presence enforces (see `ServerOptions` for what each bounds). */
export type PresenceLimits = Pick<Config, 'maxAwarenessStateBytes' | 'maxAwarenessClientsPerConnection' | 'maxAwarenessBytesPerDoc'>

/** What the presence of every document shares (its room's dependencies). */
export interface PresenceDeps {
  fanout: Pick<Fanout, 'publishAwareness'>
  metrics: Metrics
  limits: PresenceLimits
  /** Client ids reserved for the identities that left with them (outlives the room). */
  reservations: AwarenessReservations
}

/** The document a presence belongs to (its room). */
export interface PresenceHost {
  /** The document's name (for reservations and fan-out). */
  readonly name: string
  /** The room's logger (made on first use). */
  readonly log: Logger
}

/**
 * A room's members and their presence: the Awareness of the document, which
 * awareness client ids each member controls, who controls the clients of
 * other instances, and the rules that use all of it (ownership, forgery,
 * reconnects and moves, size and count limits). The room relays document
 * updates to `members()`; everything about awareness happens here.
 */
export class Presence {
  /**
   * Made on first use: most documents never see an awareness message, and
   * with thousands open, an Awareness (a doc, its maps and observers) and
   * these collections per document were a tenth of a connection's memory.
   */
  private aw: AwarenessState | null = null
  /**
   * Each member and the awareness client ids it controls (kept after a
   * removal, reserved when it leaves); `NO_IDS` until it controls one.
   */
  private readonly members = new Map<Member, Set<number>>()
  private awarenessScheduled = false
  private destroyed = false

  constructor (private readonly doc: Y.Doc, private readonly deps: PresenceDeps, private readonly host: PresenceHost) {}

  /** The document's Awareness (made now if no awareness message came yet). */
  get awareness (): awarenessProtocol.Awareness {
    return this.state.awareness
  }

  /** The document's awareness and what is kept about it (made now if no awareness message came yet). */
  private get state (): AwarenessState {
    if (this.aw === null) {
      const awareness = new awarenessProtocol.Awareness(this.doc)
      // Every Awareness starts its own 3 s timer to expire states. With
      // thousands of open documents those timers are most of an idle server's
      // CPU; the registry runs one sweep for every room instead (`expire`).
      stopOwnTimer(awareness)
      // The server has no presence of its own.
      awareness.setLocalState(null)
      // Made here, not per presence: most documents never get this far.
      const listener = (changes: AwarenessChanges, origin: unknown): void => { this.awarenessUpdated(changes, origin) }
      awareness.on('update', listener)
      this.aw = { awareness, listener, sizes: new Map(), bytes: 0, remoteOwners: new Map(), changed: new Set() }
    }
    return this.aw
  }

  /** Every state, by client id (without making an Awareness for a document that has none). */
  states (): Map<number, Record<string, unknown>> {
    return this.aw === null ? new Map() : this.aw.awareness.getStates() as Map<number, Record<string, unknown>>
  }

  /**
   * Removes the states not renewed for the awareness timeout (30 s), as the
   * Awareness's own timer would; `now` in ms since the epoch.
   */
  expire (now: number): void {
    if (this.destroyed || this.aw === null || this.aw.awareness.states.size === 0) return
    const outdated: number[] = []
    for (const [clientId, meta] of this.awareness.meta) {
      if (awarenessProtocol.outdatedTimeout <= now - meta.lastUpdated && this.awareness.states.has(clientId)) outdated.push(clientId)
    }
    if (outdated.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, outdated, 'timeout')
  }

  private get log (): Logger {
    return this.host.log
  }

  /** Adds a member; returns every current state as one message for it, or null when nobody is present. */
  join (member: Member): Uint8Array | null {
    this.members.set(member, NO_IDS)
    if (this.aw === null) return null
    const states = this.aw.awareness.getStates()
    return states.size === 0 ? null : encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...states.keys()]))
  }

  /** Removes a member and the states it controlled; its ids stay reserved for its identity. Returns false if it was not a member. */
  leave (member: Member): boolean {
    const controlled = this.members.get(member)
    if (controlled === undefined) return false
    this.members.delete(member)
    this.deps.reservations.reserve(this.host.name, controlled, member.identity)
    if (controlled.size > 0 && !this.destroyed && this.aw !== null) {
      awarenessProtocol.removeAwarenessStates(this.aw.awareness, [...controlled], { kind: 'connection', member } satisfies Origin)
    }
    return true
  }

  /** The members, for relaying. */
  membersNow (): IterableIterator<Member> {
    return this.members.keys()
  }

  /** Number of members. */
  get size (): number {
    return this.members.size
  }

  /** The full awareness state as one message, or null when nobody is present. */
  message (): Uint8Array | null {
    if (this.aw === null) return null
    const ids = [...this.aw.awareness.getStates().keys()]
    return ids.length === 0 ? null : encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.aw.awareness, ids))
  }

  /**
   * Applies an awareness update from a member (or from another instance).
   *
   * A member controls the client ids it announced. For each entry:
   * - an id the member controls: a newer clock applies; a stale clock with a
   *   different state applies with the clock moved past the server's (after a
   *   reconnect the stock client announces the clock the server already
   *   bumped when it removed the state, and would stay invisible until its
   *   next renewal); a stale clock with the same state is an echo;
   * - an id another member controls: the same identity takes it over (a
   *   reconnect before the old socket was noticed dead); anyone else is
   *   forging, and the entry is dropped and counted — echoes (stock clients
   *   send back every change they receive) are dropped silently;
   * - an id nobody controls: claimed, unless it is still reserved for the
   *   identity that left with it (`awarenessReclaimMs`); a member never
   *   removes a state it does not control.
   * Removals are recognised by the parsed state, never by its text.
   *
   * Refuses (throws a `TandemError`) an update that does not decode, a state
   * that is not JSON or larger than `maxAwarenessStateBytes`, more client
   * ids for one member than `maxAwarenessClientsPerConnection`, and growth
   * of the document's presence past `maxAwarenessBytesPerDoc`.
   */
  apply (update: Uint8Array, origin: Origin): void {
    let entries: AwarenessEntry[]
    try {
      entries = decodeAwarenessUpdate(update)
    } catch (err) {
      throw new TandemError('AWARENESS_INVALID', `awareness update does not decode: ${(err as Error).message}`)
    }
    if (origin.kind !== 'connection') {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, origin)
      return
    }
    const { limits } = this.deps
    const own = origin.member
    const ownIds = this.members.get(own)
    if (ownIds === undefined) return
    const { sizes, remoteOwners } = this.state
    const accepted: AwarenessEntry[] = []
    const takeovers: number[] = []
    let forged = 0
    let bytesDelta = 0
    const controlledAfter = new Set(ownIds)
    for (const entry of entries) {
      if (Buffer.byteLength(entry.state) > limits.maxAwarenessStateBytes) {
        throw new TandemError('AWARENESS_TOO_LARGE', `an awareness state is larger than ${limits.maxAwarenessStateBytes} bytes`)
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(entry.state)
      } catch {
        throw new TandemError('AWARENESS_INVALID', 'an awareness state is not JSON')
      }
      const id = entry.clientId
      if (id === this.awareness.clientID) { forged++; continue }
      const removal = parsed === null
      const known = this.awareness.meta.get(id)
      const current = this.awareness.getStates().get(id)
      const newer = known === undefined || entry.clock > known.clock
      const echo = !newer && current !== undefined && !removal && sameState(current, parsed)
      const owner = this.controllerOf(id)
      if (owner === own) {
        if (echo) continue
        if (removal) {
          // A removal applies at the clock the server holds (or does nothing when nothing is held).
          if (current === undefined) continue
          // The id stays the member's (and reserved for its identity when it leaves).
          accepted.push(newer ? entry : { ...entry, clock: known!.clock })
        } else {
          accepted.push(newer ? entry : { ...entry, clock: known!.clock + 1 })
        }
      } else if (owner !== undefined) {
        // Only a claim (a newer clock, or a removal at the clock held) can take an id over;
        // anything else is an echo of what the server sent.
        // A reconnect of the same identity may also come with a stale clock when no state is held.
        const claim = newer || (removal && entry.clock === known?.clock) || (current === undefined && !removal && owner.identity === own.identity)
        if (!claim) continue
        if (owner.identity !== own.identity) { forged++; continue }
        // The same identity on a new socket (a reconnect before the old one
        // was noticed dead) takes the id over; removing it is the old socket's job.
        if (removal) continue
        takeovers.push(id)
        controlledAfter.add(id)
        accepted.push(entry)
      } else {
        if (removal) {
          if (current !== undefined && (newer || entry.clock === known?.clock)) forged++
          continue
        }
        const remoteOwner = current === undefined ? undefined : remoteOwners.get(id)
        if (remoteOwner !== undefined) {
          // A client of another instance. A client that moved here after a
          // reconnect announces its own id first thing (stale clock or not):
          // its own user takes it over at once. Anything else is an echo of
          // what the server sent, or someone forging a newer state.
          const announcesItself = ownIds.size === 0 && entries.length === 1
          if (remoteOwner !== own.identity || !announcesItself) {
            if (newer && remoteOwner !== own.identity) forged++
            else if (newer) accepted.push(entry)
            continue
          }
          takeovers.push(id)
          controlledAfter.add(id)
          if (echo) continue
          accepted.push(newer ? entry : { ...entry, clock: known!.clock + 1 })
        } else {
          // A stale entry while a state is held is an echo or an old copy, never a claim.
          if (!newer && current !== undefined) continue
          const holder = this.deps.reservations.holder(this.host.name, id)
          if (holder !== undefined && holder !== own.identity) { forged++; continue }
          accepted.push(newer ? entry : { ...entry, clock: known!.clock + 1 })
          controlledAfter.add(id)
        }
      }
      bytesDelta += (removal ? 0 : entry.state.length) - (sizes.get(id) ?? 0)
    }
    if (forged > 0) {
      this.deps.metrics.forgedAwareness.inc(forged)
      this.log.info({ dropped: forged }, 'dropped awareness entries for client ids this connection does not own')
    }
    if (accepted.length === 0 && takeovers.length === 0) return
    if (controlledAfter.size > limits.maxAwarenessClientsPerConnection) {
      throw new TandemError('AWARENESS_TOO_LARGE', `more than ${limits.maxAwarenessClientsPerConnection} awareness client ids on one connection`)
    }
    if (bytesDelta > 0 && this.state.bytes + bytesDelta > limits.maxAwarenessBytesPerDoc) {
      throw new TandemError('AWARENESS_TOO_LARGE', `the document's presence would exceed ${limits.maxAwarenessBytesPerDoc} bytes`)
    }
    for (const id of takeovers) {
      // The old socket's close must not remove what the new one controls.
      for (const [member, ids] of this.members) if (member !== own) ids.delete(id)
      this.controls(own).add(id)
      remoteOwners.delete(id)
    }
    if (accepted.length === 0) return
    for (const entry of accepted) this.deps.reservations.release(this.host.name, entry.clientId)
    const rewritten = accepted.length !== entries.length || accepted.some((e, i) => e !== entries[i])
    awarenessProtocol.applyAwarenessUpdate(this.awareness, rewritten ? encodeAwarenessEntries(accepted) : update, origin)
  }

  /** The ids `member` controls, as a set of its own to add to. */
  private controls (member: Member): Set<number> {
    let ids = this.members.get(member)
    if (ids === NO_IDS) {
      ids = new Set()
      this.members.set(member, ids)
    }
    return ids!
  }

  /** The member that controls awareness client `id`, if one does. */
  private controllerOf (id: number): Member | undefined {
    for (const [member, ids] of this.members) if (ids.has(id)) return member
    return undefined
  }

  private awarenessUpdated ({ added, updated, removed }: AwarenessChanges, txOrigin: unknown): void {
    const origin = originOf(txOrigin)
    if (origin.kind === 'connection' && this.members.has(origin.member) && added.length + updated.length > 0) {
      // A member keeps the ids it removed: they count against its limit and are reserved when it leaves.
      const owned = this.controls(origin.member)
      for (const id of added) owned.add(id)
      for (const id of updated) owned.add(id)
    }
    const state = this.state
    const states = state.awareness.getStates()
    for (const id of [...added, ...updated]) {
      const size = JSON.stringify(states.get(id) ?? null).length
      state.bytes += size - (state.sizes.get(id) ?? 0)
      state.sizes.set(id, size)
      state.changed.add(id)
    }
    for (const id of removed) {
      state.bytes -= state.sizes.get(id) ?? 0
      state.sizes.delete(id)
      state.changed.add(id)
    }
    if (isPublished(origin) && (added.length + updated.length + removed.length) > 0) {
      const changed = [...added, ...updated, ...removed]
      this.deps.fanout.publishAwareness(this.host.name, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed), this.ownersOf(changed))
    }
    if (!this.awarenessScheduled && state.changed.size > 0) {
      this.awarenessScheduled = true
      // Coalesce: one encoding per tick for all recipients.
      setImmediate(Presence.broadcast, this)
    }
  }

  /** Sends what changed in `presence` since its last broadcast (one function for all, not a closure each). */
  private static broadcast (presence: Presence): void {
    presence.broadcastAwareness()
  }

  private broadcastAwareness (): void {
    this.awarenessScheduled = false
    if (this.destroyed || this.aw === null || this.aw.changed.size === 0) return
    const frame = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.aw.awareness, [...this.aw.changed]))
    this.aw.changed.clear()
    const wire = binaryFrame(frame)
    for (const member of this.members.keys()) member.sendFramed(wire, frame)
    this.deps.metrics.messagesOut.inc('awareness', this.members.size)
  }

  /**
   * Applies an awareness update from another instance. Entries for clients
   * connected here are skipped: this instance speaks for them now (their user
   * moved here), and a removal the old instance sends when it notices the
   * old socket closed is answered by announcing the state again, newer.
   */
  applyRemote (update: Uint8Array, owners?: AwarenessOwners): void {
    if (this.destroyed) return
    let entries: AwarenessEntry[]
    try {
      entries = decodeAwarenessUpdate(update)
    } catch (err) {
      this.log.warn({ err }, 'dropped an awareness update from another instance that does not decode')
      return
    }
    const { remoteOwners } = this.state
    for (const { clientId, identity } of owners ?? []) {
      if (this.controllerOf(clientId) === undefined) remoteOwners.set(clientId, identity)
    }
    const foreign = entries.filter((e) => this.controllerOf(e.clientId) === undefined)
    for (const e of foreign) if (isNullState(e.state)) remoteOwners.delete(e.clientId)
    try {
      if (foreign.length > 0) awarenessProtocol.applyAwarenessUpdate(this.awareness, foreign.length === entries.length ? update : encodeAwarenessEntries(foreign), FANOUT_ORIGIN)
    } catch (err) {
      this.log.warn({ err }, 'dropped an awareness update from another instance that does not apply')
    }
    const contested = entries.filter((e) => !foreign.includes(e))
    for (const e of contested) this.reannounce(e.clientId, e.clock)
  }

  /** Announces a local client's state again with a clock past `seenClock`, so other instances keep (or restore) it. */
  private reannounce (clientId: number, seenClock: number): void {
    const member = this.controllerOf(clientId)
    const state = this.awareness.getStates().get(clientId)
    if (member === undefined || state === undefined) return
    const clock = Math.max(seenClock, this.awareness.meta.get(clientId)?.clock ?? 0) + 1
    awarenessProtocol.applyAwarenessUpdate(this.awareness, encodeAwarenessEntries([{ clientId, clock, state: JSON.stringify(state) }]), { kind: 'connection', member } satisfies Origin)
  }

  /** Who controls each of these client ids, for those connected here. */
  private ownersOf (ids: Iterable<number>): AwarenessOwners {
    const owners: Array<{ clientId: number; identity: string }> = []
    for (const clientId of ids) {
      const member = this.controllerOf(clientId)
      if (member !== undefined) owners.push({ clientId, identity: member.identity })
    }
    return owners
  }

  snapshot (): Uint8Array | null {
    const ids = this.localIds()
    return ids.length === 0 || this.aw === null ? null : awarenessProtocol.encodeAwarenessUpdate(this.aw.awareness, ids)
  }

  owners (): AwarenessOwners {
    return this.ownersOf(this.localIds())
  }

  /** Client ids of members connected here that have a state. */
  private localIds (): number[] {
    if (this.aw === null) return []
    const states = this.aw.awareness.getStates()
    const ids: number[] = []
    for (const controlled of this.members.values()) for (const id of controlled) if (states.has(id)) ids.push(id)
    return ids
  }

  /** Removes awareness states of a dead instance's clients, except those a local member now controls. */
  removeRemoteClients (clientIds: number[]): void {
    if (this.destroyed || this.aw === null) return
    const remote = clientIds.filter((id) => !this.controlledLocally(id))
    if (remote.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, remote, FANOUT_ORIGIN)
  }

  private controlledLocally (clientId: number): boolean {
    for (const ids of this.members.values()) if (ids.has(clientId)) return true
    return false
  }

  get count (): number {
    return this.aw === null ? 0 : this.aw.awareness.getStates().size
  }

  /** Releases the Awareness. Safe to call twice. */
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    if (this.aw === null) return
    this.aw.awareness.off('update', this.aw.listener)
    this.aw.awareness.destroy()
  }
}

/** What an Awareness reports as changed. */
interface AwarenessChanges {
  added: number[]
  updated: number[]
  removed: number[]
}

/** A document's awareness and what presence keeps about it. */
interface AwarenessState {
  awareness: awarenessProtocol.Awareness
  /** The presence's listener on it. */
  listener: (changes: AwarenessChanges, origin: unknown) => void
  /** JSON size of each awareness state, and their sum, for `maxAwarenessBytesPerDoc`. */
  sizes: Map<number, number>
  bytes: number
  /** Who controls each client of another instance, as that instance said. */
  remoteOwners: Map<number, string>
  /** Client ids changed since the last broadcast. */
  changed: Set<number>
}

/**
 * The ids of a member that controls none, shared: most members never send
 * awareness. `controls` gives a member a set of its own before adding;
 * adding here would give the id to every such member.
 */
const NO_IDS: ReadonlySet<number> & Set<number> = new (class extends Set<number> {
  override add (): this { throw new Error('NO_IDS is shared and stays empty') }
})()

/**
 * Stops the timer y-protocols' Awareness starts in its constructor (its
 * `_checkInterval`, not public API; `test/presence.test.ts` fails if a
 * release renames it, and then each room would only check twice).
 */
function stopOwnTimer (awareness: awarenessProtocol.Awareness): void {
  clearInterval((awareness as unknown as { _checkInterval?: NodeJS.Timeout })._checkInterval)
}

/** How often the registry expires outdated awareness states, as the Awareness itself would. */
export const AWARENESS_SWEEP_MS = Math.floor(awarenessProtocol.outdatedTimeout / 10)

/** Whether two awareness states are the same JSON value (key order included, as the wire carries it). */
function sameState (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function isNullState (state: string): boolean {
  try {
    return JSON.parse(state) === null
  } catch {
    return false
  }
}
