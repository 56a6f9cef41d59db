#!/usr/bin/env node
/**
 * `tandem serve`: flags and environment → config → server. The only module
 * that touches `process` (argv, env, signals, exit).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createServer } from './server.js'
import type { ServerOptions } from './config.js'
import { DEFAULTS } from './config.js'

interface FlagSpec {
  flag: string
  env?: string
  option: keyof ServerOptions | 'authPublicKeyFile'
  type: 'string' | 'int' | 'bool' | 'list'
  help: string
}

const FLAGS: FlagSpec[] = [
  { flag: 'port', env: 'PORT', option: 'port', type: 'int', help: `listen port (default ${DEFAULTS.port})` },
  { flag: 'host', env: 'HOST', option: 'host', type: 'string', help: `listen address (default ${DEFAULTS.host})` },
  { flag: 'data', env: 'TANDEM_DATA_DIR', option: 'dataDir', type: 'string', help: `LevelDB directory (default ${DEFAULTS.dataDir})` },
  { flag: 'persistence', env: 'TANDEM_PERSISTENCE', option: 'persistence', type: 'string', help: 'leveldb, postgres or memory (default leveldb)' },
  { flag: 'database-url', env: 'DATABASE_URL', option: 'databaseUrl', type: 'string', help: 'Postgres connection string' },
  { flag: 'database-schema', env: 'TANDEM_DATABASE_SCHEMA', option: 'databaseSchema', type: 'string', help: 'Postgres schema for the tables (default tandem)' },
  { flag: 'redis', env: 'REDIS_URL', option: 'redisUrl', type: 'string', help: 'Redis URL: turns on multi-instance fan-out' },
  { flag: 'redis-prefix', env: 'TANDEM_REDIS_PREFIX', option: 'redisKeyPrefix', type: 'string', help: 'prefix of Redis channels and keys (default tandem:)' },
  { flag: 'redis-heartbeat-ms', env: 'TANDEM_REDIS_HEARTBEAT_MS', option: 'redisHeartbeatMs', type: 'int', help: 'instance heartbeat interval (default 2000)' },
  { flag: 'redis-instance-ttl-ms', env: 'TANDEM_REDIS_INSTANCE_TTL_MS', option: 'redisInstanceTtlMs', type: 'int', help: 'an instance silent this long is dead (default 6000)' },
  { flag: 'auth-secret', env: 'TANDEM_AUTH_SECRET', option: 'authSecret', type: 'string', help: 'HS256 secret: turns on JWT auth' },
  { flag: 'auth-public-key', env: 'TANDEM_AUTH_PUBLIC_KEY', option: 'authPublicKeyFile', type: 'string', help: 'PEM public key file (RS256/ES256): turns on JWT auth' },
  { flag: 'log-level', env: 'TANDEM_LOG_LEVEL', option: 'logLevel', type: 'string', help: 'trace, debug, info, warn, error, fatal or silent (default info)' },
  { flag: 'max-message-bytes', env: 'TANDEM_MAX_MESSAGE_BYTES', option: 'maxMessageBytes', type: 'int', help: `largest frame or HTTP body (default ${DEFAULTS.maxMessageBytes})` },
  { flag: 'max-connections-per-ip', env: 'TANDEM_MAX_CONNECTIONS_PER_IP', option: 'maxConnectionsPerIp', type: 'int', help: `connections per client address (default ${DEFAULTS.maxConnectionsPerIp})` },
  { flag: 'rate-messages', env: 'TANDEM_RATE_MESSAGES', option: 'rateLimitMessagesPerSec', type: 'int', help: `messages/s per connection, burst 2x (default ${DEFAULTS.rateLimitMessagesPerSec})` },
  { flag: 'rate-bytes', env: 'TANDEM_RATE_BYTES', option: 'rateLimitBytesPerSec', type: 'int', help: `bytes/s per connection, burst 2x (default ${DEFAULTS.rateLimitBytesPerSec})` },
  { flag: 'max-buffered-bytes', env: 'TANDEM_MAX_BUFFERED_BYTES', option: 'maxBufferedBytes', type: 'int', help: `unsent bytes before a slow consumer is dropped (default ${DEFAULTS.maxBufferedBytes})` },
  { flag: 'ping-interval-ms', env: 'TANDEM_PING_INTERVAL_MS', option: 'pingIntervalMs', type: 'int', help: `ping interval; dead peers are closed (default ${DEFAULTS.pingIntervalMs})` },
  { flag: 'load-timeout-ms', env: 'TANDEM_LOAD_TIMEOUT_MS', option: 'loadTimeoutMs', type: 'int', help: `longest a document may take to load (default ${DEFAULTS.loadTimeoutMs})` },
  { flag: 'compact-after', env: 'TANDEM_COMPACT_AFTER', option: 'compactAfterUpdates', type: 'int', help: `stored updates per document before compaction (default ${DEFAULTS.compactAfterUpdates})` },
  { flag: 'trust-proxy', env: 'TANDEM_TRUST_PROXY', option: 'trustProxy', type: 'bool', help: 'take the client address from X-Forwarded-For (only behind your own proxy)' },
  { flag: 'allowed-origins', env: 'TANDEM_ALLOWED_ORIGINS', option: 'allowedOrigins', type: 'list', help: 'comma-separated browser origins allowed to connect (default: all)' },
  { flag: 'webhook-url', env: 'TANDEM_WEBHOOK_URL', option: 'webhookUrl', type: 'string', help: 'POST {doc, updatedAt} here after a document changes (debounced)' },
  { flag: 'webhook-secret', env: 'TANDEM_WEBHOOK_SECRET', option: 'webhookSecret', type: 'string', help: 'HMAC-SHA256 secret for the webhook signature header' }
]

function usage (): string {
  const lines = FLAGS.map((f) => `  --${f.flag.padEnd(24)} ${f.help}${f.env ? ` [env ${f.env}]` : ''}`)
  return `Usage: tandem serve [flags]\n\nServes Yjs documents over the y-websocket protocol.\n\nFlags:\n${lines.join('\n')}\n  --help                     show this help\n`
}

export function optionsFromCli (argv: string[], env: NodeJS.ProcessEnv): ServerOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(FLAGS.map((f) => [f.flag, { type: f.type === 'bool' ? 'boolean' : 'string' }]))
    } as Record<string, { type: 'boolean' | 'string'; short?: string }>
  })
  if (values.help === true) return 'help'
  const command = positionals[0] ?? 'serve'
  if (command !== 'serve' || positionals.length > 1) throw new Error(`unknown command: ${positionals.join(' ')} (try: tandem serve --help)`)
  const options: Record<string, unknown> = {}
  for (const f of FLAGS) {
    const raw = values[f.flag] ?? (f.env !== undefined ? env[f.env] : undefined)
    if (raw === undefined || raw === '') continue
    switch (f.type) {
      case 'int': {
        const n = Number(raw)
        if (!Number.isInteger(n)) throw new Error(`--${f.flag} needs an integer, got "${String(raw)}"`)
        options[f.option] = n
        break
      }
      case 'bool':
        options[f.option] = raw === true || raw === 'true' || raw === '1'
        break
      case 'list':
        options[f.option] = String(raw).split(',').map((s) => s.trim()).filter(Boolean)
        break
      default:
        options[f.option] = raw
    }
  }
  if (typeof options.authPublicKeyFile === 'string') {
    options.authPublicKey = readFileSync(options.authPublicKeyFile, 'utf8')
    delete options.authPublicKeyFile
  }
  return options as ServerOptions
}

async function main (): Promise<void> {
  let options: ServerOptions | 'help'
  try {
    options = optionsFromCli(process.argv.slice(2), process.env)
  } catch (err) {
    process.stderr.write(`tandem: ${(err as Error).message}\n`)
    process.exit(2)
  }
  if (options === 'help') {
    process.stdout.write(usage())
    return
  }
  let server
  try {
    server = createServer(options)
    const { url } = await server.listen()
    // The readiness line is part of the contract, whatever the log level.
    if (!server.logger.isLevelEnabled('info')) process.stdout.write(`tandem listening on ${url}\n`)
  } catch (err) {
    process.stderr.write(`tandem: ${(err as Error).message}\n`)
    if (server !== undefined) await server.close().catch(() => {})
    process.exit(1)
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    server.logger.info({ signal }, 'shutting down')
    server.close().then(() => process.exit(0), (err) => {
      server.logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

void main()
