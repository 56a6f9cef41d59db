import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type * as Y from 'yjs'
import type { Persistence } from '../persistence/types.js'
import type { Access } from './auth.js'
import type { Fanout } from './fanout/types.js'
import { TandemError } from './errors.js'
import { MAX_TIMER_MS } from './timers.js'

export type PersistenceKind = 'leveldb' | 'postgres' | 'memory'

/** What `authenticate` decides for one request (upgrade or HTTP). */
export type AuthResult =
  | { userId: string; access: Access; expiresAtMs?: number }
  | { reject: 401 | 403; code?: string; message?: string }

/** Ways for a host application to extend the server. All are optional. */
export interface Hooks {
  /**
   * Replaces JWT verification: decide who the request is and what it may do
   * with `docName`. Runs before a WebSocket exists.
   */
  authenticate?: (request: IncomingMessage, docName: string) => AuthResult | Promise<AuthResult>
  /** A document was loaded from storage into memory. */
  onLoad?: (event: { docName: string; doc: Y.Doc }) => void
  /** A document changed in memory (before it is stored). */
  onChange?: (event: { docName: string; update: Uint8Array; origin: string }) => void
  /** A batch of updates was stored (and is about to be relayed). */
  onStore?: (event: { docName: string; update: Uint8Array }) => void
}

/**
 * Every option of `createServer`, mirroring the CLI flags. Units are in the
 * names. Each resource limit says what it protects against.
 */
export interface ServerOptions {
  /** Listen port; 0 picks a free one. @default 1234 */
  port?: number
  /** Listen address. @default '0.0.0.0' */
  host?: string
  /** LevelDB directory. @default './data' */
  dataDir?: string
  /** Storage adapter, or an adapter instance. @default 'leveldb' */
  persistence?: PersistenceKind | Persistence
  /** Postgres connection string (for `persistence: 'postgres'`). */
  databaseUrl?: string
  /** Postgres schema for tandem's tables; lets deployments or test runs share a database. @default 'tandem' */
  databaseSchema?: string
  /** Redis URL; turns on multi-instance fan-out. */
  redisUrl?: string
  /** Prefix of every Redis channel and key; lets clusters or test runs share a Redis. @default 'tandem:' */
  redisKeyPrefix?: string
  /** How often the instance refreshes its Redis heartbeat key. @default 2000 */
  redisHeartbeatMs?: number
  /** An instance silent this long is dead and its clients' presence is removed; must exceed the heartbeat. @default 6000 */
  redisInstanceTtlMs?: number
  /** A fan-out adapter instance (instead of `redisUrl`). */
  fanout?: Fanout
  /** HS256 secret; turns on JWT auth. */
  authSecret?: string
  /** PEM public key (RS256/ES256); turns on JWT auth with tokens signed elsewhere. */
  authPublicKey?: string
  /** pino level, or a pino logger to use. @default 'info' */
  logLevel?: string
  logger?: Logger
  /** Largest frame or HTTP body accepted; bounds the memory one message can take. @default 8 MiB */
  maxMessageBytes?: number
  /**
   * Open sockets per client address; bounds the sockets, file descriptors and
   * memory one host can hold. High enough for a company behind one NAT
   * (thousands of people with a few tabs each); behind a proxy, set
   * `trustProxy` so clients are told apart. Give the process a file
   * descriptor limit above it (`LimitNOFILE`, `ulimit -n`). @default 10000
   */
  maxConnectionsPerIp?: number
  /** Messages per second per connection (burst 2×); bounds CPU one client can take. @default 1000 */
  rateLimitMessagesPerSec?: number
  /** Bytes per second per connection (burst 2×); bounds bandwidth one client can take. @default 8 MiB */
  rateLimitBytesPerSec?: number
  /**
   * Unsent bytes per connection before it is dropped as a slow consumer;
   * bounds send-queue memory. A connection's first sync answer (up to
   * `maxDocumentBytes`) comes on top, so a large document never locks out
   * the clients that open it. @default 16 MiB
   */
  maxBufferedBytes?: number
  /**
   * Largest document, as the size of its encoded state. Bounds the memory
   * and storage one writer can make a document take, and the size of every
   * first sync. An update that would grow a document past it is refused
   * (close 1009 / HTTP 413); deletions are always accepted. @default 16 MiB
   */
  maxDocumentBytes?: number
  /**
   * Deepest nesting of shared types (a map in a map in a map…) an update may
   * create. Yjs walks nested types recursively when it deletes and
   * garbage-collects them; a deep enough chain overflows the stack and would
   * make a document impossible to load. Real editors nest a few dozen
   * levels at most (a list nested ten levels deep in ProseMirror is 22).
   * Refused with close 1007 / HTTP 400. @default 128
   */
  maxNestingDepth?: number
  /**
   * Deepest nesting of arrays and objects inside a value stored in a
   * document (a map entry, an array element, an embed): lib0 encodes and
   * decodes them recursively. Refused with close 1007 / HTTP 400. @default 128
   */
  maxValueDepth?: number
  /** Largest awareness state of one client, in bytes of JSON; bounds presence memory per client. @default 32 KiB */
  maxAwarenessStateBytes?: number
  /** Awareness client ids one connection may control (a stock client uses one); bounds presence entries per socket. @default 8 */
  maxAwarenessClientsPerConnection?: number
  /** Awareness bytes one document may hold across all its clients; bounds presence memory per document. @default 8 MiB */
  maxAwarenessBytesPerDoc?: number
  /**
   * How long the client id of a departed awareness client stays reserved for
   * the same identity, so that nobody else can claim it before its owner
   * reconnects. @default 30000
   */
  awarenessReclaimMs?: number
  /**
   * Messages per second (WebSocket frames plus HTTP requests) one identity
   * may send across all its connections: the user with auth, the client
   * address without. Bounds what many connections of one user can do
   * together. @default 2000
   */
  identityMessagesPerSec?: number
  /** Payload bytes per second one identity may send across all its connections and request bodies. @default 16 MiB */
  identityBytesPerSec?: number
  /**
   * Bytes of document state per second the server encodes for one identity
   * (sync answers, HTTP reads). A sync request is a few bytes but costs an
   * encoding of the whole document: this bounds the CPU of such floods.
   * Answers the server already has at hand cost nothing. @default 8 MiB
   */
  syncWorkBytesPerSec?: number
  /**
   * Most operations in one JSON Patch (`PATCH /docs/:name`); bounds the work
   * one request can ask for. @default 1000
   */
  maxPatchOperations?: number
  /**
   * A socket that has not completed an HTTP request (or upgrade) within this
   * time is closed; bounds sockets (and file descriptors) held by clients
   * that connect and never speak. @default 10000
   */
  idleSocketTimeoutMs?: number
  /**
   * Bytes a connection may have waiting: sent while its document loads,
   * before its own sync reply when its updates depend on it, or while its
   * frames wait for the next slice of the event loop. Bounds memory held by
   * a client that never completes. @default 8 MiB
   */
  maxPendingBytes?: number
  /** How long a document may take to load before its clients are closed (they retry). @default 30000 */
  loadTimeoutMs?: number
  /** Liveness sweep interval: a peer silent since the last sweep is pinged, and closed if it answered neither that ping nor with any frame by the next. @default 30000 */
  pingIntervalMs?: number
  /** Stored updates per document before a background compaction merges them. @default 500 */
  compactAfterUpdates?: number
  /**
   * Take the client address from the last `X-Forwarded-For` entry, the one the
   * proxy in front of tandem appended (only behind exactly one proxy you run;
   * earlier entries are whatever the client sent). @default false
   */
  trustProxy?: boolean
  /** Browser origins allowed to open WebSockets; unset allows all. */
  allowedOrigins?: string[]
  /** Longest document name in UTF-8 bytes. @default 512 */
  maxDocNameBytes?: number
  /** TCP listen backlog, so a connection storm is queued rather than dropped. @default 4096 */
  backlog?: number
  /**
   * An automatic version of a document is taken once it has been changed
   * and then left alone this long. 0 turns automatic versions off.
   * @default 30000
   */
  historyIdleMs?: number
  /** …and at least this often while changes go on. @default 600000 */
  historyMaxIntervalMs?: number
  /**
   * Automatic versions kept per document; the oldest go first. Bounds the
   * storage automatic versions take. @default 100
   */
  historyKeep?: number
  /**
   * Named and backup versions one document may keep (a restore makes a
   * backup). Bounds what a write-grant holder can make a document store by
   * creating versions (or restoring) in a loop; beyond it, creating or
   * restoring answers 409 until versions are deleted. @default 1000
   */
  historyMaxNamedVersions?: number
  /** Longest version label, in characters. Bounds what one label can store. @default 200 */
  historyMaxLabelChars?: number
  /**
   * Version writes (create, restore, delete) per minute one identity may
   * make, across documents. Each costs a snapshot or a diff of the whole
   * document and a storage write: this bounds the CPU and storage churn
   * of a write-grant holder doing it in a loop. @default 60
   */
  historyWritesPerMinute?: number
  /** Webhook called (debounced per document) after a document changes. */
  webhookUrl?: string
  /** HMAC-SHA256 secret for the webhook signature header. */
  webhookSecret?: string
  hooks?: Hooks
}

export const DEFAULTS = Object.freeze({
  port: 1234,
  host: '0.0.0.0',
  dataDir: './data',
  persistence: 'leveldb' as PersistenceKind,
  logLevel: 'info',
  maxMessageBytes: 8 * 1024 * 1024,
  maxConnectionsPerIp: 10_000,
  rateLimitMessagesPerSec: 1000,
  rateLimitBytesPerSec: 8 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxDocumentBytes: 16 * 1024 * 1024,
  maxNestingDepth: 128,
  maxValueDepth: 128,
  maxAwarenessStateBytes: 32 * 1024,
  maxAwarenessClientsPerConnection: 8,
  maxAwarenessBytesPerDoc: 8 * 1024 * 1024,
  awarenessReclaimMs: 30_000,
  identityMessagesPerSec: 2000,
  identityBytesPerSec: 16 * 1024 * 1024,
  syncWorkBytesPerSec: 8 * 1024 * 1024,
  idleSocketTimeoutMs: 10_000,
  maxPatchOperations: 1000,
  maxPendingBytes: 8 * 1024 * 1024,
  loadTimeoutMs: 30_000,
  pingIntervalMs: 30_000,
  compactAfterUpdates: 500,
  trustProxy: false,
  maxDocNameBytes: 512,
  backlog: 4096,
  historyIdleMs: 30_000,
  historyMaxIntervalMs: 600_000,
  historyKeep: 100,
  historyMaxNamedVersions: 1000,
  historyMaxLabelChars: 200,
  historyWritesPerMinute: 60
})

export type { Access }

export type Config = Readonly<typeof DEFAULTS & Omit<ServerOptions, keyof typeof DEFAULTS> & {
  persistence: PersistenceKind | Persistence
  hooks: Hooks
}>

const positiveIntegers = [
  'maxMessageBytes', 'maxConnectionsPerIp', 'rateLimitMessagesPerSec', 'rateLimitBytesPerSec',
  'maxBufferedBytes', 'maxPendingBytes', 'loadTimeoutMs', 'pingIntervalMs', 'compactAfterUpdates',
  'maxDocNameBytes', 'backlog', 'maxDocumentBytes', 'maxNestingDepth', 'maxValueDepth', 'maxAwarenessStateBytes',
  'maxAwarenessClientsPerConnection', 'maxAwarenessBytesPerDoc', 'awarenessReclaimMs', 'identityMessagesPerSec',
  'identityBytesPerSec', 'syncWorkBytesPerSec', 'idleSocketTimeoutMs', 'maxPatchOperations', 'historyMaxIntervalMs', 'historyKeep',
  'historyMaxNamedVersions', 'historyMaxLabelChars', 'historyWritesPerMinute'
] as const

/** Options that become timers: Node fires a longer delay after 1 ms. */
const TIMER_OPTIONS = ['pingIntervalMs', 'loadTimeoutMs', 'redisHeartbeatMs', 'redisInstanceTtlMs', 'idleSocketTimeoutMs', 'awarenessReclaimMs'] as const

/** Fills defaults, validates, rejects contradictions, and freezes. */
export function resolveConfig (options: ServerOptions = {}): Config {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  const config = { ...DEFAULTS, ...defined, hooks: options.hooks ?? {} } as Config
  const invalid = (message: string): never => { throw new TandemError('CONFIG_INVALID', message) }
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) invalid(`port must be an integer from 0 to 65535, got ${String(options.port)}`)
  for (const key of positiveIntegers) {
    const value = config[key]
    if (!Number.isInteger(value) || value <= 0) invalid(`${key} must be a positive integer, got ${String(value)}`)
  }
  if (typeof config.persistence === 'string' && !['leveldb', 'postgres', 'memory'].includes(config.persistence)) {
    invalid(`persistence must be leveldb, postgres or memory, got ${config.persistence}`)
  }
  if (config.persistence === 'postgres' && !config.databaseUrl) invalid('persistence postgres needs a database URL (--database-url or DATABASE_URL)')
  if (config.authSecret !== undefined && config.authPublicKey !== undefined) invalid('set either an auth secret (HS256) or a public key (RS256/ES256), not both')
  if (config.authSecret !== undefined && config.authSecret.length < 16) invalid('the auth secret must be at least 16 characters')
  if (config.redisUrl !== undefined && config.fanout !== undefined) invalid('set either redisUrl or a fanout adapter, not both')
  for (const key of ['redisHeartbeatMs', 'redisInstanceTtlMs'] as const) {
    const value = config[key]
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) invalid(`${key} must be a positive integer, got ${String(value)}`)
  }
  if ((config.redisInstanceTtlMs ?? 6000) <= (config.redisHeartbeatMs ?? 2000)) invalid('redisInstanceTtlMs must be greater than redisHeartbeatMs')
  if (config.webhookSecret !== undefined && config.webhookUrl === undefined) invalid('a webhook secret needs a webhook URL')
  // 0 turns automatic versions off; anything else is a period (history timers wait past the timer limit in steps).
  if (!Number.isInteger(config.historyIdleMs) || config.historyIdleMs < 0) invalid(`historyIdleMs must be 0 (off) or a positive integer, got ${String(config.historyIdleMs)}`)
  if (config.webhookSecret === '') invalid('the webhook secret is empty')
  if (config.webhookUrl !== undefined && !/^https?:\/\/[^/]/i.test(config.webhookUrl)) invalid(`the webhook URL must be an absolute http(s) URL, got ${JSON.stringify(config.webhookUrl)}`)
  for (const key of TIMER_OPTIONS) {
    const value = config[key]
    if (typeof value === 'number' && value > MAX_TIMER_MS) invalid(`${key} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${value}`)
  }
  if (config.maxBufferedBytes < config.maxMessageBytes) invalid(`maxBufferedBytes (${config.maxBufferedBytes}) must be at least maxMessageBytes (${config.maxMessageBytes}), or relaying one accepted message would drop its receivers as slow consumers`)
  return Object.freeze(config)
}
