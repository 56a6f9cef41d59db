/**
 * Resource limits as small pure pieces: token buckets, a per-IP connection
 * counter, document-name and origin rules. Clocks are injectable so tests
 * never sleep; nothing here holds a timer.
 */
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { performance } from 'node:perf_hooks'

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
    this.now = opts.now ?? (() => performance.now())
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
 * The per-connection rate limit: a message bucket and a byte bucket. A
 * message passes only if both have room, and then spends from both; a
 * refused message spends nothing, so the caller may drop it or close.
 */
export class ConnectionRateLimiter {
  private readonly messages: TokenBucket
  private readonly bytes: TokenBucket

  constructor (opts: RateLimitOptions = {}) {
    const { burstFactor } = RATE_LIMIT_DEFAULTS
    const messagesPerSec = opts.messagesPerSec ?? RATE_LIMIT_DEFAULTS.messagesPerSec
    const bytesPerSec = opts.bytesPerSec ?? RATE_LIMIT_DEFAULTS.bytesPerSec
    this.messages = new TokenBucket({
      ratePerSec: messagesPerSec,
      burst: opts.messagesBurst ?? Math.max(1, burstFactor * messagesPerSec),
      now: opts.now
    })
    this.bytes = new TokenBucket({ ratePerSec: bytesPerSec, burst: opts.bytesBurst ?? burstFactor * bytesPerSec, now: opts.now })
  }

  /** Accounts for one incoming message of `bytes` bytes. */
  check (bytes: number): RateVerdict {
    if (this.messages.available() < 1) return 'messages'
    if (this.bytes.available() < bytes) return 'bytes'
    this.messages.take(1)
    this.bytes.take(bytes)
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

  count (ip: string): number {
    return this.counts.get(ip) ?? 0
  }

  /** Number of addresses with at least one connection. */
  get size (): number {
    return this.counts.size
  }
}

/**
 * The address a connection is counted and rate-limited under.
 *
 * Without `trustProxy`: the socket's peer address, which a client cannot forge.
 * With `trustProxy`: tandem sits behind exactly one reverse proxy, and the
 * client is the last `X-Forwarded-For` entry, the one that proxy appended.
 * Earlier entries come from whatever the client sent and are not trusted, or
 * any client could pick a fresh identity per connection and escape per-IP limits.
 * IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are reduced to IPv4 so a
 * dual-stack client is one key, not two.
 */
export function clientIp (req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for']
    const joined = Array.isArray(header) ? header.join(',') : header
    if (joined) {
      const entries = joined.split(',')
      const last = entries[entries.length - 1]!.trim()
      if (isIP(last) !== 0) return normalizeIp(last)
    }
  }
  return normalizeIp(req.socket?.remoteAddress ?? 'unknown')
}

function normalizeIp (ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  return mapped ? mapped[1]! : ip.toLowerCase()
}

/** A request path that is not a valid percent-encoded document name. */
export class DocNameError extends Error {
  readonly code = 'DOC_NAME_MALFORMED'
  /** HTTP status for the upgrade or the HTTP route. */
  readonly status = 400

  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DocNameError'
  }
}

/**
 * The document name in a request path: everything after the leading `/`,
 * percent-decoded (the y-websocket convention: provider URL + `/` + room
 * name; slashes inside are part of the name). A query string, if present, is
 * ignored, so `req.url` can be passed as it is. Throws `DocNameError` on
 * malformed percent-encoding or bytes that are not UTF-8.
 */
export function docNameFromPath (pathname: string): string {
  const q = pathname.indexOf('?')
  const path = q === -1 ? pathname : pathname.slice(0, q)
  const raw = path.startsWith('/') ? path.slice(1) : path
  try {
    return decodeURIComponent(raw)
  } catch (err) {
    throw new DocNameError('document name is not valid percent-encoded UTF-8', { cause: err })
  }
}

// C0 controls, DEL and C1 controls. They have no place in a name, and they
// corrupt log lines and terminals the name is printed to.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001F\u007F-\u009F]/
// A surrogate half without its partner. It cannot be encoded as UTF-8, so two
// different names would end up as the same stored key.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export type DocNameCheck = { ok: true } | { ok: false; reason: string }

/**
 * Checks a decoded document name: not empty, at most `maxLength` UTF-8
 * bytes, no control characters, well-formed Unicode.
 *
 * @param maxLength Longest name in UTF-8 bytes. Bounds the memory and storage
 *   keys a client can create per document and the size of every log line
 *   and metric label that names it. @default 512
 */
export function validateDocName (name: string, maxLength = 512): DocNameCheck {
  if (name.length === 0) return { ok: false, reason: 'document name is empty' }
  // UTF-16 length ≤ UTF-8 length, so a name this long in code units is too
  // long in bytes too: no need to measure a huge string.
  if (name.length > maxLength || Buffer.byteLength(name, 'utf8') > maxLength) {
    return { ok: false, reason: `document name is longer than ${maxLength} bytes` }
  }
  if (CONTROL_CHARS.test(name)) return { ok: false, reason: 'document name contains a control character' }
  if (LONE_SURROGATE.test(name)) return { ok: false, reason: 'document name is not well-formed Unicode' }
  return { ok: true }
}

/**
 * Whether a browser page from `origin` may open a connection. Bounds
 * cross-site WebSocket hijacking: browsers send cookies and ambient
 * credentials with any page's WebSocket, and only the Origin header tells
 * which page asked.
 *
 * - No list: every origin is allowed.
 * - No Origin header: allowed. It is a non-browser client, which could send
 *   any Origin it liked anyway; the token is what authenticates it.
 * - Otherwise the origin must match an entry:
 *   `https://app.example.com` (exact scheme, host and port; default ports may
 *   be written or left out), `https://*.example.com` (any subdomain, not the
 *   apex, this scheme and port), `*.example.com` (any subdomain, any scheme
 *   and port) or `*` (anything).
 * An empty list allows only clients that send no Origin.
 */
export function isOriginAllowed (origin: string | undefined, allowList: string[] | undefined): boolean {
  if (allowList === undefined || origin === undefined) return true
  const parsed = parseOrigin(origin)
  for (const entry of allowList) {
    if (entry === '*') return true
    if (originMatches(parsed, origin, entry.trim())) return true
  }
  return false
}

interface ParsedOrigin { scheme: string; host: string; port: string; origin: string }

function parseOrigin (s: string): ParsedOrigin | undefined {
  try {
    const url = new URL(s)
    // Non-special schemes (and the literal `null` of sandboxed frames) have
    // an opaque origin; they only match an identical entry.
    if (url.origin === 'null') return undefined
    return { scheme: url.protocol, host: url.hostname, port: url.port, origin: url.origin }
  } catch {
    return undefined
  }
}

function originMatches (parsed: ParsedOrigin | undefined, raw: string, entry: string): boolean {
  if (parsed === undefined) return raw === entry
  const star = entry.indexOf('*.')
  if (star === -1) return parseOrigin(entry)?.origin === parsed.origin
  if (star === 0) {
    // `*.example.com`: any scheme and port.
    return isSubdomain(parsed.host, entry.slice(2))
  }
  // `https://*.example.com[:port]`: put a placeholder label in for the star so
  // the URL parser normalises scheme, case and default port as for any origin.
  if (entry.slice(0, star).endsWith('://')) {
    const pattern = parseOrigin(entry.slice(0, star) + 'x.' + entry.slice(star + 2))
    if (pattern === undefined) return false
    return pattern.scheme === parsed.scheme && pattern.port === parsed.port &&
      isSubdomain(parsed.host, pattern.host.slice(2))
  }
  return false
}

function isSubdomain (host: string, parent: string): boolean {
  const suffix = '.' + parent.toLowerCase()
  // The label boundary matters: `*.example.com` must not match `evilexample.com`.
  return host.length > suffix.length && host.endsWith(suffix)
}
