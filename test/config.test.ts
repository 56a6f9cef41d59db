import { describe, expect, it } from 'vitest'
import { MemoryPersistence } from '../persistence/memory.js'
import { DEFAULTS, resolveConfig, type ServerOptions } from '../src/config.js'
import { TandemError } from '../src/errors.js'
import { LocalFanout } from '../src/fanout/types.js'

/** Resolves `options`, expecting a CONFIG_INVALID refusal, and returns it. */
function refusal (options: ServerOptions): TandemError {
  let thrown: unknown
  try {
    resolveConfig(options)
  } catch (err) {
    thrown = err
  }
  if (thrown === undefined) throw new Error(`accepted ${JSON.stringify(options)}`)
  expect(thrown).toBeInstanceOf(TandemError)
  expect((thrown as TandemError).code).toBe('CONFIG_INVALID')
  return thrown as TandemError
}

/** A value of the wrong type, as a caller without TypeScript (or a broken flag parser) could pass. */
const loose = (value: unknown): number => value as number

describe('defaults', () => {
  it('fills every default and freezes the result', () => {
    const config = resolveConfig()
    expect(config).toEqual({ ...DEFAULTS, hooks: {} })
    expect(resolveConfig({})).toEqual(config)
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(DEFAULTS)).toBe(true)
    // ES modules are strict: writing to a frozen object throws rather than being ignored.
    expect(() => { (config as { port: number }).port = 1 }).toThrow(TypeError)
    expect(config.port).toBe(DEFAULTS.port)
  })

  it('keeps what is given, including falsy values, and leaves the options object alone', () => {
    const hooks = { onLoad: () => {} }
    const options: ServerOptions = { port: 0, host: '127.0.0.1', trustProxy: true, maxMessageBytes: 1024, webhookUrl: 'http://127.0.0.1:9/hook', hooks }
    const snapshot = { ...options }
    const config = resolveConfig(options)
    expect(config).toMatchObject({ port: 0, host: '127.0.0.1', trustProxy: true, maxMessageBytes: 1024, webhookUrl: 'http://127.0.0.1:9/hook' })
    expect(config.hooks).toBe(hooks)
    // Untouched options keep their defaults.
    expect(config.backlog).toBe(DEFAULTS.backlog)
    expect(config.persistence).toBe(DEFAULTS.persistence)
    expect(options).toEqual(snapshot)
    expect(Object.isFrozen(options)).toBe(false)
  })

  it('an undefined value does not override a default', () => {
    // What a flag parser produces for every flag the user did not pass.
    const config = resolveConfig({
      port: undefined,
      host: undefined,
      dataDir: undefined,
      persistence: undefined,
      logLevel: undefined,
      maxMessageBytes: undefined,
      pingIntervalMs: undefined,
      trustProxy: undefined,
      hooks: undefined
    })
    expect(config).toEqual({ ...DEFAULTS, hooks: {} })
  })
})

describe('numbers', () => {
  const positiveIntegers = [
    'maxMessageBytes', 'maxConnectionsPerIp', 'rateLimitMessagesPerSec', 'rateLimitBytesPerSec',
    'maxBufferedBytes', 'maxPendingBytes', 'loadTimeoutMs', 'pingIntervalMs', 'compactAfterUpdates',
    'maxDocNameBytes', 'backlog', 'redisHeartbeatMs', 'redisInstanceTtlMs'
  ] as const
  const bad: Array<[string, unknown]> = [
    ['zero', 0], ['negative', -1], ['negative integer', -1000], ['non-integer', 1.5], ['NaN', NaN],
    ['Infinity', Infinity], ['numeric string', '5']
  ]

  for (const key of positiveIntegers) {
    it(`${key} must be a positive integer`, () => {
      for (const [what, value] of bad) {
        const err = refusal({ [key]: loose(value) })
        expect(err.message, `${key} = ${what}`).toContain(key)
        expect(err.status).toBe(500)
      }
      // The smallest valid value passes (the redis pair also needs its partner to stay ordered).
      const smallest: ServerOptions = key === 'redisHeartbeatMs'
        ? { redisHeartbeatMs: 1 }
        : key === 'redisInstanceTtlMs'
          ? { redisInstanceTtlMs: 2, redisHeartbeatMs: 1 }
          // The buffer bound must hold at least one message of the largest size.
          : key === 'maxBufferedBytes' ? { maxBufferedBytes: 1, maxMessageBytes: 1 } : { [key]: 1 }
      expect(resolveConfig(smallest)[key]).toBe(smallest[key])
    })
  }

  it('port is an integer from 0 to 65535', () => {
    for (const port of [0, 1, 80, 65535]) expect(resolveConfig({ port }).port).toBe(port)
    for (const port of [-1, 65536, 1.5, NaN, Infinity, loose('8080')]) {
      expect(refusal({ port }).message, String(port)).toMatch(/^port /)
    }
  })

  it('rejects timer options above 2^31 - 1 ms: Node fires such a timer after 1 ms, so pingIntervalMs 2147483648 would drop every client', () => {
    for (const key of ['pingIntervalMs', 'loadTimeoutMs', 'idleSocketTimeoutMs', 'awarenessReclaimMs'] as const) {
      expect(refusal({ [key]: 2 ** 31 }).message, key).toMatch(new RegExp(`^${key} must be at most 2147483647 ms`))
      expect(resolveConfig({ [key]: 2 ** 31 - 1 })[key]).toBe(2 ** 31 - 1)
    }
    expect(refusal({ redisHeartbeatMs: 2 ** 31, redisInstanceTtlMs: 2 ** 32 }).message).toMatch(/redisHeartbeatMs must be at most/)
  })
})

describe('storage', () => {
  it('persistence is leveldb, postgres or memory, or an adapter instance', () => {
    expect(resolveConfig({ persistence: 'leveldb' }).persistence).toBe('leveldb')
    expect(resolveConfig({ persistence: 'memory' }).persistence).toBe('memory')
    expect(resolveConfig({ persistence: 'postgres', databaseUrl: 'postgres://localhost/tandem' }).persistence).toBe('postgres')
    const adapter = new MemoryPersistence()
    expect(resolveConfig({ persistence: adapter }).persistence).toBe(adapter)
    for (const kind of ['sqlite', 'LevelDB', '']) {
      const err = refusal({ persistence: kind as 'memory' })
      expect(err.message).toContain('persistence')
      expect(err.message).toContain(`got ${kind}`)
    }
  })

  it('postgres needs a database URL', () => {
    expect(refusal({ persistence: 'postgres' }).message).toMatch(/database URL/)
    expect(refusal({ persistence: 'postgres', databaseUrl: '' }).message).toMatch(/database URL/)
    expect(refusal({ persistence: 'postgres', databaseUrl: undefined }).message).toMatch(/database URL/)
  })
})

describe('auth', () => {
  const secret16 = 'sixteen chars!!!'

  it('takes a secret or a public key, not both', () => {
    expect(resolveConfig({ authSecret: secret16 }).authSecret).toBe(secret16)
    expect(resolveConfig({ authPublicKey: '-----BEGIN PUBLIC KEY-----' }).authPublicKey).toBe('-----BEGIN PUBLIC KEY-----')
    expect(refusal({ authSecret: secret16, authPublicKey: '-----BEGIN PUBLIC KEY-----' }).message).toMatch(/not both/)
  })

  it('a secret shorter than 16 characters is refused', () => {
    expect(secret16).toHaveLength(16)
    expect(refusal({ authSecret: secret16.slice(0, 15) }).message).toMatch(/at least 16/)
    expect(refusal({ authSecret: '' }).message).toMatch(/at least 16/)
  })
})

describe('fan-out', () => {
  it('takes redisUrl or a fanout adapter, not both', () => {
    const fanout = new LocalFanout()
    expect(resolveConfig({ fanout }).fanout).toBe(fanout)
    expect(resolveConfig({ redisUrl: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379')
    expect(refusal({ redisUrl: 'redis://127.0.0.1:6379', fanout }).message).toMatch(/redisUrl or a fanout adapter/)
  })

  it('redisInstanceTtlMs must exceed redisHeartbeatMs, defaults included', () => {
    const message = /redisInstanceTtlMs must be greater than redisHeartbeatMs/
    expect(refusal({ redisHeartbeatMs: 3000, redisInstanceTtlMs: 3000 }).message).toMatch(message)
    expect(refusal({ redisHeartbeatMs: 3000, redisInstanceTtlMs: 2999 }).message).toMatch(message)
    expect(resolveConfig({ redisHeartbeatMs: 3000, redisInstanceTtlMs: 3001 })).toMatchObject({ redisHeartbeatMs: 3000, redisInstanceTtlMs: 3001 })
    // One side given: compared with the other's default (heartbeat 2000, ttl 6000).
    expect(refusal({ redisHeartbeatMs: 6000 }).message).toMatch(message)
    expect(resolveConfig({ redisHeartbeatMs: 5999 }).redisHeartbeatMs).toBe(5999)
    expect(refusal({ redisInstanceTtlMs: 2000 }).message).toMatch(message)
    expect(resolveConfig({ redisInstanceTtlMs: 2001 }).redisInstanceTtlMs).toBe(2001)
  })
})

describe('limits', () => {
  it('rejects maxBufferedBytes below maxMessageBytes: relaying one accepted message would drop every receiving peer as a slow consumer', () => {
    expect(refusal({ maxBufferedBytes: 1024, maxMessageBytes: 2048 }).message).toMatch(/maxBufferedBytes \(1024\) must be at least maxMessageBytes \(2048\)/)
    expect(resolveConfig({ maxBufferedBytes: 2048, maxMessageBytes: 2048 }).maxBufferedBytes).toBe(2048)
  })
})

describe('webhook', () => {
  it('a webhook secret needs a webhook URL', () => {
    expect(refusal({ webhookSecret: 'shh' }).message).toMatch(/webhook secret needs a webhook URL/)
    expect(resolveConfig({ webhookUrl: 'https://example.test/hook', webhookSecret: 'shh' })).toMatchObject({ webhookUrl: 'https://example.test/hook', webhookSecret: 'shh' })
    expect(resolveConfig({ webhookUrl: 'https://example.test/hook' }).webhookSecret).toBeUndefined()
  })

  it('rejects a webhookUrl that is not an absolute http(s) URL, and an empty webhookSecret, with CONFIG_INVALID before anything opens', () => {
    expect(refusal({ webhookUrl: 'not a url' }).message).toMatch(/webhook URL must be an absolute http\(s\) URL/)
    expect(refusal({ webhookUrl: 'ftp://example.test/' }).message).toMatch(/webhook URL/)
    expect(refusal({ webhookUrl: 'https://example.test/hook', webhookSecret: '' }).message).toMatch(/webhook secret is empty/)
  })
})
