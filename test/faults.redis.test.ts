/**
 * The Redis fan-out when the link to Redis hangs or breaks: one instance goes
 * through a TCP proxy this file owns, the other talks to the real Redis
 * directly. A hung link (the proxy stops forwarding, sockets stay open) must
 * be noticed within the heartbeat bound, logged once, reconnected and healed;
 * `check()` must answer within its bound in every state; and no Redis error,
 * in any state, may escape as an uncaught exception or unhandled rejection.
 *
 * Each test has its own key prefix; the keys are deleted at the end.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { RedisFanout, type FanoutLogger, type RedisFanoutOptions, type RedisFanoutRoom } from '../src/fanout/redis.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'
import { until } from './helpers.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const HEARTBEAT_MS = 300
const TTL_MS = 1500
const FROM_FANOUT = Symbol('fanout')

const RUN = randomBytes(4).toString('hex')
const prefixes: string[] = []
function newPrefix (): string {
  const prefix = `tandem-test:faults-${RUN}-${prefixes.length}:`
  prefixes.push(prefix)
  return prefix
}

const cleanups: Array<() => Promise<void> | void> = []
const escaped: unknown[] = []
const onEscape = (err: unknown): void => { escaped.push(err) }

beforeAll(() => {
  process.on('uncaughtException', onEscape)
  process.on('unhandledRejection', onEscape)
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  expect(escaped.splice(0)).toEqual([])
})

afterAll(async () => {
  process.off('uncaughtException', onEscape)
  process.off('unhandledRejection', onEscape)
  const redis = new Redis(REDIS_URL)
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
    }
  } finally {
    await redis.quit()
  }
})

/** What a server room does with the fan-out, for one shared text: publishes local edits, applies remote ones. */
class Room implements RedisFanoutRoom {
  readonly doc = new Y.Doc()
  constructor (readonly fanout: RedisFanout, readonly name: string) {
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== FROM_FANOUT) fanout.publishUpdate(name, update)
    })
  }

  onRemoteUpdate (update: Uint8Array): void { Y.applyUpdate(this.doc, update, FROM_FANOUT) }
  onRemoteAwareness (): void {}
  stateVector (): Uint8Array { return Y.encodeStateVector(this.doc) }
  diff (stateVector: Uint8Array): Uint8Array | null {
    const update = Y.encodeStateAsUpdate(this.doc, stateVector)
    return update.length > 2 ? update : null
  }

  awarenessSnapshot (): null { return null }
  add (item: string): void { this.doc.getArray<string>('a').push([item]) }
  get items (): string[] { return this.doc.getArray<string>('a').toArray() }
}

interface Logged { level: 'warn' | 'info'; msg: string; at: number }

function recorder (): { logger: FanoutLogger; lines: Logged[] } {
  const lines: Logged[] = []
  return {
    lines,
    logger: {
      warn: (_obj, msg) => { lines.push({ level: 'warn', msg: msg ?? '', at: performance.now() }) },
      info: (_obj, msg) => { lines.push({ level: 'info', msg: msg ?? '', at: performance.now() }) }
    }
  }
}

async function open (url: string, prefix: string, options: Partial<RedisFanoutOptions> = {}): Promise<RedisFanout> {
  const fanout = await RedisFanout.open({ url, keyPrefix: prefix, heartbeatMs: HEARTBEAT_MS, instanceTtlMs: TTL_MS, ...options })
  cleanups.push(() => fanout.close())
  return fanout
}

async function proxied (): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(REDIS_URL)
  const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
  cleanups.push(() => proxy.close())
  return { proxy, url: `redis://127.0.0.1:${proxy.port}` }
}

async function joined (fanout: RedisFanout, name: string): Promise<Room> {
  const room = new Room(fanout, name)
  cleanups.push(() => room.doc.destroy())
  await fanout.join(name, room)
  return room
}

const same = (a: Room, b: Room): boolean => JSON.stringify(a.items.sort()) === JSON.stringify(b.items.sort())

async function timedCheck (fanout: RedisFanout): Promise<{ ms: number; err: Error | null }> {
  const started = performance.now()
  const err = await fanout.check().then(() => null, (e: Error) => e)
  return { ms: performance.now() - started, err }
}

describe('a hung link to Redis', () => {
  it('is noticed within the heartbeat bound, logged once, reconnected and healed', async () => {
    const prefix = newPrefix()
    const { proxy, url } = await proxied()
    const { logger, lines } = recorder()
    const a = await open(url, prefix, { logger })
    const b = await open(REDIS_URL, prefix)
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    ra.add('a-before')
    await until(() => rb.items.includes('a-before'), 'the first update to cross')

    proxy.hang()
    const hungAt = performance.now()
    rb.add('b-during')
    ra.add('a-during')
    // Both connections go through the proxy; each is noticed on its own.
    await until(() => a.stats.hungLinks >= 2, 'a to notice both hung connections', 5000)
    const detectedMs = performance.now() - hungAt
    expect(detectedMs).toBeLessThan(2 * HEARTBEAT_MS + 300)
    expect(a.connected).toBe(false)
    // Reconnects during the hang hang in their handshake and are dropped
    // too, but the outage is one line per connection.
    await until(() => a.stats.hungLinks >= 4, 'a reconnect attempt to hang as well', 5000)
    const hungLines = lines.filter((l) => l.msg.includes('connection hung'))
    expect(hungLines).toHaveLength(2)
    expect(lines.filter((l) => l.msg.includes('connection lost'))).toEqual([])
    expect(ra.items).not.toContain('b-during')

    proxy.restore()
    const restoredAt = performance.now()
    await until(() => same(ra, rb) && ra.items.includes('b-during') && rb.items.includes('a-during'), 'both sides to heal after the restore', 5000)
    const healedMs = performance.now() - restoredAt
    expect(healedMs).toBeLessThan(2000)
    expect(lines.some((l) => l.msg.includes('state-vector exchange'))).toBe(true)
    await until(() => a.connected, 'a to be connected')
    await a.check()

    // Live again, both ways.
    ra.add('a-after')
    rb.add('b-after')
    await until(() => same(ra, rb) && ra.items.length === 5, 'live updates after the restore')
    console.log(`hung Redis link: noticed after ${detectedMs.toFixed(0)} ms (heartbeat ${HEARTBEAT_MS} ms), healed ${healedMs.toFixed(0)} ms after the restore; ${a.stats.hungLinks} hung connections dropped`)
  })

  it('check() answers within checkTimeoutMs while the link hangs, before and after it is noticed', async () => {
    const prefix = newPrefix()
    const { proxy, url } = await proxied()
    // Slow detection, so the first checks meet a link that still looks ready.
    const a = await open(url, prefix, { livenessTimeoutMs: 3000 })
    await joined(a, 'doc')
    await a.check()

    proxy.hang()
    const early = await timedCheck(a)
    expect(early.err?.message).toMatch(/did not answer within 500 ms/)
    expect(early.ms).toBeLessThan(700)
    await until(() => !a.connected, 'a to notice the hang', 8000)
    const late = await timedCheck(a)
    expect(late.err?.message).toMatch(/is (connect|reconnecting|close)/)
    expect(late.ms).toBeLessThan(50)

    proxy.restore()
    await until(async () => (await timedCheck(a)).err === null, 'check() to pass after the restore', 5000)
    console.log(`fan-out check(): ${early.ms.toFixed(0)} ms on a hung link not yet noticed, ${late.ms.toFixed(1)} ms once noticed`)
  })

  it('a stalled event loop is not mistaken for a hung link', async () => {
    const prefix = newPrefix()
    const a = await open(REDIS_URL, prefix, { livenessTimeoutMs: 100 })
    const ra = await joined(a, 'doc')
    // Long synchronous tasks (applying a large update, say) with only a
    // turn of the event loop between them: the heartbeat, overdue, sends a
    // PING in that turn, its answer arrives during the next task, and the
    // liveness timer is overdue too by the time the loop reads it.
    for (let round = 0; round < 8; round++) {
      await new Promise((resolve) => setImmediate(resolve))
      const end = Date.now() + 400
      while (Date.now() < end) { /* busy */ }
    }
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS))
    expect(a.stats.hungLinks).toBe(0)
    expect(a.connected).toBe(true)
    ra.add('still fine')
  })
})

describe('Redis failures never end the process', () => {
  it('survives cuts and hangs in every state while both sides edit, and converges', async () => {
    const prefix = newPrefix()
    const { proxy, url } = await proxied()
    const a = await open(url, prefix, { logger: recorder().logger })
    const b = await open(REDIS_URL, prefix)
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')

    let n = 0
    // Cut while connected, hang while connected, cut during a hung
    // handshake, hang then cut, restore in between: every transition the
    // proxy can make, for at most 20 rounds or 10 s.
    const steps: Array<() => void> = [
      () => proxy.cut(), () => proxy.restore(),
      () => proxy.hang(), () => proxy.restore(),
      () => proxy.hang(), () => proxy.cut(), () => proxy.restore(),
      () => proxy.cut(), () => proxy.hang(), () => proxy.restore()
    ]
    const deadline = Date.now() + 10_000
    for (let round = 0; round < 20 && Date.now() < deadline; round++) {
      steps[round % steps.length]()
      ra.add(`a${n}`)
      rb.add(`b${n}`)
      n++
      // Long enough, now and then, for a hang to be noticed and a reconnect to start.
      await new Promise((resolve) => setTimeout(resolve, round % 3 === 0 ? 2 * HEARTBEAT_MS + 100 : 50))
    }
    proxy.restore()
    await until(() => same(ra, rb) && ra.items.length === 2 * n, 'both sides to converge after the faults', 10_000)
    await until(async () => (await timedCheck(a)).err === null, 'a to be healthy again', 5000)
    expect(escaped).toEqual([])
  })
})
