import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import { createPersistence } from '../persistence/index.js'
import type { Persistence } from '../persistence/types.js'
import { CloseCode } from './close-codes.js'
import { resolveConfig, type AuthResult, type Config, type Hooks, type ServerOptions } from './config.js'
import { createWebhook } from './webhook.js'
import { Connection, type ConnectionShared } from './connection.js'
import { ErrorCodes, TandemError, type ErrorCode } from './errors.js'
import { LocalFanout, type Fanout } from './fanout/types.js'
import { handleHttp, isTandemPath, type HttpDeps, type HttpServices } from './http.js'
import { createLogger, safeUrl } from './logger.js'
import { createMetrics, type Metrics } from './metrics.js'
import { RoomRegistry } from './rooms.js'
import { createAuthorizer, type Permit, type UpgradeDecision } from './authorize.js'
import { ConnectionRateLimiter, connectionRateRules, IdentityLimits, IpConnectionCounter, refusalReason } from './limits.js'
import { clientIp } from './request.js'
import { guardSockets } from './sockets.js'
import { openDocument, type DocumentHandle } from './documents.js'
import { AwarenessReservations } from './reservations.js'
import { StorageHealth } from './storage-health.js'
import { hasVersions } from '../persistence/types.js'
import { History, type HistoryApi } from './history/service.js'
import { HistoryWriteLimit } from './history/write-limit.js'
import type { Room } from './room.js'

export interface TandemServer {
  /** The resolved, frozen configuration. */
  readonly config: Config
  readonly metrics: Metrics
  readonly logger: Logger
  /** The HTTP server: our own, or the one passed to `attach`. */
  readonly httpServer: HttpServer
  /** Starts listening on `config.port` / `config.host` (our own HTTP server). */
  listen(): Promise<{ port: number; host: string; url: string }>
  /**
   * Serves tandem on an existing server: every WebSocket upgrade, and (unless
   * `{ http: false }`) HTTP requests on tandem's routes (`/healthz`,
   * `/metrics`, `/docs…`). Every other request goes to the request listeners
   * the server had when `attach` was called, untouched; `close()` gives them
   * back. A host that adds its request listener later, or routes requests
   * itself, calls `handleRequest` instead.
   */
  attach(server: HttpServer, options?: { http?: boolean }): void
  /**
   * Answers `request` if it is for one of tandem's routes and returns true;
   * returns false (and leaves the request alone) otherwise.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean
  /**
   * Opens a document for the host application (loading it if needed) and
   * holds it until the handle's `release()`: read and observe `handle.doc`,
   * change it with `handle.change(fn)`, which resolves once the change is
   * stored and relayed to every client and instance.
   */
  openDocument(name: string): Promise<DocumentHandle>
  /** Handles one upgrade request (for hosts that route upgrades themselves). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Stops accepting, closes clients (1001), stores every pending write, closes storage. Idempotent. */
  close(): Promise<void>
  /** Resolves once storage (and fan-out) are open. */
  ready(): Promise<void>
  /** Version history of documents: list, create, get, restore, delete (see `HistoryApi`). */
  readonly history: HistoryApi
}

let nextConnectionId = 1

/**
 * The composition root: owns the HTTP server, the WebSocket server (noServer
 * mode), the room registry, storage, fan-out, metrics and the logger.
 */
export function createServer (options: ServerOptions = {}): TandemServer {
  const config = resolveConfig(options)
  const logger = config.logger ?? createLogger(config.logLevel)
  const metrics = createMetrics()
  // Connections are tracked in `connections`; ws's own client set would be a second copy.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false, clientTracking: false })
  const connections = new Set<Connection>()
  const ipConnections = new IpConnectionCounter(config.maxConnectionsPerIp)
  const identities = new IdentityLimits({
    messagesPerSec: config.identityMessagesPerSec,
    bytesPerSec: config.identityBytesPerSec,
    syncWorkBytesPerSec: config.syncWorkBytesPerSec,
    syncWorkBurstBytes: config.maxDocumentBytes
  })
  /** True when sockets are counted as they connect (our own server, no proxy in front); else at the upgrade. */
  let countedAtConnect = false
  let unguard: (() => void) | undefined
  let lastRefusalLog = 0
  let persistence: Persistence | undefined
  let fanout: Fanout | undefined
  let shuttingDown = false
  let closePromise: Promise<void> | undefined
  let httpServer: HttpServer | undefined
  let ownHttp = false
  const startedAt = Date.now()


  // Webhooks ride on the store hook: a notification says a stored change exists.
  const webhook = config.webhookUrl === undefined
    ? undefined
    : createWebhook({ url: config.webhookUrl, secret: config.webhookSecret, logger })
  const hooks: Hooks = webhook === undefined
    ? config.hooks
    : {
        ...config.hooks,
        onStore: (event) => {
          webhook.notify(event.docName)
          config.hooks.onStore?.(event)
        }
      }

  // The registry needs storage; it is created lazily behind `ready`.
  let registry: RoomRegistry | undefined
  const rooms = (): RoomRegistry => {
    if (registry === undefined) {
      if (persistence === undefined || fanout === undefined) throw new TandemError('STORAGE_FAILED', 'storage is not open yet')
      registry = new RoomRegistry({
        persistence,
        fanout,
        metrics,
        logger,
        hooks,
        compactAfterUpdates: config.compactAfterUpdates,
        limits: config,
        reservations: new AwarenessReservations(config.awarenessReclaimMs),
        health: new StorageHealth(logger),
        loadTimeoutMs: config.loadTimeoutMs,
        onCountChange: (n) => metrics.rooms.set(n),
        onStored: (room, change) => historyService().changed(room.name, change.authors, change.local)
      })
    }
    return registry
  }

  // Version history, created with the registry it loads documents through.
  let history: History | undefined
  const historyService = (): History => {
    if (history === undefined) {
      if (persistence === undefined) throw new TandemError('STORAGE_FAILED', 'storage is not open yet')
      history = new History({
        store: hasVersions(persistence) ? persistence : undefined,
        shared: persistence.shared,
        acquire: (name) => rooms().acquire(name),
        release: (room) => rooms().release(room as Room),
        peek: (name) => registry?.peek(name),
        limits: config,
        // As long as an HTTP write waits for storage.
        storageWaitMs: config.loadTimeoutMs,
        logger,
        registry: metrics.registry
      })
      if (!hasVersions(persistence)) logger.warn('the storage adapter keeps no versions: version history is off')
    }
    return history
  }
  /** The history once storage is open; refused while shutting down. */
  const openHistory = async (): Promise<History> => {
    try {
      await ready
    } catch (err) {
      throw new TandemError('STORAGE_FAILED', `storage is not available: ${(err as Error).message}`)
    }
    if (shuttingDown) throw new TandemError('SHUTTING_DOWN', 'the server is shutting down')
    return historyService()
  }
  const historyApi: HistoryApi = {
    list: async (name, options) => await (await openHistory()).list(name, options),
    create: async (name, options) => await (await openHistory()).create(name, options),
    get: async (name, id, options) => await (await openHistory()).get(name, id, options),
    restore: async (name, id, options) => await (await openHistory()).restore(name, id, options),
    delete: async (name, id) => { await (await openHistory()).delete(name, id) }
  }
  const historyWrites = new HistoryWriteLimit(config.historyWritesPerMinute)

  if (config.authSecret === undefined && config.authPublicKey === undefined && config.hooks.authenticate === undefined) {
    logger.warn('no auth configured (--auth-secret, --auth-public-key or an authenticate hook): every document is open to everyone who can reach this server')
  }
  const authorize = createAuthorizer(config)

  // Storage and fan-out open last: whatever above can refuse the configuration has done so, so nothing is left open.
  const ready = (async () => {
    persistence = typeof config.persistence === 'string'
      ? await createPersistence({
        kind: config.persistence,
        dataDir: config.dataDir,
        databaseUrl: config.databaseUrl,
        schema: config.databaseSchema,
        onError: (err) => logger.warn({ err }, 'storage: background error')
      })
      : config.persistence
    if (config.fanout !== undefined) fanout = config.fanout
    else if (config.redisUrl !== undefined) {
      const { RedisFanout } = await import('./fanout/redis.js')
      fanout = await RedisFanout.open({
        url: config.redisUrl,
        keyPrefix: config.redisKeyPrefix,
        heartbeatMs: config.redisHeartbeatMs,
        instanceTtlMs: config.redisInstanceTtlMs,
        logger
      })
    } else fanout = new LocalFanout()
  })()
  ready.catch(() => {})
  /** Set once storage and fan-out are open: upgrades then need not wait for `ready`. */
  let opened = false
  ready.then(() => { opened = true }, () => {})

  const pingTimer = setInterval(() => {
    for (const conn of connections) {
      if (!conn.heartbeat()) {
        conn.log.info('no pong since the last ping: closing a dead connection')
        conn.terminate('ping timeout')
      }
    }
    identities.sweep()
    historyWrites.sweep()
  }, config.pingIntervalMs)
  pingTimer.unref()

  const services: Promise<HttpServices> = ready.then(() => ({ persistence: persistence as Persistence, fanout: fanout as Fanout, rooms: rooms() }))
  services.catch(() => {})

  const identityOf = (userId: string | undefined, ip: string): string => userId !== undefined ? `user:${userId}` : `ip:${ip}`

  /** One message (or request) of `bytes` against the identity's budget; the refusal reason, or null. */
  const admitIdentity = (identity: string, bytes: number): string | null => {
    const verdict = identities.check(identity, bytes)
    if (verdict === 'ok') return null
    metrics.rateLimited.inc({ kind: `identity-${verdict}` })
    return verdict === 'messages'
      ? `rate limit: more than ${config.identityMessagesPerSec} messages/s for this user`
      : `rate limit: more than ${config.identityBytesPerSec} bytes/s for this user`
  }
  const allowWork = (identity: string, cost: number): boolean => {
    if (identities.chargeSync(identity, cost)) return true
    metrics.rateLimited.inc({ kind: 'sync-work' })
    return false
  }

  const httpDeps: HttpDeps = {
    maxMessageBytes: config.maxMessageBytes,
    maxPatchOperations: config.maxPatchOperations,
    storageWaitMs: config.loadTimeoutMs,
    admitRequest: (req, userId, bytes) => admitIdentity(identityOf(userId, clientIp(req, config.trustProxy)), bytes),
    allowWork: (req, userId, cost) => allowWork(identityOf(userId, clientIp(req, config.trustProxy)), cost),
    logger,
    metrics,
    authorize,
    services,
    startedAt,
    isShuttingDown: () => shuttingDown,
    connectionCount: () => connections.size,
    history: historyApi,
    // A label of historyMaxLabelChars characters, escaped, and room to spare.
    maxVersionBodyBytes: Math.max(64 * 1024, 16 * config.historyMaxLabelChars + 1024),
    allowHistoryWrite: (req, userId) => {
      if (historyWrites.take(identityOf(userId, clientIp(req, config.trustProxy)))) return true
      metrics.rateLimited.inc({ kind: 'history-writes' })
      return false
    },
    allowedOrigins: config.allowedOrigins,
    forgetDoc: async (docName) => { await history?.forget(docName) },
    closeDocConnections: (docName, code, reason) => {
      let n = 0
      for (const conn of [...connections]) {
        if (conn.options.docName === docName) { conn.close(code, reason); n++ }
      }
      return n
    }
  }

  function rejectUpgrade (socket: Duplex, code: ErrorCode, message: string): void {
    const status = ErrorCodes[code].status
    const body = JSON.stringify({ error: { code, message } })
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    )
  }

  function handleUpgrade (request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Listeners on the socket live as long as the connection: they must not
    // close over the request (its headers would stay in memory per socket).
    socket.on('error', ignore)
    if (shuttingDown) return rejectUpgrade(socket, 'SHUTTING_DOWN', 'the server is shutting down')
    // Without authentication to wait for and with storage open, the upgrade
    // completes in this turn (no promise per connection).
    let decision: UpgradeDecision | Promise<UpgradeDecision>
    try {
      decision = authorize.upgrade(request)
    } catch (err) {
      failUpgrade(err, request.url, socket)
      return
    }
    if (opened && !(decision instanceof Promise)) {
      try {
        upgradeDecided(request, socket, head, decision)
      } catch (err) {
        failUpgrade(err, request.url, socket)
      }
      return
    }
    const url = request.url
    upgrade(request, socket, head, decision).catch((err) => failUpgrade(err, url, socket))
  }

  function failUpgrade (err: unknown, url: string | undefined, socket: Duplex): void {
    logger.error({ err, url: safeUrl(url) }, 'upgrade failed')
    if (!socket.destroyed) rejectUpgrade(socket, 'INTERNAL', 'internal error')
  }

  async function upgrade (request: IncomingMessage, socket: Duplex, head: Buffer, pending: UpgradeDecision | Promise<UpgradeDecision>): Promise<void> {
    const decision = await pending
    if (!('error' in decision)) {
      try {
        await ready
      } catch (err) {
        return rejectUpgrade(socket, 'STORAGE_FAILED', 'storage is not available')
      }
    }
    upgradeDecided(request, socket, head, decision)
  }

  function upgradeDecided (request: IncomingMessage, socket: Duplex, head: Buffer, decision: UpgradeDecision): void {
    if ('error' in decision) {
      metrics.authFailures.inc({ reason: decision.error.code })
      if (decision.detail !== undefined) logger.info({ code: decision.error.code, detail: decision.detail, url: safeUrl(request.url) }, 'upgrade refused')
      return rejectUpgrade(socket, decision.error.code, decision.error.message)
    }
    const { docName, ip, permit } = decision
    if (shuttingDown || socket.destroyed) {
      if (!socket.destroyed) rejectUpgrade(socket, 'SHUTTING_DOWN', 'the server is shutting down')
      return
    }
    // Corked through the handshake: when the document is open, the
    // handshake's answer and what joining sends (presence) leave in one write.
    socket.cork()
    try {
      if (countedAtConnect) {
        wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, docName, ip, permit))
        return
      }
      acceptCounted(request, socket, head, docName, ip, permit)
    } finally {
      socket.uncork()
    }
  }

  function acceptCounted (request: IncomingMessage, socket: Duplex, head: Buffer, docName: string, ip: string, permit: Permit): void {
    if (!ipConnections.acquire(ip)) {
      refusedConnection(ip)
      return rejectUpgrade(socket, 'TOO_MANY_CONNECTIONS', `more than ${config.maxConnectionsPerIp} connections from this address`)
    }
    // The slot is held from here; if the handshake never completes, give it back.
    const releaseSlot = (): void => ipConnections.release(ip)
    socket.once('close', releaseSlot)
    wss.handleUpgrade(request, socket, head, (ws) => {
      // From here the connection's own close gives the slot back.
      socket.off('close', releaseSlot)
      onConnection(ws, docName, ip, permit)
    })
  }

  const rateRules = connectionRateRules(config)

  /** What every connection shares: one object, no closures per socket. */
  const connectionShared: ConnectionShared = {
    maxBufferedBytes: config.maxBufferedBytes,
    maxPendingBytes: config.maxPendingBytes,
    metrics,
    logger,
    admit: (conn, bytes) => {
      const verdict = conn.limiter.check(bytes)
      if (verdict !== 'ok') {
        metrics.rateLimited.inc({ kind: verdict })
        return refusalReason(config, verdict)
      }
      return admitIdentity(conn.identity, bytes)
    },
    allowWork: (conn, cost) => allowWork(conn.identity, cost),
    storedSync: (conn) => registry?.storedFrames(conn.options.docName),
    onClose: (conn, code, reason) => onConnectionClosed(conn, code, reason)
  }

  /** Counts a refusal at the per-address limit, with a warning at most once a minute. */
  function refusedConnection (ip: string): void {
    metrics.authFailures.inc({ reason: 'TOO_MANY_CONNECTIONS' })
    const now = Date.now()
    if (now - lastRefusalLog < 60_000) return
    lastRefusalLog = now
    logger.warn({ ip, limit: config.maxConnectionsPerIp }, 'refused a connection over the per-address limit (--max-connections-per-ip); behind a proxy, set --trust-proxy so clients are told apart')
  }

  function onConnection (ws: WebSocket, docName: string, ip: string, permit: Permit): void {
    const id = nextConnectionId++
    const conn = new Connection(ws, {
      id,
      access: permit.access,
      userId: permit.userId,
      ip,
      docName,
      expiresAtMs: permit.expiresAtMs
    }, connectionShared, new ConnectionRateLimiter(rateRules))
    connections.add(conn)
    metrics.connections.set(connections.size)
    // Built only when it is logged: at every connection, the object would be garbage at once.
    if (logger.isLevelEnabled('info')) logger.info({ ...conn.logBindings, access: permit.access }, 'connected')
    const registryNow = rooms()
    const open = registryNow.acquireLoaded(docName)
    if (open !== undefined) {
      join(conn, open)
      return
    }
    registryNow.acquire(docName).then((room) => {
      if (conn.closed) {
        registryNow.release(room)
        return
      }
      join(conn, room)
    }, (err) => {
      conn.log.warn({ err: (err as Error).message }, 'document did not load; closing so the client retries')
      conn.close(CloseCode.INTERNAL_ERROR, 'document load failed, retry')
    })
  }

  /** Joins the connection to its loaded room; a failure closes only this connection. */
  function join (conn: Connection, room: Room): void {
    try {
      conn.attach(room)
    } catch (err) {
      logger.error({ err, doc: room.name }, 'joining a document failed; closing the connection')
      conn.close(CloseCode.INTERNAL_ERROR, 'internal error')
    }
  }

  function onConnectionClosed (conn: Connection, code: number, reason: string): void {
    connections.delete(conn)
    metrics.connections.set(connections.size)
    metrics.closes.inc({ code: closeLabel(code) })
    if (!countedAtConnect) ipConnections.release(conn.options.ip)
    if (logger.isLevelEnabled('info')) logger.info({ ...conn.logBindings, code, reason, durationMs: Date.now() - conn.openedAt }, 'disconnected')
    const room = conn.room
    if (room !== null) {
      room.leave(conn)
      registry?.release(room)
    }
  }

  function handleRequest (req: IncomingMessage, res: ServerResponse): boolean {
    if (!isTandemPath(req.url)) return false
    void handleHttp(httpDeps, req, res)
    return true
  }

  // Our own server answers everything (404 for unknown paths); an attached
  // host's other requests go to the listeners it had.
  const ownRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void handleHttp(httpDeps, req, res)
  }
  let hostListeners: Array<(...args: any[]) => void> = []
  let onRequest: ((req: IncomingMessage, res: ServerResponse) => void) | undefined

  function attach (server: HttpServer, attachOptions: { http?: boolean } = {}): void {
    httpServer = server
    server.on('upgrade', handleUpgrade)
    if (attachOptions.http === false) return
    if (ownHttp) {
      onRequest = ownRequest
      countedAtConnect = !config.trustProxy
      unguard = guardSockets(server, {
        counter: countedAtConnect ? ipConnections : null,
        idleSocketTimeoutMs: config.idleSocketTimeoutMs,
        onRefused: refusedConnection
      })
    } else {
      hostListeners = server.listeners('request') as Array<(...args: any[]) => void>
      server.removeAllListeners('request')
      onRequest = (req, res) => {
        if (handleRequest(req, res)) return
        for (const listener of hostListeners) listener.call(server, req, res)
      }
    }
    server.on('request', onRequest)
  }

  async function listen (): Promise<{ port: number; host: string; url: string }> {
    if (httpServer === undefined) {
      const server = createHttpServer()
      ownHttp = true
      attach(server)
    }
    await ready
    const server = httpServer as HttpServer
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port: config.port, host: config.host, backlog: config.backlog }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address() as AddressInfo
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
    const url = `ws://${shownHost}:${address.port}`
    logger.info({ url, persistence: persistence?.name, port: address.port, instanceId: fanout?.instanceId }, `listening on ${url}`)
    return { port: address.port, host: address.address, url }
  }

  async function close (): Promise<void> {
    closePromise ??= (async () => {
      shuttingDown = true
      clearInterval(pingTimer)
      // 1. stop accepting
      if (ownHttp && httpServer !== undefined) httpServer.close()
      // A host's server outlives us: give its events back.
      httpServer?.off('upgrade', handleUpgrade)
      unguard?.()
      if (onRequest !== undefined) {
        httpServer?.off('request', onRequest)
        for (const listener of hostListeners) httpServer?.on('request', listener)
      }
      // 2. close clients
      const closing = [...connections]
      for (const conn of closing) conn.close(CloseCode.GOING_AWAY, 'server shutting down')
      // 3. take the automatic versions still due, store every pending write and unload
      try { await ready } catch { /* storage never opened */ }
      // Bounded like the writes below: a storage that is down cannot take the versions.
      await withinMs(history?.close(), config.loadTimeoutMs).catch((err) => logger.warn({ err }, 'closing the history failed'))
      if (registry !== undefined) await registry.close()
      await webhook?.close()
      // 4. close fan-out and storage
      await fanout?.close().catch((err) => logger.warn({ err }, 'closing the fan-out failed'))
      await persistence?.close().catch((err) => logger.warn({ err }, 'closing storage failed'))
      // Peers that never answered the close handshake are cut now.
      for (const conn of closing) conn.ws.terminate()
      wss.close()
      if (ownHttp && httpServer !== undefined) {
        httpServer.closeAllConnections()
      }
      logger.info('closed')
    })()
    return closePromise
  }

  return {
    config,
    metrics,
    logger,
    get httpServer () {
      if (httpServer === undefined) {
        const server = createHttpServer()
        ownHttp = true
        attach(server)
      }
      return httpServer as HttpServer
    },
    listen,
    attach,
    handleRequest,
    async openDocument (name: string) {
      if (shuttingDown) throw new TandemError('SHUTTING_DOWN', 'the server is shutting down')
      await ready
      return openDocument(rooms(), name, config.maxDocNameBytes)
    },
    handleUpgrade,
    close,
    ready: () => ready,
    history: historyApi
  }
}

function ignore (): void {}

/** Waits for `promise` at most `ms`; rejects when the wait ran out. */
async function withinMs (promise: Promise<void> | undefined, ms: number): Promise<void> {
  if (promise === undefined) return
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`gave up after ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Close codes as a metrics label: a client may close with any code, so unknown ones share one label. */
function closeLabel (code: number): string {
  if ((code >= 1000 && code <= 1015) || KNOWN_CLOSE_CODES.has(code)) return String(code)
  return 'other'
}

const KNOWN_CLOSE_CODES = new Set<number>(Object.values(CloseCode))

export type { AuthResult }
