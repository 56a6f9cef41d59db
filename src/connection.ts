import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import type { Access } from './auth.js'
import { CloseCode } from './close-codes.js'
import { TandemError } from './errors.js'
import type { Member } from './member.js'
import type { ConnectionRateLimiter } from './limits.js'
import type { Metrics } from './metrics.js'
import type { Origin } from './origin.js'
import { decodeMessage, encodePermissionDenied, encodeStored, isEmptyStateVector, ProtocolError, type Message } from './protocol.js'
import type { EarlyAnswer, Room } from './room.js'
import { callAt } from './timers.js'
import { corked, writeFramed } from './wire.js'

/** Who and where one connection is. */
export interface ConnectionInfo {
  id: number
  access: Exclude<Access, 'none'>
  userId?: string
  ip: string
  docName: string
  /** Token expiry; the connection is closed when it passes. */
  expiresAtMs?: number
}

/**
 * What every connection shares: settings and the server's functions, one
 * object for all of them (per-connection closures would cost memory on
 * every socket).
 */
export interface ConnectionShared {
  maxBufferedBytes: number
  maxPendingBytes: number
  metrics: Metrics
  logger: Logger
  /** Per-message admission (rate limits of the connection and of its identity); returns a close reason to refuse. */
  admit: (conn: Connection, bytes: number) => string | null
  /** The sync-work budget of the connection's identity (see `Member.allowWork`). */
  allowWork: (conn: Connection, costBytes: number) => boolean
  /**
   * While the document loads: its stored state as a sync answer for a client
   * that asks for everything (see `RoomRegistry.storedFrames`), so a page
   * load does not wait for the document to be integrated in memory.
   */
  storedSync: (conn: Connection) => Promise<EarlyAnswer | null> | undefined
  /** Called once when the connection closed. */
  onClose: (conn: Connection, code: number, reason: string) => void
}

/**
 * Event-loop time incoming frames may take per phase of a turn: frames read
 * from sockets (the poll phase), then frames deferred from earlier reads
 * (the check phase). One socket read can hold a hundred updates, each a
 * millisecond of integration in a large document; run in one go they would
 * hold up everyone else's frames, stored batches (so relaying) and timers.
 */
const FRAME_SLICE_MS = 10

/** When this turn's processing of read frames started (0: not yet); reset in each check phase. */
let sliceStart = 0
function endSlice (): void {
  sliceStart = 0
}
/** Whether the frames read this turn have used up their slice (starting it if none runs). */
function sliceSpent (): boolean {
  const now = performance.now()
  if (sliceStart === 0) {
    sliceStart = now
    setImmediate(endSlice)
    return false
  }
  return now - sliceStart > FRAME_SLICE_MS
}

/** Connections with deferred frames, served one frame each in turn (no client can starve another). */
let backlog: Connection[] = []
let backlogScheduled = false
function scheduleBacklog (): void {
  if (backlogScheduled) return
  backlogScheduled = true
  setImmediate(drainBacklog)
}
function drainBacklog (): void {
  backlogScheduled = false
  const start = performance.now()
  let at = 0
  while (backlog.length > 0 && performance.now() - start <= FRAME_SLICE_MS) {
    if (at >= backlog.length) at = 0
    if (backlog[at].processDeferred()) at++
    else backlog.splice(at, 1)
  }
  if (backlog.length === 0) return
  // The next turn starts where this one stopped.
  if (at > 0 && at < backlog.length) backlog = [...backlog.slice(at), ...backlog.slice(0, at)]
  scheduleBacklog()
}

/** The connection behind a `ws` socket, for the listeners every socket shares. */
const CONNECTION = Symbol('tandem.connection')
type TaggedSocket = WebSocket & { [CONNECTION]?: Connection }

function onSocketMessage (this: TaggedSocket, data: Buffer, isBinary: boolean): void {
  this[CONNECTION]?.receive(data, isBinary)
}

function onSocketPong (this: TaggedSocket): void {
  this[CONNECTION]?.ponged()
}

function onSocketClose (this: TaggedSocket, code: number, reason: Buffer): void {
  this[CONNECTION]?.socketClosed(code, reason.toString())
}

function onSocketError (this: TaggedSocket, err: Error): void {
  // ws closes the socket after an error (e.g. 1009 for maxPayload); log why.
  const code = (err as { code?: string }).code
  this[CONNECTION]?.log.info({ err: err.message, code }, 'socket error')
}

/**
 * One client socket: a room's `Member`. Frames that arrive before the room is
 * loaded are held (bounded by `maxPendingBytes`) and processed in order once
 * it is.
 */
export class Connection implements Member {
  readonly origin: Origin
  closed = false
  readonly openedAt = Date.now()
  /** Cleared by each heartbeat, set by a pong. */
  private answeredPing = true
  /** Set by every frame from the peer, cleared by each heartbeat. */
  private heard = false
  private joined: Room | null = null
  private held: Uint8Array[] | null = []
  private heldBytes = 0
  /**
   * Frames that arrived after the current run of frames used up its slice
   * (`FRAME_SLICE_MS`), processed in order in the next turns while the
   * socket is paused. Bounded by `maxPendingBytes` together with `held`.
   */
  private deferred: Uint8Array[] | null = null
  private deferredAt = 0
  private deniedSent = false
  /** The largest sync answer sent so far: allowed on top of `maxBufferedBytes`. */
  private syncAllowance = 0
  /** Whether this client's own sync step 2 (its answer to the server's step 1) has been applied, or is not needed. */
  private repliedToSync = false
  /** Whether the server's sync step 1 was sent to this client, or is not needed (see `handle`). */
  private askedClient = false
  /**
   * Updates that depend on changes the server does not have yet, held until
   * the client's sync step 2 brings them (a stock client that edits in the
   * moment between connecting and answering the server's step 1 sends such
   * updates). Bounded by `maxPendingBytes` together with `held`.
   */
  private waiting: Uint8Array[] | null = null
  private waitingBytes = 0
  /** Whether this client's request for everything was answered from storage while the document loaded. */
  private answeredEarly = false
  private cancelExpiry: (() => void) | undefined
  private childLog: Logger | undefined

  /** This connection's own rate limiter (its identity's is shared, on the server). */
  readonly limiter: ConnectionRateLimiter

  constructor (readonly ws: WebSocket, readonly options: ConnectionInfo, private readonly shared: ConnectionShared, limiter: ConnectionRateLimiter) {
    this.origin = { kind: 'connection', member: this, userId: options.userId }
    this.identity = options.userId !== undefined ? `user:${options.userId}` : `ip:${options.ip}`
    this.limiter = limiter
    ws.binaryType = 'nodebuffer'
    ;(ws as TaggedSocket)[CONNECTION] = this
    ws.on('message', onSocketMessage)
    ws.on('pong', onSocketPong)
    ws.on('close', onSocketClose)
    ws.on('error', onSocketError)
    if (options.expiresAtMs !== undefined) {
      // Not synchronously: a token that already expired closes after the constructor returned.
      const expiresAtMs = Math.max(options.expiresAtMs, Date.now() + 1)
      this.cancelExpiry = callAt(expiresAtMs, () => this.close(CloseCode.TOKEN_EXPIRED, 'token expired'))
    }
  }

  /**
   * Who is behind this socket, for awareness takeovers: the authenticated
   * user, or without auth the client address.
   */
  readonly identity: string

  /** What identifies this connection in every log line. */
  get logBindings (): { conn: number; doc: string; user?: string; ip: string } {
    return { conn: this.options.id, doc: this.options.docName, user: this.options.userId, ip: this.options.ip }
  }

  /**
   * A child logger with the connection's bindings, made on first use: most
   * connections only ever log their connect and disconnect lines, which the
   * server writes through the parent logger (a child per socket costs memory).
   */
  get log (): Logger {
    this.childLog ??= this.shared.logger.child(this.logBindings)
    return this.childLog
  }

  /** The room this connection joined; null until its document loaded (or if it closed first). */
  get room (): Room | null {
    return this.joined
  }

  get access (): Exclude<Access, 'none'> {
    return this.options.access
  }

  /**
   * One round of the server's ping sweep: false when the peer did not answer
   * the previous ping (it is dead), otherwise sends the next ping.
   */
  heartbeat (): boolean {
    // A peer that sent a frame since the last sweep is alive: it needs no
    // ping (a stock client renews its awareness every 15 s, so only silent
    // peers are pinged).
    if (this.heard) {
      this.heard = false
      this.answeredPing = true
      return true
    }
    if (!this.answeredPing) return false
    // A client that never sent a frame is still asked for what it holds.
    if (!this.askedClient && this.joined !== null && this.access === 'write') this.askClient(this.joined)
    this.answeredPing = false
    try {
      this.ws.ping()
    } catch {
      // the socket is already closing
    }
    return true
  }

  /** Binds to the loaded room and processes the frames that waited for it. */
  attach (room: Room): void {
    if (this.closed) return
    this.joined = room
    // The answers to what the client sent meanwhile (and the server's sync step 1) leave in one write.
    corked(this.ws, () => {
      room.join(this)
      const held = this.held ?? []
      this.held = null
      for (const frame of held) {
        if (this.closed) return
        this.handle(frame)
      }
    })
  }

  /** A pong arrived: the peer is alive. */
  ponged (): void {
    this.answeredPing = true
  }

  /** The socket closed (the peer or ws closed it). */
  socketClosed (code: number, reason: string): void {
    this.finish(code, reason)
  }

  /** One frame from the socket. */
  receive (data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    this.heard = true
    const frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    this.shared.metrics.bytesIn.inc('', frame.byteLength)
    const refusal = this.shared.admit(this, frame.byteLength)
    if (refusal != null) {
      this.close(CloseCode.POLICY_VIOLATION, refusal)
      return
    }
    if (!isBinary) {
      this.close(CloseCode.INVALID_DATA, 'text frames are not part of the protocol')
      return
    }
    if (this.held !== null) {
      this.heldBytes += frame.byteLength
      if (this.heldBytes > this.shared.maxPendingBytes) {
        this.close(CloseCode.POLICY_VIOLATION, 'too much data before the document loaded')
        return
      }
      this.held.push(frame)
      if (isFullSyncRequest(frame)) this.answerEarly()
      return
    }
    if (this.deferred !== null || sliceSpent()) {
      this.defer(frame)
      return
    }
    this.handle(frame)
  }

  /** Keeps a frame for a later turn and stops reading the socket until the kept frames are processed. */
  private defer (frame: Uint8Array): void {
    if (this.deferred === null) {
      this.deferred = []
      this.deferredAt = 0
      this.heldBytes = 0
      this.ws.pause()
      backlog.push(this)
      scheduleBacklog()
    }
    this.heldBytes += frame.byteLength
    if (this.heldBytes > this.shared.maxPendingBytes) {
      this.close(CloseCode.POLICY_VIOLATION, 'too much data waiting to be processed')
      return
    }
    this.deferred.push(frame)
    this.shared.metrics.deferredFrames.inc()
  }

  /**
   * Processes the next deferred frame; false when none is left (the socket
   * is read again) or the connection closed.
   */
  processDeferred (): boolean {
    const deferred = this.deferred
    if (deferred === null || this.closed) {
      this.deferred = null
      return false
    }
    if (this.deferredAt < deferred.length) {
      const frame = deferred[this.deferredAt]
      deferred[this.deferredAt++] = EMPTY_FRAME
      try {
        this.handle(frame)
      } catch (err) {
        // Run for every waiting connection in one callback: a failure closes only this one.
        this.log.error({ err }, 'processing a frame failed; closing the connection')
        this.close(CloseCode.INTERNAL_ERROR, 'internal error')
      }
      if (this.closed) {
        this.deferred = null
        return false
      }
      if (this.deferredAt < deferred.length) return true
    }
    this.deferred = null
    this.heldBytes = 0
    this.ws.resume()
    return false
  }

  /** Answers a request for everything from storage while the document loads, when it is stored as one snapshot. */
  private answerEarly (): void {
    const frames = this.shared.storedSync(this)
    if (frames === undefined) return
    frames.then((answer) => {
      // Too late (the document loaded and the held request is answered normally), or not one snapshot.
      if (answer === null || this.held === null || this.closed || this.answeredEarly) return
      this.answeredEarly = true
      for (const frame of answer.frames) {
        answer.written(new Promise((resolve) => this.send(frame, { syncAnswer: true, written: resolve })))
      }
    }, () => {})
  }

  private handle (frame: Uint8Array): void {
    const room = this.joined
    if (room === null) return
    let message: Message
    try {
      message = decodeMessage(frame)
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.log.warn({ code: err.code, reason: err.message }, 'malformed frame')
        this.close(CloseCode.PROTOCOL_ERROR, `malformed frame: ${err.message}`)
        return
      }
      throw err
    }
    this.shared.metrics.messagesIn.inc(message.type)
    if (!this.askedClient) {
      // A client opens with its sync step 1 (every stock client does). One
      // with an empty state vector holds nothing (every page load): nothing
      // of it can be missing here, so the server's step 1, and the client's
      // empty answer, are left out; so they are for a read-only client, whose
      // answer would be dropped. Any other first frame gets it first, in the
      // same write as the answer to that frame.
      if (this.access !== 'write' || (message.type === 'sync-step1' && isEmptyStateVector(message.stateVector))) {
        this.askedClient = true
        this.repliedToSync = true
      } else {
        corked(this.ws, () => {
          this.askClient(room)
          this.dispatch(room, message, frame)
        })
        return
      }
    }
    this.dispatch(room, message, frame)
  }

  private dispatch (room: Room, message: Message, frame: Uint8Array): void {
    try {
      switch (message.type) {
        case 'sync-step1':
          if (this.answeredEarly && isEmptyStateVector(message.stateVector)) {
            // Already answered from storage while the document loaded.
            this.answeredEarly = false
            break
          }
          room.answerSyncStep1(this, message.stateVector)
          break
        case 'sync-step2':
        case 'sync-update':
          if (this.access !== 'write') {
            this.dropReadOnlyUpdate()
            break
          }
          this.apply(room, message.update, message.type, frame)
          break
        case 'awareness':
          room.applyAwareness(message.update, this.origin)
          break
        case 'query-awareness': {
          const reply = room.awarenessMessage()
          if (reply !== null) this.send(reply)
          break
        }
        case 'stored': {
          const sequence = message.sequence
          room.whenStored().then(() => this.send(encodeStored(sequence)), () => {})
          break
        }
        case 'auth':
          break
        case 'unknown':
          // Forward compatibility: a newer client may speak more than we do.
          this.shared.metrics.unknownMessages.inc()
          break
      }
    } catch (err) {
      if (err instanceof TandemError) {
        // A check refused the message: only this connection is closed, with the code of its error.
        this.shared.metrics.refused.inc({ code: err.code })
        this.log.warn({ code: err.code, reason: err.message, type: message.type }, 'message refused')
        this.close(err.closeCode, err.message)
        return
      }
      // The message decoded but its content (update, state vector, awareness) is invalid.
      this.log.warn({ err: (err as Error).message, type: message.type }, 'invalid message content')
      this.close(CloseCode.INVALID_DATA, `invalid ${message.type} content`)
    }
  }

  /** Sends the server's sync step 1: the client answers with what the server lacks (its offline edits). */
  private askClient (room: Room): void {
    this.askedClient = true
    room.sendSyncStep1(this)
  }

  /**
   * Applies a client update; returns false when it was held or refused (the
   * connection may be closed). An update whose dependencies are missing
   * before this client's own sync step 2 arrived is held and applied after
   * it; after that, missing dependencies are refused like any invalid update.
   */
  private apply (room: Room, update: Uint8Array, type: 'sync-step2' | 'sync-update', frame: Uint8Array): boolean {
    try {
      room.applyUpdate(update, this.origin, this)
    } catch (err) {
      if (!(err instanceof TandemError) || err.code !== 'UPDATE_INCOMPLETE' || this.repliedToSync || type !== 'sync-update') throw err
      this.waitingBytes += frame.byteLength
      if (this.heldBytes + this.waitingBytes > this.shared.maxPendingBytes) {
        this.close(CloseCode.POLICY_VIOLATION, 'too many updates waiting for this client\'s sync reply')
        return false
      }
      ;(this.waiting ??= []).push(frame)
      return false
    }
    if (type === 'sync-step2' && !this.repliedToSync) {
      this.repliedToSync = true
      const waiting = this.waiting ?? []
      this.waiting = null
      this.waitingBytes = 0
      for (const held of waiting) {
        if (this.closed) return false
        this.handle(held)
      }
    }
    return true
  }

  allowWork (costBytes: number): boolean {
    return this.shared.allowWork(this, costBytes)
  }

  private dropReadOnlyUpdate (): void {
    this.shared.metrics.droppedUpdates.inc({ reason: 'read-only' })
    if (!this.deniedSent) {
      this.deniedSent = true
      this.log.info('dropped document updates from a read-only connection')
      this.send(encodePermissionDenied('read-only access: updates are not applied'))
    }
  }

  /**
   * Whether a frame of `wireBytes` may be queued. A peer that lets more than
   * `maxBufferedBytes` pile up is dropped: a slow consumer must not make the
   * server buffer without bound.
   */
  private canSend (wireBytes: number): boolean {
    if (this.closed) return false
    const ws = this.ws
    if (ws.readyState !== ws.OPEN) return false
    if (ws.bufferedAmount + wireBytes > this.shared.maxBufferedBytes + this.syncAllowance) {
      this.close(CloseCode.POLICY_VIOLATION, 'slow consumer: send buffer full')
      return false
    }
    return true
  }

  /** `written` is called once the socket has taken the frame (or it was not sent). */
  send (frame: Uint8Array, options?: { syncAnswer?: boolean; written?: () => void }): void {
    if (options?.syncAnswer === true && frame.byteLength > this.syncAllowance) this.syncAllowance = frame.byteLength
    if (!this.canSend(frame.byteLength)) {
      options?.written?.()
      return
    }
    this.shared.metrics.bytesOut.inc('', frame.byteLength)
    const written = options?.written
    if (written === undefined) this.ws.send(frame, { binary: true })
    else this.ws.send(frame, { binary: true }, () => written())
  }

  sendFramed (wire: Buffer, payload: Uint8Array): void {
    if (!this.canSend(wire.byteLength)) return
    this.shared.metrics.bytesOut.inc('', payload.byteLength)
    writeFramed(this.ws, wire, payload)
  }

  close (code: number, reason: string): void {
    if (this.closed) return
    const ws = this.ws
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, closeReason(reason))
      // A peer that never answers the close handshake must not hold the socket.
      setTimeout(() => ws.terminate(), 5000).unref()
    }
    this.finish(code, reason)
  }

  /** Closes without a handshake (dead peer). */
  terminate (reason: string): void {
    this.ws.terminate()
    this.finish(CloseCode.PING_TIMEOUT, reason)
  }

  private finish (code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.cancelExpiry?.()
    this.held = null
    this.waiting = null
    this.shared.onClose(this, code, reason)
    delete (this.ws as TaggedSocket)[CONNECTION]
  }
}

/** A close reason fits in 123 bytes of UTF-8 (RFC 6455 §5.5); longer ones are cut at a character boundary. */
function closeReason (reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason
  let cut = reason.slice(0, 120)
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1)
  return cut + '…'
}

const EMPTY_FRAME = new Uint8Array(0)

/** A sync step 1 with an empty state vector: the client holds nothing and asks for everything (every page load). */
function isFullSyncRequest (frame: Uint8Array): boolean {
  return frame.length === 4 && frame[0] === 0 && frame[1] === 0 && frame[2] === 1 && frame[3] === 0
}
