/**
 * Notices a Redis connection that is open but no longer answers.
 *
 * A stalled network, a hung proxy or a frozen Redis leave the socket open:
 * no error, no close, and TCP keepalive (answered by whatever box sits in the
 * middle, if it gets through at all) takes minutes to hours. ioredis keeps
 * writing into such a socket and reports the connection ready; a subscriber
 * silently misses every message meanwhile, and whatever TCP delivers once the
 * path comes back arrives late or never.
 *
 * So the adapter asks: every `probe()` (one per heartbeat) sends a PING when
 * none is outstanding, and a PING that stays unanswered for `timeoutMs` means
 * the link is hung. A connection whose handshake stays unanswered as long is
 * hung too. Either way the socket is destroyed, which ioredis handles like any
 * drop: it reconnects, and the adapter heals the gap as after any reconnect.
 */
import type { Redis } from 'ioredis'

export interface LinkWatchOptions {
  /** A PING or handshake unanswered this long marks the link as hung. */
  timeoutMs: number
  /** Called once per hung connection, just before it is dropped. */
  onHung: (info: { state: 'ready' | 'handshake'; silentMs: number }) => void
}

export class LinkWatch {
  private readonly client: Redis
  private readonly options: LinkWatchOptions
  /** Bumped on every close: an answer or a timer from an older socket proves nothing. */
  private epoch = 0
  private pingSentAt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private immediate: ReturnType<typeof setImmediate> | undefined
  private stopped = false
  private readonly onConnect = (): void => { this.arm('handshake', Date.now()) }
  private readonly onReady = (): void => { this.disarm() }
  private readonly onClose = (): void => {
    this.epoch++
    this.pingSentAt = 0
    this.disarm()
  }

  constructor (client: Redis, options: LinkWatchOptions) {
    this.client = client
    this.options = options
    // 'connect': the socket is open and the handshake (CLIENT SETNAME, INFO) is on its way.
    client.on('connect', this.onConnect)
    client.on('ready', this.onReady)
    client.on('close', this.onClose)
  }

  /** Sends a PING unless one is outstanding or the connection is not ready. */
  probe (): void {
    if (this.stopped || this.pingSentAt !== 0 || this.client.status !== 'ready') return
    const epoch = this.epoch
    const sentAt = Date.now()
    this.pingSentAt = sentAt
    this.arm('ready', sentAt)
    // PING is one of the few commands a connection in subscriber mode accepts.
    this.client.ping().then(
      () => {
        if (epoch !== this.epoch || this.pingSentAt !== sentAt) return
        this.pingSentAt = 0
        this.disarm()
      },
      // Rejected because the connection closed: onClose resets.
      () => {}
    )
  }

  /** Removes the listeners and timers. Safe to call twice. */
  stop (): void {
    this.stopped = true
    this.disarm()
    this.client.off('connect', this.onConnect)
    this.client.off('ready', this.onReady)
    this.client.off('close', this.onClose)
  }

  private arm (state: 'ready' | 'handshake', since: number): void {
    this.disarm()
    const epoch = this.epoch
    this.timer = setTimeout(() => {
      this.timer = undefined
      // After a stalled event loop this timer can fire before the socket's
      // pending data is read; the poll phase runs before setImmediate, so an
      // answer already here is seen first.
      this.immediate = setImmediate(() => {
        this.immediate = undefined
        if (this.stopped || epoch !== this.epoch) return
        const stillWaiting = state === 'ready' ? this.pingSentAt === since : this.client.status === 'connect'
        if (stillWaiting) this.drop(state, Date.now() - since)
      })
    }, this.options.timeoutMs)
  }

  private disarm (): void {
    clearTimeout(this.timer)
    clearImmediate(this.immediate)
    this.timer = undefined
    this.immediate = undefined
  }

  private drop (state: 'ready' | 'handshake', silentMs: number): void {
    this.options.onHung({ state, silentMs })
    // Destroyed rather than ended: a FIN would wait on the same hung path
    // (ioredis's disconnect() ends the socket and destroys it only after
    // `disconnectTimeout`). The close that follows makes ioredis reconnect.
    this.client.stream?.destroy()
  }
}
