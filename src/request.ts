/**
 * Reading a request: the document name in its path, the client address, its
 * Origin and its token. Pure functions over what arrived; deciding what the
 * request may do is `authorize.ts`'s job, limiting it `limits.ts`'s.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

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

/** The normalised peer address of a socket (no header is consulted). */
export function socketAddress (socket: { remoteAddress?: string }): string {
  return normalizeIp(socket.remoteAddress ?? 'unknown')
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
  return decodeDocName(path.startsWith('/') ? path.slice(1) : path)
}

/**
 * A percent-encoded document name as it appears after the route's prefix
 * (`/docs/…` over HTTP, `/` over WebSocket): decoded as is, so `//x` over
 * WebSocket and `/docs//x` over HTTP both name `/x`.
 */
export function decodeDocName (raw: string): string {
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

/** The name grants use for "every document" and the admin routes check: never a document's name. */
export const RESERVED_NAME = '*'

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
  if (name === RESERVED_NAME) return { ok: false, reason: 'the document name "*" is reserved (it stands for every document in grants)' }
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

/**
 * The bearer token of an HTTP request: `?token=` (what the stock y-websocket
 * client can send through its `params` option) first, then
 * `Authorization: Bearer <token>`. `undefined` when there is none.
 */
export function tokenFromRequest (req: { url?: string; headers: IncomingHttpHeaders }): string | undefined {
  const url = req.url ?? ''
  const q = url.indexOf('?')
  if (q !== -1) {
    const token = new URLSearchParams(url.slice(q + 1)).get('token')
    if (token) return token
  }
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}
