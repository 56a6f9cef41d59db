/**
 * Fan-out carries document updates and awareness between tandem instances that
 * serve the same documents. Without `--redis` the server uses `LocalFanout`,
 * which does nothing.
 *
 * A room joins the fan-out when it has loaded and leaves it when it unloads, so
 * subscriptions follow room lifetime. Adapters tag every message with their
 * instance id and drop their own echoes.
 */
import type { AwarenessOwners } from './message.js'

export type { AwarenessOwners }

export interface FanoutRoom {
  /** Called for an update published by another instance (already stored by it when storage is shared). */
  onRemoteUpdate(update: Uint8Array): void
  /**
   * Called for an awareness update published by another instance, with who
   * controls each of that instance's own clients when it says.
   */
  onRemoteAwareness(update: Uint8Array, owners?: AwarenessOwners): void
  /** The local document's state vector, sent to peers so they can answer with what is missing. */
  stateVector(): Uint8Array
  /** What the local document has beyond `stateVector` (a Yjs update), or null when nothing. */
  diff(stateVector: Uint8Array): Uint8Array | null
  /**
   * The awareness states of the clients connected to this instance, encoded
   * as one update (for peers that ask, and to announce them again). Never
   * the states it learned from other instances: an instance only speaks for
   * its own clients.
   */
  awarenessSnapshot(): Uint8Array | null
  /** Who controls each client in `awarenessSnapshot()` (the user, or the address without auth). */
  awarenessOwners?(): AwarenessOwners
  /**
   * Removes the awareness states of these clients: they belonged to an
   * instance that died. Ids that a local connection controls now are kept.
   */
  removeRemoteClients?(clientIds: number[]): void
}

export interface Fanout {
  /** Unique id of this instance, stamped on every published message. */
  readonly instanceId: string
  /**
   * Subscribes to the document and asks the other instances for what they
   * hold that this room lacks (state-vector exchange). Resolves once subscribed.
   */
  join(docName: string, room: FanoutRoom): Promise<void>
  /** Unsubscribes; no callbacks for `docName` after it resolves. */
  leave(docName: string): Promise<void>
  /** Publishes a local update that has been stored. */
  publishUpdate(docName: string, update: Uint8Array): void
  /** Publishes a local awareness change, with who controls the clients it names that are connected here. */
  publishAwareness(docName: string, update: Uint8Array, owners?: AwarenessOwners): void
  /** Rejects when the fan-out backend is unreachable (used by `/healthz`). */
  check(): Promise<void>
  /** Leaves every room and closes connections. Safe to call twice. */
  close(): Promise<void>
}

/** Single-instance fan-out: nothing to carry. */
export class LocalFanout implements Fanout {
  readonly instanceId = 'local'
  async join (): Promise<void> {}
  async leave (): Promise<void> {}
  publishUpdate (): void {}
  publishAwareness (): void {}
  async check (): Promise<void> {}
  async close (): Promise<void> {}
}
