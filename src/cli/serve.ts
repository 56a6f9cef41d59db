/**
 * `tandem serve`: checks everything it can before it listens, so that a bad
 * flag is one line naming the flag, then starts the server and logs one
 * start-up summary.
 *
 * Storage and Redis are opened here rather than by `createServer`: the CLI
 * can then tell "directory in use", "not writable" and "Redis unreachable"
 * apart and name the flag, and it bounds the Redis wait at start-up.
 */
import { createPublicKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { Persistence } from '../../persistence/types.js'
import { DEFAULTS, type ServerOptions } from '../config.js'
import type { Fanout } from '../fanout/types.js'
import type { TandemServer } from '../server.js'
import { CliError, systemReason, UsageError } from './errors.js'
import type { ServeInvocation } from './flags.js'
import { describeStorage, openStorage, withoutPassword } from './storage.js'

/** How long `serve` waits for Redis at start-up before it gives up. */
export const REDIS_START_TIMEOUT_MS = 3000

export interface Started {
  server: TandemServer
  logger: Logger
  url: string
}

export interface ServeEnvironment {
  version: string
  /** Whether standard output is a terminal (picks the default log format). */
  stdoutIsTTY: boolean
}

/** Starts the server; rejects with a `CliError` when something is unusable. Closes what it opened on failure. */
export async function startServer (inv: ServeInvocation, environment: ServeEnvironment): Promise<Started> {
  const authPublicKey = inv.authPublicKeyFile === undefined ? undefined : await readPublicKey(inv.authPublicKeyFile, inv.labels.authPublicKeyFile)
  let persistence: Persistence | undefined
  let fanout: Fanout | undefined
  let server: TandemServer | undefined
  try {
    // Storage first, before the server's modules load: a directory in use
    // or not writable is then reported within a fraction of a second.
    persistence = await openStorage(inv.storage)
    const [{ createCliLogger }, { createServer }] = await Promise.all([import('./logger.js'), import('../server.js')])
    const format = inv.logFormat ?? (environment.stdoutIsTTY ? 'pretty' : 'json')
    const logger = createCliLogger({ level: inv.options.logLevel ?? DEFAULTS.logLevel, format, colorize: environment.stdoutIsTTY })
    if (inv.options.redisUrl !== undefined) fanout = await openRedis(inv, logger)
    const { redisUrl, redisKeyPrefix, redisHeartbeatMs, redisInstanceTtlMs, dataDir, databaseUrl, databaseSchema, ...rest } = inv.options
    const options: ServerOptions = { ...rest, persistence, fanout, logger, authPublicKey }
    try {
      server = createServer(options)
    } catch (err) {
      throw (err as { code?: string }).code === 'CONFIG_INVALID' ? new UsageError((err as Error).message) : err
    }
    const { url } = await listen(server, inv)
    logger.info(summary(inv, url, environment.version, authPublicKey), `tandem ${environment.version} ready: ${url}`)
    return { server, logger, url }
  } catch (err) {
    // The server owns storage and fan-out once it exists.
    if (server !== undefined) await server.close().catch(() => {})
    else {
      await fanout?.close().catch(() => {})
      await persistence?.close().catch(() => {})
    }
    throw err
  }
}

async function readPublicKey (file: string, label: string): Promise<string> {
  const { createVerifier } = await import('../auth.js')
  let pem: string
  try {
    pem = await readFile(file, 'utf8')
  } catch (err) {
    throw new CliError(`${label} ${file}: cannot read the key file: ${systemReason(err)}`, 1, { cause: err })
  }
  try {
    createVerifier({ publicKeyPem: pem })
  } catch (err) {
    throw new CliError(`${label} ${file}: ${(err as Error).message}`, 1, { cause: err })
  }
  return pem
}

async function openRedis (inv: ServeInvocation, logger: Logger): Promise<Fanout> {
  const { RedisFanout } = await import('../fanout/redis.js')
  const url = inv.options.redisUrl as string
  try {
    return await RedisFanout.open({
      url,
      keyPrefix: inv.options.redisKeyPrefix,
      heartbeatMs: inv.options.redisHeartbeatMs,
      instanceTtlMs: inv.options.redisInstanceTtlMs,
      connectTimeoutMs: REDIS_START_TIMEOUT_MS,
      logger
    })
  } catch (err) {
    const reason = ((err as Error).message ?? String(err)).replace(/^redis fan-out: cannot reach [^:]+:\/\/\S+: /, '')
    throw new CliError(`${inv.labels.redisUrl} ${withoutPassword(url)}: Redis is not reachable (${reason}); tandem does not start without the fan-out it was asked for`, 1, { cause: err })
  }
}

async function listen (server: TandemServer, inv: ServeInvocation): Promise<{ url: string }> {
  try {
    return await server.listen()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const where = `${inv.options.host ?? DEFAULTS.host}:${inv.options.port ?? DEFAULTS.port}`
    if (e.code === 'EADDRINUSE') throw new CliError(`${inv.labels.port} ${inv.options.port ?? DEFAULTS.port}: ${where} is already in use by another process`, 1, { cause: err })
    if (e.code === 'EACCES') throw new CliError(`${inv.labels.port} ${inv.options.port ?? DEFAULTS.port}: not allowed to listen on ${where} (ports below 1024 need privileges)`, 1, { cause: err })
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new CliError(`${inv.labels.host} ${inv.options.host ?? ''}: not an address of this machine`, 1, { cause: err })
    throw err
  }
}

/** Options a person tuned: the limits that differ from the defaults, by flag. */
const LIMIT_KEYS = [
  'maxMessageBytes', 'maxConnectionsPerIp', 'rateLimitMessagesPerSec', 'rateLimitBytesPerSec', 'maxBufferedBytes',
  'pingIntervalMs', 'loadTimeoutMs', 'compactAfterUpdates', 'trustProxy', 'allowedOrigins'
] as const

function summary (inv: ServeInvocation, url: string, version: string, authPublicKey: string | undefined): Record<string, unknown> {
  const o = inv.options
  const defaults = DEFAULTS as Record<string, unknown>
  const limits: Record<string, unknown> = {}
  for (const key of LIMIT_KEYS) {
    const value = o[key]
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(defaults[key])) limits[inv.labels[key]] = value
  }
  let auth = 'off (every document is open to everyone who can reach this server)'
  if (o.authSecret !== undefined) auth = 'JWT HS256 (shared secret)'
  else if (authPublicKey !== undefined) auth = `JWT ${keyAlgorithm(authPublicKey)} (public key ${inv.authPublicKeyFile ?? ''})`
  const cluster = o.redisUrl === undefined
    ? 'off (one instance)'
    : `redis ${withoutPassword(o.redisUrl)}, prefix ${o.redisKeyPrefix ?? 'tandem:'}`
  return {
    version,
    url,
    health: `${url.replace(/^ws/, 'http')}/healthz`,
    storage: describeStorage(inv.storage),
    auth,
    cluster,
    limits: Object.keys(limits).length === 0 ? 'defaults' : limits,
    ...(o.webhookUrl !== undefined ? { webhook: withoutPassword(o.webhookUrl) } : {})
  }
}

function keyAlgorithm (pem: string): string {
  try {
    return createPublicKey(pem).asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256'
  } catch {
    return 'public key'
  }
}
