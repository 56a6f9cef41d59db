/**
 * The "saved" signal: tells whether every local change has been stored by the
 * server, using tandem's opt-in `stored` message (type 100, see
 * `src/protocol.ts`). The client sends `stored n` after its changes; the server
 * answers `stored n` once everything it received on that connection before the
 * request is durable. Frames on one socket are ordered, so an answer covers
 * every change sent before its request.
 *
 * Changes made while disconnected reach the server in the sync handshake of
 * the next connection (our reply to the server's sync step 1), so a request is
 * sent right after that reply too. Until the first answer on a connection the
 * state is `saving`: the server may have lost what an earlier connection sent.
 */
import * as decoding from 'lib0/decoding'
import type { WebsocketProvider } from 'y-websocket'
import { MessageType, SyncType, encodeStored } from '../protocol.js'

export type SaveStatus = 'saving' | 'saved' | 'offline'

type Handler = WebsocketProvider['messageHandlers'][number]

export class SavedTracker {
  readonly #provider: WebsocketProvider
  readonly #onStatus: (status: SaveStatus) => void
  /** Count of local changes so far. */
  #changes = 0
  /** Changes covered by the latest answer. */
  #storedChanges = 0
  #nextSequence = 1
  /** sequence → value of `#changes` when the request was sent. */
  #requests = new Map<number, number>()
  /** First request of the current connection; `saved` needs its answer. */
  #handshakeSequence = 0
  #handshakeStored = false
  #requestQueued = false
  #status: SaveStatus = 'offline'
  #destroyed = false
  readonly #originalSyncHandler: Handler

  constructor (provider: WebsocketProvider, onStatus: (status: SaveStatus) => void) {
    this.#provider = provider
    this.#onStatus = onStatus
    this.#originalSyncHandler = provider.messageHandlers[MessageType.SYNC]
    provider.messageHandlers[MessageType.SYNC] = this.#onSync
    provider.messageHandlers[MessageType.STORED] = this.#onStored
    provider.on('status', this.#onConnection)
    // Registered after the provider's own update listener, so the update
    // frame is already on the socket when the request follows it.
    provider.doc.on('update', this.#onUpdate)
    this.#update()
  }

  get status (): SaveStatus {
    return this.#status
  }

  destroy (): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#provider.doc.off('update', this.#onUpdate)
    this.#provider.off('status', this.#onConnection)
    this.#provider.messageHandlers[MessageType.SYNC] = this.#originalSyncHandler
    delete this.#provider.messageHandlers[MessageType.STORED]
  }

  #onUpdate = (_update: Uint8Array, origin: unknown): void => {
    // Updates that came from the server are stored already.
    if (origin === this.#provider) return
    this.#changes++
    this.#update()
    this.#queueRequest()
  }

  #onConnection = ({ status }: { status: string }): void => {
    if (status === 'connected') {
      this.#requests.clear()
      this.#handshakeStored = false
      this.#handshakeSequence = Number.POSITIVE_INFINITY
    }
    this.#update()
  }

  #onSync: Handler = (encoder, decoder, provider, emitSynced, messageType) => {
    // Peek at the sync type: step 1 from the server is answered with step 2,
    // which carries whatever this client changed while disconnected.
    const isStep1 = decoder.arr[decoder.pos] === SyncType.STEP1
    this.#originalSyncHandler(encoder, decoder, provider, emitSynced, messageType)
    // `emitSynced` is false for frames from other tabs (BroadcastChannel).
    // The reply is sent once this handler returns, so ask in a microtask.
    if (isStep1 && emitSynced) {
      queueMicrotask(() => {
        const sequence = this.#request()
        if (sequence !== undefined && !this.#handshakeStored) {
          this.#handshakeSequence = Math.min(this.#handshakeSequence, sequence)
        }
      })
    }
  }

  #onStored: Handler = (_encoder, decoder) => {
    const sequence = decoding.readVarUint(decoder)
    const covered = this.#requests.get(sequence)
    if (covered === undefined) return
    for (const pending of this.#requests.keys()) {
      if (pending <= sequence) this.#requests.delete(pending)
    }
    this.#storedChanges = Math.max(this.#storedChanges, covered)
    if (sequence >= this.#handshakeSequence) this.#handshakeStored = true
    this.#update()
  }

  #queueRequest (): void {
    // One request per burst of changes in the same task.
    if (this.#requestQueued) return
    this.#requestQueued = true
    queueMicrotask(() => {
      this.#requestQueued = false
      this.#request()
    })
  }

  #request (): number | undefined {
    const ws = this.#provider.ws
    if (this.#destroyed || !this.#provider.wsconnected || ws === null || ws.readyState !== ws.OPEN) return undefined
    const sequence = this.#nextSequence++
    this.#requests.set(sequence, this.#changes)
    ws.send(encodeStored(sequence))
    return sequence
  }

  #update (): void {
    let status: SaveStatus
    if (!this.#provider.wsconnected) status = 'offline'
    else if (this.#handshakeStored && this.#storedChanges >= this.#changes) status = 'saved'
    else status = 'saving'
    if (status === this.#status) return
    this.#status = status
    this.#onStatus(status)
  }
}
