/**
 * The command line as data: which commands exist, which flags each takes,
 * their environment variables, and a pure parser from (argv, env) to what to
 * run. Nothing here reads files or opens connections, so every usage error is
 * found before anything is touched, and the parser is tested directly.
 */
import { parseArgs } from 'node:util'
import { DEFAULTS, resolveConfig, type ServerOptions } from '../config.js'
import { UsageError } from './errors.js'

export const COMMANDS = ['serve', 'list', 'export', 'import', 'delete', 'compact'] as const
export type CommandName = typeof COMMANDS[number]

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export const LOG_FORMATS = ['pretty', 'json'] as const
export const PERSISTENCE_KINDS = ['leveldb', 'postgres', 'memory'] as const

export interface FlagSpec {
  flag: string
  env?: string
  /** Where the value goes: a `ServerOptions` field or a command's own field. */
  key: string
  kind: 'string' | 'int' | 'bool' | 'list'
  /** Name of the value in the help text. */
  arg?: string
  short?: string
  choices?: readonly string[]
  min?: number
  max?: number
  help: string
}

const STORAGE_FLAGS: FlagSpec[] = [
  { flag: 'data', env: 'TANDEM_DATA_DIR', key: 'dataDir', kind: 'string', arg: 'DIR', help: `LevelDB directory (default ${DEFAULTS.dataDir})` },
  { flag: 'persistence', env: 'TANDEM_PERSISTENCE', key: 'persistence', kind: 'string', arg: 'KIND', choices: PERSISTENCE_KINDS, help: 'leveldb, postgres or memory (default leveldb)' },
  { flag: 'database-url', env: 'DATABASE_URL', key: 'databaseUrl', kind: 'string', arg: 'URL', help: 'Postgres connection string (for --persistence postgres)' },
  { flag: 'database-schema', env: 'TANDEM_DATABASE_SCHEMA', key: 'databaseSchema', kind: 'string', arg: 'NAME', help: 'Postgres schema for the tables (default tandem)' }
]

const SERVE_FLAGS: FlagSpec[] = [
  { flag: 'port', env: 'PORT', key: 'port', kind: 'int', arg: 'N', min: 0, max: 65535, help: `listen port, 0 picks a free one (default ${DEFAULTS.port})` },
  { flag: 'host', env: 'HOST', key: 'host', kind: 'string', arg: 'ADDR', help: `listen address (default ${DEFAULTS.host})` },
  ...STORAGE_FLAGS,
  { flag: 'redis', env: 'REDIS_URL', key: 'redisUrl', kind: 'string', arg: 'URL', help: 'Redis URL: turns on multi-instance fan-out' },
  { flag: 'redis-prefix', env: 'TANDEM_REDIS_PREFIX', key: 'redisKeyPrefix', kind: 'string', arg: 'PREFIX', help: 'prefix of Redis channels and keys (default tandem:)' },
  { flag: 'redis-heartbeat-ms', env: 'TANDEM_REDIS_HEARTBEAT_MS', key: 'redisHeartbeatMs', kind: 'int', arg: 'MS', min: 1, help: 'instance heartbeat interval (default 2000)' },
  { flag: 'redis-instance-ttl-ms', env: 'TANDEM_REDIS_INSTANCE_TTL_MS', key: 'redisInstanceTtlMs', kind: 'int', arg: 'MS', min: 1, help: 'an instance silent this long is dead (default 6000)' },
  { flag: 'auth-secret', env: 'TANDEM_AUTH_SECRET', key: 'authSecret', kind: 'string', arg: 'SECRET', help: 'HS256 secret (at least 16 characters): turns on JWT auth' },
  { flag: 'auth-public-key', env: 'TANDEM_AUTH_PUBLIC_KEY', key: 'authPublicKeyFile', kind: 'string', arg: 'FILE', help: 'PEM public key file (RS256/ES256): turns on JWT auth' },
  { flag: 'log-level', env: 'TANDEM_LOG_LEVEL', key: 'logLevel', kind: 'string', arg: 'LEVEL', choices: LOG_LEVELS, help: `${LOG_LEVELS.join(', ')} (default info)` },
  { flag: 'log-format', env: 'TANDEM_LOG_FORMAT', key: 'logFormat', kind: 'string', arg: 'FORMAT', choices: LOG_FORMATS, help: 'pretty or json (default: pretty when stdout is a terminal, json otherwise)' },
  { flag: 'max-message-bytes', env: 'TANDEM_MAX_MESSAGE_BYTES', key: 'maxMessageBytes', kind: 'int', arg: 'N', min: 1, help: `largest frame or HTTP body (default ${DEFAULTS.maxMessageBytes})` },
  { flag: 'max-connections-per-ip', env: 'TANDEM_MAX_CONNECTIONS_PER_IP', key: 'maxConnectionsPerIp', kind: 'int', arg: 'N', min: 1, help: `connections per client address (default ${DEFAULTS.maxConnectionsPerIp})` },
  { flag: 'rate-messages', env: 'TANDEM_RATE_MESSAGES', key: 'rateLimitMessagesPerSec', kind: 'int', arg: 'N', min: 1, help: `messages/s per connection, burst 2x (default ${DEFAULTS.rateLimitMessagesPerSec})` },
  { flag: 'rate-bytes', env: 'TANDEM_RATE_BYTES', key: 'rateLimitBytesPerSec', kind: 'int', arg: 'N', min: 1, help: `bytes/s per connection, burst 2x (default ${DEFAULTS.rateLimitBytesPerSec})` },
  { flag: 'max-buffered-bytes', env: 'TANDEM_MAX_BUFFERED_BYTES', key: 'maxBufferedBytes', kind: 'int', arg: 'N', min: 1, help: `unsent bytes before a slow consumer is dropped (default ${DEFAULTS.maxBufferedBytes})` },
  { flag: 'ping-interval-ms', env: 'TANDEM_PING_INTERVAL_MS', key: 'pingIntervalMs', kind: 'int', arg: 'MS', min: 1, help: `liveness sweep interval: peers silent since the last sweep are pinged, dead ones closed (default ${DEFAULTS.pingIntervalMs})` },
  { flag: 'load-timeout-ms', env: 'TANDEM_LOAD_TIMEOUT_MS', key: 'loadTimeoutMs', kind: 'int', arg: 'MS', min: 1, help: `longest a document may take to load (default ${DEFAULTS.loadTimeoutMs})` },
  { flag: 'compact-after', env: 'TANDEM_COMPACT_AFTER', key: 'compactAfterUpdates', kind: 'int', arg: 'N', min: 1, help: `stored updates per document before compaction (default ${DEFAULTS.compactAfterUpdates})` },
  { flag: 'max-document-bytes', env: 'TANDEM_MAX_DOCUMENT_BYTES', key: 'maxDocumentBytes', kind: 'int', arg: 'N', min: 1, help: `largest document (encoded state); growth past it is refused (default ${DEFAULTS.maxDocumentBytes})` },
  { flag: 'max-nesting-depth', env: 'TANDEM_MAX_NESTING_DEPTH', key: 'maxNestingDepth', kind: 'int', arg: 'N', min: 1, help: `deepest nesting of shared types an update may create (default ${DEFAULTS.maxNestingDepth})` },
  { flag: 'max-value-depth', env: 'TANDEM_MAX_VALUE_DEPTH', key: 'maxValueDepth', kind: 'int', arg: 'N', min: 1, help: `deepest nesting of arrays and objects inside a stored value (default ${DEFAULTS.maxValueDepth})` },
  { flag: 'max-awareness-state-bytes', env: 'TANDEM_MAX_AWARENESS_STATE_BYTES', key: 'maxAwarenessStateBytes', kind: 'int', arg: 'N', min: 1, help: `largest awareness state of one client (default ${DEFAULTS.maxAwarenessStateBytes})` },
  { flag: 'max-awareness-clients', env: 'TANDEM_MAX_AWARENESS_CLIENTS', key: 'maxAwarenessClientsPerConnection', kind: 'int', arg: 'N', min: 1, help: `awareness client ids one connection may control (default ${DEFAULTS.maxAwarenessClientsPerConnection})` },
  { flag: 'max-awareness-doc-bytes', env: 'TANDEM_MAX_AWARENESS_DOC_BYTES', key: 'maxAwarenessBytesPerDoc', kind: 'int', arg: 'N', min: 1, help: `awareness bytes one document may hold (default ${DEFAULTS.maxAwarenessBytesPerDoc})` },
  { flag: 'awareness-reclaim-ms', env: 'TANDEM_AWARENESS_RECLAIM_MS', key: 'awarenessReclaimMs', kind: 'int', arg: 'MS', min: 1, help: `how long a departed client's id stays reserved for its user (default ${DEFAULTS.awarenessReclaimMs})` },
  { flag: 'identity-rate-messages', env: 'TANDEM_IDENTITY_RATE_MESSAGES', key: 'identityMessagesPerSec', kind: 'int', arg: 'N', min: 1, help: `messages/s per user (or address without auth) across its connections and HTTP requests (default ${DEFAULTS.identityMessagesPerSec})` },
  { flag: 'identity-rate-bytes', env: 'TANDEM_IDENTITY_RATE_BYTES', key: 'identityBytesPerSec', kind: 'int', arg: 'N', min: 1, help: `bytes/s per user across its connections and HTTP requests (default ${DEFAULTS.identityBytesPerSec})` },
  { flag: 'sync-work-bytes', env: 'TANDEM_SYNC_WORK_BYTES', key: 'syncWorkBytesPerSec', kind: 'int', arg: 'N', min: 1, help: `bytes of document state per second encoded for one user's sync requests and reads (default ${DEFAULTS.syncWorkBytesPerSec})` },
  { flag: 'max-patch-operations', env: 'TANDEM_MAX_PATCH_OPERATIONS', key: 'maxPatchOperations', kind: 'int', arg: 'N', min: 1, help: `most operations in one JSON Patch request (default ${DEFAULTS.maxPatchOperations})` },
  { flag: 'history-idle-ms', env: 'TANDEM_HISTORY_IDLE_MS', key: 'historyIdleMs', kind: 'int', arg: 'MS', min: 0, help: `an automatic version after a document was edited and then left alone this long; 0 turns them off (default ${DEFAULTS.historyIdleMs})` },
  { flag: 'history-max-interval-ms', env: 'TANDEM_HISTORY_MAX_INTERVAL_MS', key: 'historyMaxIntervalMs', kind: 'int', arg: 'MS', min: 1, help: `…and at least this often while edits go on (default ${DEFAULTS.historyMaxIntervalMs})` },
  { flag: 'history-keep', env: 'TANDEM_HISTORY_KEEP', key: 'historyKeep', kind: 'int', arg: 'N', min: 1, help: `automatic versions kept per document (default ${DEFAULTS.historyKeep})` },
  { flag: 'history-max-named', env: 'TANDEM_HISTORY_MAX_NAMED', key: 'historyMaxNamedVersions', kind: 'int', arg: 'N', min: 1, help: `named and backup versions one document may keep (default ${DEFAULTS.historyMaxNamedVersions})` },
  { flag: 'history-writes-per-minute', env: 'TANDEM_HISTORY_WRITES_PER_MINUTE', key: 'historyWritesPerMinute', kind: 'int', arg: 'N', min: 1, help: `version writes (create, restore, delete) per user per minute (default ${DEFAULTS.historyWritesPerMinute})` },
  { flag: 'idle-socket-timeout-ms', env: 'TANDEM_IDLE_SOCKET_TIMEOUT_MS', key: 'idleSocketTimeoutMs', kind: 'int', arg: 'MS', min: 1, help: `close sockets that send no request within this time (default ${DEFAULTS.idleSocketTimeoutMs})` },
  { flag: 'trust-proxy', env: 'TANDEM_TRUST_PROXY', key: 'trustProxy', kind: 'bool', help: 'take the client address from the last X-Forwarded-For entry (only behind your own proxy)' },
  { flag: 'allowed-origins', env: 'TANDEM_ALLOWED_ORIGINS', key: 'allowedOrigins', kind: 'list', arg: 'LIST', help: 'comma-separated browser origins allowed to connect (default: all)' },
  { flag: 'webhook-url', env: 'TANDEM_WEBHOOK_URL', key: 'webhookUrl', kind: 'string', arg: 'URL', help: 'POST {doc, updatedAt} here after a document changes (debounced)' },
  { flag: 'webhook-secret', env: 'TANDEM_WEBHOOK_SECRET', key: 'webhookSecret', kind: 'string', arg: 'SECRET', help: 'HMAC-SHA256 secret for the webhook signature header' }
]

const OUT_FLAG: FlagSpec = { flag: 'out', key: 'out', kind: 'string', arg: 'FILE', short: 'o', help: 'write to FILE instead of standard output (- is standard output)' }
const DECODE_NAMES_FLAG: FlagSpec = {
  flag: 'decode-names',
  key: 'decodeNames',
  kind: 'bool',
  help: 'percent-decode every name (for a y-websocket YPERSISTENCE directory: that server keeps names as they appear in the URL)'
}

/** The flags each command takes; every command takes the storage flags. */
export const COMMAND_FLAGS: Record<CommandName, FlagSpec[]> = {
  serve: SERVE_FLAGS,
  list: STORAGE_FLAGS,
  export: [...STORAGE_FLAGS, OUT_FLAG, DECODE_NAMES_FLAG],
  import: STORAGE_FLAGS,
  delete: STORAGE_FLAGS,
  compact: STORAGE_FLAGS
}

/** Which storage to open, and how the user named each part (for messages). */
export interface StorageSpec {
  kind: 'leveldb' | 'postgres' | 'memory'
  dataDir: string
  databaseUrl?: string
  schema?: string
  /** How the user gave each setting: `--data`, or `TANDEM_DATA_DIR` when it came from the environment. */
  labels: { dataDir: string; databaseUrl: string; schema: string }
}

export interface ServeInvocation {
  command: 'serve'
  /** Everything `createServer` takes from the command line (storage and Redis are opened by the CLI). */
  options: ServerOptions
  storage: StorageSpec
  authPublicKeyFile?: string
  logFormat?: 'pretty' | 'json'
  /** How the user named each flag that was given (flag or environment variable), by option key. */
  labels: Record<string, string>
}

export type Invocation =
  | { command: 'help'; topic?: CommandName }
  | { command: 'version' }
  | ServeInvocation
  | { command: 'list'; storage: StorageSpec }
  | { command: 'export'; storage: StorageSpec; out?: string; decodeNames: boolean }
  | { command: 'import'; storage: StorageSpec; file?: string }
  | { command: 'delete'; storage: StorageSpec; names: string[] }
  | { command: 'compact'; storage: StorageSpec; names: string[] }

/**
 * Turns the arguments after `tandem` and the environment into what to run.
 * A flag wins over its environment variable; an empty variable counts as
 * unset. Throws a `UsageError` (exit code 2) for anything malformed.
 *
 * Without a command, flags go to `serve` (`tandem --port 1234`).
 */
export function parseCommandLine (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Invocation {
  const first = argv[0]
  if (first === '--version' || first === '-V') return { command: 'version' }
  if (first === '--help' || first === '-h') return { command: 'help' }
  if (first === 'help') {
    const topic = argv[1]
    if (topic === undefined) return { command: 'help' }
    if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}" (commands: ${COMMANDS.join(', ')})`)
    return { command: 'help', topic }
  }
  let command: CommandName = 'serve'
  let rest = argv
  if (first !== undefined && !first.startsWith('-')) {
    if (!isCommand(first)) throw new UsageError(`unknown command "${first}" (commands: ${COMMANDS.join(', ')}; see tandem help)`)
    command = first
    rest = argv.slice(1)
  }

  const specs = COMMAND_FLAGS[command]
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({
      args: [...rest],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(specs.map((f) => [f.flag, { type: f.kind === 'bool' ? 'boolean' : 'string', ...(f.short !== undefined ? { short: f.short } : {}) }]))
      } as Record<string, { type: 'boolean' | 'string'; short?: string }>
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] })
  } catch (err) {
    throw new UsageError(`${parseArgsMessage(err)} for ${command} (see tandem ${command} --help)`)
  }
  if (values.help === true) return { command: 'help', topic: command }

  const { found, labels } = readFlags(specs, values, env)
  const storage = storageSpec(found, labels)

  switch (command) {
    case 'serve':
      expectPositionals(command, positionals, 0, 0)
      return serveInvocation(found, labels, storage)
    case 'list':
      expectPositionals(command, positionals, 0, 0)
      return { command, storage: storedOnly(command, storage) }
    case 'export':
      expectPositionals(command, positionals, 0, 0)
      return { command, storage: storedOnly(command, storage), out: found.out === '-' ? undefined : found.out as string | undefined, decodeNames: found.decodeNames === true }
    case 'import':
      expectPositionals(command, positionals, 0, 1)
      return { command, storage: storedOnly(command, storage), file: positionals[0] === '-' ? undefined : positionals[0] }
    case 'delete':
      expectPositionals(command, positionals, 1, Infinity)
      return { command, storage: storedOnly(command, storage), names: positionals }
    case 'compact':
      return { command, storage: storedOnly(command, storage), names: positionals }
  }
}

function isCommand (name: string): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name)
}

/** node:util's parseArgs messages, shortened to the part a user needs. */
function parseArgsMessage (err: unknown): string {
  const e = err as { code?: string; message?: string }
  // "Option '-o, --out <value>' argument missing": the long name is the one a user knows.
  const quoted = /'([^']+)'/.exec(e.message ?? '')?.[1] ?? ''
  const option = /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0]
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${option ?? ''}`.trim()
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(e.message ?? '')
        ? `${option ?? 'a flag'} takes no value`
        : `${option ?? 'a flag'} needs a value`
    default:
      return (e.message ?? String(err)).split('. ')[0]
  }
}

function expectPositionals (command: CommandName, positionals: string[], min: number, max: number): void {
  if (positionals.length > max) {
    const extra = positionals.slice(max).map((p) => JSON.stringify(p)).join(' ')
    throw new UsageError(`unexpected argument ${extra} for ${command} (see tandem ${command} --help)`)
  }
  if (positionals.length < min) {
    throw new UsageError(`${command} needs at least one document name (see tandem ${command} --help)`)
  }
}

/** Each given flag's value, typed and checked, and how the user named it. */
function readFlags (
  specs: FlagSpec[],
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>
): { found: Record<string, unknown>; labels: Record<string, string> } {
  const found: Record<string, unknown> = {}
  const labels: Record<string, string> = {}
  for (const f of specs) {
    labels[f.key] = `--${f.flag}`
    let raw: string | boolean | undefined = values[f.flag]
    if (raw === '') throw new UsageError(`--${f.flag} needs a value`)
    if (raw === undefined && f.env !== undefined && env[f.env] !== undefined && env[f.env] !== '') {
      raw = env[f.env]
      labels[f.key] = f.env
    }
    if (raw === undefined) continue
    found[f.key] = convert(f, raw, labels[f.key])
  }
  return { found, labels }
}

function convert (f: FlagSpec, raw: string | boolean, label: string): unknown {
  switch (f.kind) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off'].includes(v)) return false
      throw new UsageError(`${label} needs true or false, got "${raw}"`)
    }
    case 'int': {
      const text = String(raw).trim()
      const n = /^-?\d+$/.test(text) ? Number(text) : NaN
      const min = f.min ?? -Infinity
      const max = f.max ?? Number.MAX_SAFE_INTEGER
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        const range = f.max !== undefined ? `an integer from ${min} to ${max}` : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`
        throw new UsageError(`${label} needs ${range}, got "${String(raw)}"`)
      }
      return n
    }
    case 'list':
      return String(raw).split(',').map((s) => s.trim()).filter(Boolean)
    default: {
      const text = String(raw)
      if (f.choices !== undefined && !f.choices.includes(text)) {
        throw new UsageError(`${label} must be one of ${f.choices.join(', ')}; got "${text}"`)
      }
      return text
    }
  }
}

function storageSpec (found: Record<string, unknown>, labels: Record<string, string>): StorageSpec {
  const kind = (found.persistence as StorageSpec['kind'] | undefined) ?? DEFAULTS.persistence
  const databaseUrl = found.databaseUrl as string | undefined
  if (kind === 'postgres' && databaseUrl === undefined) {
    throw new UsageError(`${labels.persistence} postgres needs a connection string: --database-url URL (or DATABASE_URL)`)
  }
  return {
    kind,
    dataDir: (found.dataDir as string | undefined) ?? DEFAULTS.dataDir,
    databaseUrl,
    schema: found.databaseSchema as string | undefined,
    labels: { dataDir: labels.dataDir, databaseUrl: labels.databaseUrl, schema: labels.databaseSchema }
  }
}

/** Commands that read or change stored documents have nothing to do in memory. */
function storedOnly (command: CommandName, storage: StorageSpec): StorageSpec {
  if (storage.kind === 'memory') {
    throw new UsageError(`${command} has nothing to work on in the memory storage, which keeps nothing between runs; use --data DIR or --persistence postgres`)
  }
  return storage
}

function serveInvocation (found: Record<string, unknown>, labels: Record<string, string>, storage: StorageSpec): ServeInvocation {
  const { authPublicKeyFile, logFormat, ...rest } = found
  if (rest.authSecret !== undefined && authPublicKeyFile !== undefined) {
    throw new UsageError(`give either ${labels.authSecret} (HS256) or ${labels.authPublicKeyFile} (RS256/ES256), not both`)
  }
  const options = rest as ServerOptions
  // The remaining contradictions (a short secret, a TTL below the heartbeat…)
  // are the library's rules; report them in flag names.
  try {
    resolveConfig({ ...options, authPublicKey: authPublicKeyFile === undefined ? undefined : 'checked when the file is read' })
  } catch (err) {
    throw new UsageError(inFlagNames((err as Error).message, labels))
  }
  return {
    command: 'serve',
    options,
    storage,
    authPublicKeyFile: authPublicKeyFile as string | undefined,
    logFormat: logFormat as ServeInvocation['logFormat'],
    labels
  }
}

/** Replaces option names (`redisInstanceTtlMs`) with the flags the user knows (`--redis-instance-ttl-ms`). */
function inFlagNames (message: string, labels: Record<string, string>): string {
  let out = message
  for (const [key, label] of Object.entries(labels)) out = out.replace(new RegExp(`\\b${key}\\b`, 'g'), label)
  return out.replace(/\bthe auth secret\b/, labels.authSecret ?? '--auth-secret').replace(/\bwebhook secret\b/, labels.webhookSecret ?? '--webhook-secret').replace(/\bwebhook URL\b/, labels.webhookUrl ?? '--webhook-url')
}
