/**
 * Resource limits as small pure pieces: token buckets, the per-connection
 * rate limiter and the per-address connection counter. Clocks are injectable
 * so tests never sleep; nothing here holds a timer.
 */
import { performance } from 'node:perf_hooks'

/** One clock for every bucket (a closure per bucket would cost memory per connection). */
const monotonicNow = (): number => performance.now()

/**
 * A token bucket: holds up to `burst` tokens and refills at `ratePerSec`.
 * `take(n)` spends `n` tokens if they are all there and spends nothing
 * otherwise. A request larger than `burst` can never succeed, so size
 * `burst` to the largest single request you accept.
 */
export class TokenBucket {
  private readonly ratePerMs: number
  private readonly burst: number
  private readonly now: () => number
  private tokens: number
  private last: number

  constructor (opts: {
    ratePerSec: number
    burst: number
    /** Milliseconds from a monotonic clock. @default performance.now */
    now?: () => number
  }) {
    if (!(opts.ratePerSec > 0 && Number.isFinite(opts.ratePerSec))) {
      throw new RangeError('ratePerSec must be a finite number > 0')
    }
    if (!(opts.burst > 0 && Number.isFinite(opts.burst))) {
      throw new RangeError('burst must be a finite number > 0')
    }
    this.ratePerMs = opts.ratePerSec / 1000
    this.burst = opts.burst
    this.now = opts.now ?? monotonicNow
    this.tokens = opts.burst
    this.last = this.now()
  }

  /** Tokens available right now (after refilling). */
  available (): number {
    const now = this.now()
    // A clock that steps back (only possible with an injected one) refills nothing.
    const elapsed = Math.max(0, now - this.last)
    this.last = Math.max(this.last, now)
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerMs)
    return this.tokens
  }

  /** The most tokens the bucket holds. */
  get capacity (): number {
    return this.burst
  }

  take (n = 1): boolean {
    if (this.available() < n) return false
    this.tokens -= n
    return true
  }
}

export interface RateLimitOptions {
  /**
   * Sustained messages per second per connection. Bounds the CPU one client
   * can use, since every message is decoded, applied and relayed to every
   * peer in the room: a flood from one client would slow the whole room.
   * @default 1000
   */
  messagesPerSec?: number
  /**
   * Messages a connection may send at once above the sustained rate. Covers
   * the burst of a reconnect (sync step 1 and 2, awareness, queued edits).
   * @default 2 × messagesPerSec
   */
  messagesBurst?: number
  /**
   * Sustained payload bytes per second per connection. Bounds the bandwidth,
   * memory churn and storage growth one client can cause.
   * @default 8 MiB
   */
  bytesPerSec?: number
  /**
   * Payload bytes a connection may send at once. Must be at least the
   * maximum message size, or the largest allowed message could never pass.
   * @default 2 × bytesPerSec
   */
  bytesBurst?: number
  /** Milliseconds from a monotonic clock, for tests. @default performance.now */
  now?: () => number
}

export const RATE_LIMIT_DEFAULTS = Object.freeze({
  messagesPerSec: 1000,
  bytesPerSec: 8 * 1024 * 1024,
  /** Burst = this × rate, unless given. */
  burstFactor: 2
})

/** Which limit a message broke, or `'ok'`. */
export type RateVerdict = 'ok' | 'messages' | 'bytes'

/**
 * The settings of a connection rate limit, made once and shared by every
 * connection's limiter (each connection then holds only its two token
 * counts and the time it last refilled them).
 */
export class RateLimitRules {
  readonly messagesPerMs: number
  readonly messagesBurst: number
  readonly bytesPerMs: number
  readonly bytesBurst: number
  readonly now: () => number

  constructor (opts: RateLimitOptions = {}) {
    const { burstFactor } = RATE_LIMIT_DEFAULTS
    const messagesPerSec = opts.messagesPerSec ?? RATE_LIMIT_DEFAULTS.messagesPerSec
    const bytesPerSec = opts.bytesPerSec ?? RATE_LIMIT_DEFAULTS.bytesPerSec
    this.messagesBurst = opts.messagesBurst ?? Math.max(1, burstFactor * messagesPerSec)
    this.bytesBurst = opts.bytesBurst ?? burstFactor * bytesPerSec
    for (const [name, value] of [['messagesPerSec', messagesPerSec], ['bytesPerSec', bytesPerSec], ['messagesBurst', this.messagesBurst], ['bytesBurst', this.bytesBurst]] as const) {
      if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a finite number > 0`)
    }
    this.messagesPerMs = messagesPerSec / 1000
    this.bytesPerMs = bytesPerSec / 1000
    this.now = opts.now ?? monotonicNow
  }
}

/**
 * The per-connection rate limit: a message bucket and a byte bucket. A
 * message passes only if both have room, and then spends from both; a
 * refused message spends nothing, so the caller may drop it or close.
 */
export class ConnectionRateLimiter {
  private readonly rules: RateLimitRules
  private messages: number
  private bytes: number
  private last: number

  /** With rules shared by many connections, or options of its own. */
  constructor (rules: RateLimitRules | RateLimitOptions = {}) {
    this.rules = rules instanceof RateLimitRules ? rules : new RateLimitRules(rules)
    this.messages = this.rules.messagesBurst
    this.bytes = this.rules.bytesBurst
    this.last = this.rules.now()
  }

  /** Accounts for one incoming message of `bytes` bytes. */
  check (bytes: number): RateVerdict {
    const rules = this.rules
    const now = rules.now()
    // A clock that steps back (only possible with an injected one) refills nothing.
    const elapsed = Math.max(0, now - this.last)
    this.last = Math.max(this.last, now)
    const messages = Math.min(rules.messagesBurst, this.messages + elapsed * rules.messagesPerMs)
    const available = Math.min(rules.bytesBurst, this.bytes + elapsed * rules.bytesPerMs)
    this.messages = messages
    this.bytes = available
    if (messages < 1) return 'messages'
    if (available < bytes) return 'bytes'
    this.messages = messages - 1
    this.bytes = available - bytes
    return 'ok'
  }
}

/**
 * Open connections per client IP. Bounds how many sockets (and the memory
 * and file descriptors behind them) one address can hold. An address whose
 * count drops to 0 is forgotten, so the map only holds connected addresses.
 */
export class IpConnectionCounter {
  private readonly counts = new Map<string, number>()

  /** @param max Connections allowed per IP; `Infinity` turns the limit off. */
  constructor (private readonly max: number) {
    if (!(max === Infinity || (Number.isInteger(max) && max >= 1))) {
      throw new RangeError('max connections per IP must be an integer ≥ 1 or Infinity')
    }
  }

  /** Counts a new connection from `ip`; `false` (and nothing counted) when it is at the limit. */
  acquire (ip: string): boolean {
    const count = this.counts.get(ip) ?? 0
    if (count >= this.max) return false
    this.counts.set(ip, count + 1)
    return true
  }

  /** Releases one connection from `ip`. Releasing more than was acquired is a no-op. */
  release (ip: string): void {
    const count = this.counts.get(ip)
    if (count === undefined) return
    if (count <= 1) this.counts.delete(ip)
    else this.counts.set(ip, count - 1)
  }

  /** Connections allowed per IP. */
  get limit (): number {
    return this.max
  }

  count (ip: string): number {
    return this.counts.get(ip) ?? 0
  }

  /** Number of addresses with at least one connection. */
  get size (): number {
    return this.counts.size
  }
}

/** The rate-limit settings of the configuration a connection's limiter needs. */
export interface AdmissionLimits {
  rateLimitMessagesPerSec: number
  rateLimitBytesPerSec: number
  maxMessageBytes: number
}

/** The rules of every connection's own limiter, from the configuration. */
export function connectionRateRules (limits: AdmissionLimits): RateLimitRules {
  return new RateLimitRules({
    messagesPerSec: limits.rateLimitMessagesPerSec,
    bytesPerSec: limits.rateLimitBytesPerSec,
    // A single frame of the largest allowed size must always be able to pass.
    bytesBurst: Math.max(2 * limits.rateLimitBytesPerSec, limits.maxMessageBytes)
  })
}

/** The close reason for a message a connection's limiter refused. */
export function refusalReason (limits: AdmissionLimits, verdict: Exclude<RateVerdict, 'ok'>): string {
  return verdict === 'messages'
    ? `rate limit: more than ${limits.rateLimitMessagesPerSec} messages/s`
    : `rate limit: more than ${limits.rateLimitBytesPerSec} bytes/s`
}

export interface IdentityLimitOptions {
  /** Sustained messages (WebSocket frames and HTTP requests) per second across all of one identity's connections. */
  messagesPerSec: number
  /** Sustained payload bytes per second across all of one identity's connections and request bodies. */
  bytesPerSec: number
  /** Sustained bytes of document state per second one identity may make the server encode for it (sync answers). */
  syncWorkBytesPerSec: number
  /** Largest single sync answer: the burst of the sync-work bucket is at least this (a first sync must always pass). */
  syncWorkBurstBytes: number
  /** Milliseconds from a monotonic clock, for tests. @default performance.now */
  now?: () => number
}

interface IdentityBuckets {
  messages: TokenBucket
  bytes: TokenBucket
  work: TokenBucket
}

/** Which identity limit a request broke, or `'ok'`. */
export type IdentityVerdict = 'ok' | 'messages' | 'bytes' | 'sync'

/**
 * Rate limits per identity (the authenticated user, or the client address
 * without auth), shared by all of its connections and HTTP requests: ten
 * connections of one user get one budget, not ten. The sync-work bucket
 * bounds the CPU of messages that are cheap to send but expensive to answer
 * (a sync step 1 costs an encoding of the document). Identities whose
 * buckets are full again are forgotten by `sweep`, so memory follows the
 * number of active identities.
 */
export class IdentityLimits {
  private readonly entries = new Map<string, IdentityBuckets>()
  private readonly burstFactor = RATE_LIMIT_DEFAULTS.burstFactor

  constructor (private readonly options: IdentityLimitOptions) {}

  private buckets (identity: string): IdentityBuckets {
    let entry = this.entries.get(identity)
    if (entry === undefined) {
      const { messagesPerSec, bytesPerSec, syncWorkBytesPerSec, syncWorkBurstBytes, now } = this.options
      entry = {
        messages: new TokenBucket({ ratePerSec: messagesPerSec, burst: this.burstFactor * messagesPerSec, now }),
        bytes: new TokenBucket({ ratePerSec: bytesPerSec, burst: this.burstFactor * bytesPerSec, now }),
        work: new TokenBucket({ ratePerSec: syncWorkBytesPerSec, burst: Math.max(this.burstFactor * syncWorkBytesPerSec, syncWorkBurstBytes), now })
      }
      this.entries.set(identity, entry)
    }
    return entry
  }

  /** Accounts for one message (or request) of `bytes` payload bytes. */
  check (identity: string, bytes: number): IdentityVerdict {
    const { messages, bytes: volume } = this.buckets(identity)
    if (messages.available() < 1) return 'messages'
    if (volume.available() < bytes) return 'bytes'
    messages.take(1)
    volume.take(bytes)
    return 'ok'
  }

  /** Spends `cost` bytes of sync work; false (nothing spent) when the identity has used its budget. */
  chargeSync (identity: string, cost: number): boolean {
    const { work } = this.buckets(identity)
    // A request larger than the burst could never pass: cap it, the burst covers the largest document.
    return work.take(Math.min(cost, this.options.syncWorkBurstBytes))
  }

  /** Forgets identities whose buckets have refilled completely (they have been idle). */
  sweep (): void {
    for (const [identity, entry] of this.entries) {
      if (isFull(entry.messages) && isFull(entry.bytes) && isFull(entry.work)) this.entries.delete(identity)
    }
  }

  get size (): number {
    return this.entries.size
  }
}

function isFull (bucket: TokenBucket): boolean {
  return bucket.available() >= bucket.capacity
}
