/**
 * `connect()`: one document on a tandem server through the stock y-websocket
 * provider, plus presence, registers, the saved signal and optional local
 * persistence. Runs in browsers and in Node (pass `WebSocket` from the `ws`
 * package on Node versions without a global one).
 */
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { Emitter } from './emitter.js'
import { createHistoryClient, httpUrlOf, type HistoryClient } from './history.js'
import { Presence } from './presence.js'
import { register, type Register, type RegisterSchema } from './register.js'
import { SavedTracker, type SaveStatus } from './saved.js'

/** A WebSocket constructor: the browser's, Node's global one, or `ws`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown

export interface ConnectOptions {
  /** The server's WebSocket base URL, e.g. `ws://localhost:1234`. */
  url: string
  /** The document name; it is appended to the URL as a path (slashes allowed). */
  doc: string
  /** Access token, sent as `?token=` on the first connection and every reconnect. */
  token?: string
  /** The document to sync. By default a new one, destroyed by `destroy()`. */
  ydoc?: Y.Doc
  /**
   * Keeps a copy of the document in IndexedDB so it opens without a network
   * and edits made offline survive a reload; they merge on reconnect. Needs
   * IndexedDB (browsers): elsewhere `connect` throws. Pass `{ name }` to pick
   * the database name.
   * @default false
   */
  offline?: boolean | { name?: string }
  /**
   * Milliseconds without local activity before the presence status turns `away`.
   * @default 60000
   */
  awayAfterMs?: number
  /**
   * Start connecting right away. With `false`, call `client.provider.connect()`.
   * @default true
   */
  connect?: boolean
  /**
   * The WebSocket implementation.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor
  /**
   * In a browser, drop the connection when the browser reports the network
   * gone (`offline` event) and reconnect at once when it is back, instead of
   * waiting for a dead socket to time out or for the next backoff step.
   * @default true where `window` events exist
   */
  followNetwork?: boolean
  /**
   * Share updates and presence with other tabs of the same origin through
   * BroadcastChannel, even while offline. In Node it would tie together every
   * client of the process behind the server's back, so it is off there.
   * @default true in browsers, false elsewhere
   */
  crossTab?: boolean
  /**
   * Upper bound of the provider's reconnect backoff.
   * @default 2500
   */
  maxBackoffMs?: number
  /**
   * The server's HTTP base URL, for `history`.
   * @default the WebSocket URL with http(s) for ws(s)
   */
  httpUrl?: string
  /**
   * The fetch implementation `history` uses.
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch
}

export type ClientEvents = {
  /** The saved signal: `saving` while local changes are not yet stored. */
  status: (status: SaveStatus) => void
}

export interface TandemClient {
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  readonly awareness: Awareness
  readonly presence: Presence
  /** The local IndexedDB copy, when `offline` is on. */
  readonly local: IndexeddbPersistence | null
  /** `saving`, `saved` or `offline`, as last emitted by the `status` event. */
  readonly status: SaveStatus
  /** The document's versions (list, create, get, restore, delete) over HTTP with the client's token. */
  readonly history: HistoryClient
  /** LWW registers on `doc.getMap(mapName)`; see `register()`. */
  register<T extends RegisterSchema>(mapName: string): Register<T>
  /** Resolves once the document is in sync with the server (at once if it is now). */
  synced(): Promise<void>
  /** Resolves once every local change is stored by the server (at once if it is now). */
  saved(): Promise<void>
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): () => void
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): void
  /** Leaves presence, closes the socket and releases every timer. Safe to call twice. */
  destroy(): void
}

/** Thrown by `connect` for options it cannot honour; rejects waits cut short by `destroy()`. */
export class ClientError extends Error {
  constructor (readonly code: 'NO_WEBSOCKET' | 'NO_INDEXEDDB' | 'BAD_OPTIONS' | 'DESTROYED', message: string) {
    super(message)
    this.name = 'ClientError'
  }
}

export function connect (options: ConnectOptions): TandemClient {
  const { url, doc: name } = options
  if (typeof url !== 'string' || url === '') throw new ClientError('BAD_OPTIONS', 'url is required')
  if (typeof name !== 'string' || name === '') throw new ClientError('BAD_OPTIONS', 'doc is required')
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (WebSocketImpl === undefined) {
    throw new ClientError('NO_WEBSOCKET', 'no global WebSocket: pass one as the WebSocket option (e.g. from the ws package)')
  }
  const offline = options.offline ?? false
  if (offline !== false && (globalThis as { indexedDB?: unknown }).indexedDB === undefined) {
    throw new ClientError('NO_INDEXEDDB', 'offline needs IndexedDB, which this environment does not have')
  }

  const ownsDoc = options.ydoc === undefined
  const ydoc = options.ydoc ?? new Y.Doc()
  // The provider does not destroy an awareness it is given nor one it makes,
  // and every Awareness runs an interval: create it here so destroy() can end it.
  const awareness = new Awareness(ydoc)
  const events = new Emitter<ClientEvents>()
  const shouldConnect = options.connect ?? true
  const local = offline === false
    ? null
    : new IndexeddbPersistence(offline === true || offline.name === undefined ? `tandem:${url}/${name}` : offline.name, ydoc)

  const browserWindow = browserNetwork()
  const network = (options.followNetwork ?? true) ? browserWindow : null
  const provider = new WebsocketProvider(url, name, ydoc, {
    // Connect only once the local copy is loaded, so the handshake sends it.
    connect: shouldConnect && local === null,
    awareness,
    // Kept in provider.params, so every reconnect sends it again.
    params: options.token === undefined ? {} : { token: options.token },
    WebSocketPolyfill: WebSocketImpl as any,
    disableBc: !(options.crossTab ?? browserWindow !== null),
    ...(options.maxBackoffMs === undefined ? {} : { maxBackoffTime: options.maxBackoffMs })
  })
  const presence = new Presence(awareness, { awayAfterMs: options.awayAfterMs })
  const tracker = new SavedTracker(provider, (status) => events.emit('status', status))

  // Editing is activity; changes from the server or the local copy are not.
  const onUpdate = (_update: Uint8Array, origin: unknown): void => {
    if (origin !== provider && (local === null || origin !== local)) presence.touch()
  }
  ydoc.on('update', onUpdate)

  // The server forgets a client's awareness state when its socket closes but
  // keeps that state's clock, and ignores a state that does not move the clock
  // forward. Re-publishing on every connect moves it, so peers see this client
  // again at once instead of after the next periodic renewal.
  const onConnection = ({ status }: { status: string }): void => {
    const state = awareness.getLocalState()
    if (status === 'connected' && state !== null) awareness.setLocalState({ ...state })
  }
  provider.on('status', onConnection)

  let pausedByNetwork = false
  const onOffline = (): void => {
    if (!provider.shouldConnect) return
    pausedByNetwork = true
    provider.disconnect()
  }
  const onOnline = (): void => {
    if (!pausedByNetwork) return
    pausedByNetwork = false
    provider.connect()
  }
  network?.addEventListener('offline', onOffline)
  network?.addEventListener('online', onOnline)

  let destroyed = false
  if (local !== null && shouldConnect) {
    const connectOnce = (): void => {
      const networkDown = (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false
      if (destroyed || provider.shouldConnect || pausedByNetwork) return
      if (network !== null && networkDown) pausedByNetwork = true
      else provider.connect()
    }
    void local.whenSynced.then(connectOnce)
    // When IndexedDB cannot be opened (some private modes), whenSynced never
    // settles: work online only rather than never connecting.
    ;(local as unknown as { _db: Promise<unknown> })._db.catch(connectOnce)
  }

  // Pending synced()/saved() promises; destroy() rejects them.
  const waiters = new Set<() => void>()
  const waitFor = (ready: () => boolean, subscribe: (check: () => void) => () => void): Promise<void> => {
    if (destroyed) return Promise.reject(new ClientError('DESTROYED', 'client destroyed'))
    if (ready()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      let unsubscribe = (): void => {}
      const check = (): void => {
        if (!destroyed && !ready()) return
        unsubscribe()
        waiters.delete(check)
        if (destroyed) reject(new ClientError('DESTROYED', 'client destroyed'))
        else resolve()
      }
      unsubscribe = subscribe(check)
      waiters.add(check)
    })
  }

  const client: TandemClient = {
    doc: ydoc,
    provider,
    awareness,
    presence,
    local,
    get status () { return tracker.status },
    history: createHistoryClient({
      baseUrl: options.httpUrl ?? httpUrlOf(url),
      doc: name,
      // The provider's params hold the token every reconnect sends; an app that refreshes it updates them.
      token: () => provider.params.token,
      fetch: options.fetch
    }),
    register: <T extends RegisterSchema>(mapName: string) => register<T>(ydoc, mapName),
    synced: () => waitFor(() => provider.synced, (check) => {
      provider.on('sync', check)
      return () => provider.off('sync', check)
    }),
    saved: () => waitFor(() => tracker.status === 'saved', (check) => events.on('status', check)),
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    destroy: () => {
      if (destroyed) return
      destroyed = true
      ydoc.off('update', onUpdate)
      provider.off('status', onConnection)
      network?.removeEventListener('offline', onOffline)
      network?.removeEventListener('online', onOnline)
      presence.destroy()
      tracker.destroy()
      // disconnect() publishes a null awareness state first, so peers see the
      // leave at once instead of after the server notices the closed socket.
      provider.destroy()
      awareness.destroy()
      if (local !== null) void local.destroy()
      for (const check of [...waiters]) check()
      events.removeAllListeners()
      if (ownsDoc) ydoc.destroy()
    }
  }
  return client
}

interface NetworkEvents {
  addEventListener(type: string, listener: () => void): void
  removeEventListener(type: string, listener: () => void): void
}

/** `window` in a browser (online/offline events), null elsewhere. */
function browserNetwork (): NetworkEvents | null {
  const g = globalThis as { window?: NetworkEvents, document?: unknown }
  return g.window !== undefined && g.document !== undefined ? g.window : null
}
