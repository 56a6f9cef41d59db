/**
 * The Redis fan-out against the real Redis on 127.0.0.1:6379. Each test uses
 * its own random key prefix, so runs sharing the server never see each other,
 * and connection drops are made with CLIENT KILL ID on this test's own
 * connections only.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { RedisFanout, type RedisFanoutOptions, type RedisFanoutRoom } from '../src/fanout/redis.js'
import { until } from './helpers.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
/** Transaction origin of everything that arrives through the fan-out: applied, never re-published. */
const FROM_FANOUT = Symbol('fanout')
const LOCAL = 'local-connection'

/**
 * What a server room does with the fan-out, on a real Y.Doc and Awareness:
 * publishes local changes, applies remote ones without re-publishing them.
 * Awareness clients applied with origin LOCAL stand for local connections.
 */
class TestRoom implements RedisFanoutRoom {
  readonly doc = new Y.Doc()
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  readonly localClients = new Set<number>()
  remoteUpdates = 0
  removeRemoteClients?: (clientIds: number[]) => void

  constructor (readonly fanout: RedisFanout, readonly docName: string, options: { removeRemoteClients?: boolean } = {}) {
    // A server room has no presence of its own.
    this.awareness.setLocalState(null)
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== FROM_FANOUT) this.fanout.publishUpdate(this.docName, update)
    })
    this.awareness.on('update', ({ added, updated, removed }: AwarenessChange, origin: unknown) => {
      if (origin === FROM_FANOUT) return
      const changed = [...added, ...updated, ...removed]
      for (const id of added) this.localClients.add(id)
      for (const id of updated) this.localClients.add(id)
      for (const id of removed) this.localClients.delete(id)
      this.fanout.publishAwareness(this.docName, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
    })
    if (options.removeRemoteClients !== false) {
      this.removeRemoteClients = (clientIds) => {
        awarenessProtocol.removeAwarenessStates(this.awareness, clientIds.filter((id) => !this.localClients.has(id)), FROM_FANOUT)
      }
    }
  }

  onRemoteUpdate (update: Uint8Array): void {
    this.remoteUpdates++
    Y.applyUpdate(this.doc, update, FROM_FANOUT)
  }

  onRemoteAwareness (update: Uint8Array): void {
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, FROM_FANOUT)
  }

  stateVector (): Uint8Array {
    return Y.encodeStateVector(this.doc)
  }

  diff (stateVector: Uint8Array): Uint8Array | null {
    const update = Y.encodeStateAsUpdate(this.doc, stateVector)
    // [0, 0]: no structs and an empty delete set.
    return update.length > 2 ? update : null
  }

  awarenessSnapshot (): Uint8Array | null {
    const ids = [...this.localClients].filter((id) => this.awareness.getStates().has(id))
    return ids.length > 0 ? awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids) : null
  }

  /** A local connection's client announcing `state` (as the stock provider would). */
  localClient (client: awarenessProtocol.Awareness): void {
    awarenessProtocol.applyAwarenessUpdate(this.awareness, awarenessProtocol.encodeAwarenessUpdate(client, [client.clientID]), LOCAL)
  }

  get text (): string {
    return this.doc.getText('t').toString()
  }

  destroy (): void {
    this.awareness.destroy()
    this.doc.destroy()
  }
}

interface AwarenessChange { added: number[]; updated: number[]; removed: number[] }

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  // Last in, first out: rooms and clients before the adapters they use.
  while (cleanups.length > 0) await cleanups.pop()!()
})

function newPrefix (): string {
  return `tandem-test:${randomBytes(6).toString('hex')}:`
}

async function open (prefix: string, options: Partial<RedisFanoutOptions> = {}): Promise<RedisFanout> {
  const fanout = await RedisFanout.open({ url: REDIS_URL, keyPrefix: prefix, ...options })
  cleanups.push(() => fanout.close())
  return fanout
}

async function joined (fanout: RedisFanout, docName: string, options?: { removeRemoteClients?: boolean }, before?: (room: TestRoom) => void): Promise<TestRoom> {
  const room = new TestRoom(fanout, docName, options)
  cleanups.push(() => room.destroy())
  before?.(room)
  await fanout.join(docName, room)
  return room
}

function admin (): Redis {
  const client = new Redis(REDIS_URL)
  cleanups.push(async () => { await client.quit() })
  return client
}

/** A stand-in for a browser tab's awareness. */
function client (state: Record<string, unknown>): awarenessProtocol.Awareness {
  const awareness = new awarenessProtocol.Awareness(new Y.Doc())
  awareness.setLocalState(state)
  cleanups.push(() => { awareness.destroy(); awareness.doc.destroy() })
  return awareness
}

function insert (room: TestRoom, text: string): void {
  const t = room.doc.getText('t')
  t.insert(t.length, text)
}

function converged (...rooms: TestRoom[]): boolean {
  const first = Y.encodeStateAsUpdate(rooms[0].doc)
  return rooms.every((room) => room.text === rooms[0].text && Buffer.compare(Buffer.from(Y.encodeStateAsUpdate(room.doc)), Buffer.from(first)) === 0)
}

async function clientId (redis: Redis, name: string): Promise<string> {
  const list = await redis.client('LIST') as string
  const line = list.split('\n').find((l) => l.includes(` name=${name} `))
  if (line === undefined) throw new Error(`no connection named ${name}`)
  return /(?:^|\s)id=(\d+)/.exec(line)![1]
}

describe('RedisFanout', () => {
  it('delivers updates to the other instances, not to the sender nor to other documents', async () => {
    const prefix = newPrefix()
    const [a, b, c] = await Promise.all([open(prefix), open(prefix), open(prefix)])
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    const rc = await joined(c, 'doc')
    const other = await joined(c, 'other')

    insert(ra, 'hello')
    await until(() => rb.text === 'hello' && rc.text === 'hello', 'b and c to receive a\'s update')
    insert(rb, ' world')
    await until(() => ra.text === 'hello world' && rc.text === 'hello world', 'a and c to receive b\'s update')
    // Redis delivers one channel's messages in publish order, so an echo of
    // a's own update would have reached a before b's.
    expect(ra.remoteUpdates).toBe(1)
    expect(other.remoteUpdates).toBe(0)
    expect(other.text).toBe('')

    // After leaving, nothing arrives for the document.
    await b.leave('doc')
    insert(ra, '!')
    await until(() => rc.text === 'hello world!', 'c to receive the next update')
    expect(rb.text).toBe('hello world')
  })

  it('gives a late-joining room the others\' state and them its own, deletions included', async () => {
    const prefix = newPrefix()
    const [a, b, c] = await Promise.all([open(prefix), open(prefix), open(prefix)])
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    insert(ra, 'abcdef')
    await until(() => rb.text === 'abcdef', 'b to receive a\'s update')
    rb.doc.getText('t').delete(0, 3)
    await until(() => ra.text === 'def', 'a to receive b\'s deletion')

    // c loaded content of its own (say from storage) that nobody else has.
    const rc = await joined(c, 'doc', {}, (room) => room.doc.getMap('m').set('from-c', 1))
    await until(() => converged(ra, rb, rc), 'the three documents to converge')
    expect(rc.text).toBe('def')
    expect(ra.doc.getMap('m').get('from-c')).toBe(1)
  })

  it('carries awareness across instances, answers awareness queries and removals', async () => {
    const prefix = newPrefix()
    const [a, b, c] = await Promise.all([open(prefix), open(prefix), open(prefix)])
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    const alice = client({ user: 'alice' })
    const bob = client({ user: 'bob' })
    ra.localClient(alice)
    rb.localClient(bob)
    await until(() => ra.awareness.getStates().has(bob.clientID) && rb.awareness.getStates().has(alice.clientID), 'a and b to see each other\'s clients')
    expect(rb.awareness.getStates().get(alice.clientID)).toEqual({ user: 'alice' })

    // A room that loads later asks for the presence it missed.
    const rc = await joined(c, 'doc')
    await until(() => rc.awareness.getStates().has(alice.clientID) && rc.awareness.getStates().has(bob.clientID), 'c to receive both clients by query')

    // alice disconnects from a.
    awarenessProtocol.removeAwarenessStates(ra.awareness, [alice.clientID], LOCAL)
    await until(() => !rb.awareness.getStates().has(alice.clientID) && !rc.awareness.getStates().has(alice.clientID), 'alice\'s removal to cross')
  })

  it('removes the presence of an instance whose heartbeat expired, but not of clients that moved', async () => {
    const prefix = newPrefix()
    const timing = { heartbeatMs: 100, instanceTtlMs: 300 }
    const [a, b, c] = await Promise.all([open(prefix, timing), open(prefix, timing), open(prefix, timing)])
    const ra = await joined(a, 'doc')
    // b exercises the fallback: no removeRemoteClients, so the adapter hands it a removal update.
    const rb = await joined(b, 'doc', { removeRemoteClients: false })
    const rc = await joined(c, 'doc')
    const stays = client({ user: 'stays-on-c' })
    const moves = client({ user: 'moves-to-a' })
    const onA = client({ user: 'on-a' })
    rc.localClient(stays)
    rc.localClient(moves)
    ra.localClient(onA)
    const seeAll = (room: TestRoom, ...ids: number[]): boolean => ids.every((id) => room.awareness.getStates().has(id))
    await until(() => seeAll(ra, stays.clientID, moves.clientID) && seeAll(rb, stays.clientID, moves.clientID, onA.clientID), 'c\'s clients to reach a and b')

    // `moves` reconnects to a (its renewal bumps the clock) before c dies.
    moves.setLocalState({ user: 'moves-to-a', renewed: true })
    ra.localClient(moves)
    await until(() => (rb.awareness.getStates().get(moves.clientID) as { renewed?: boolean } | undefined)?.renewed === true, 'b to see the moved client from a')

    // c dies without closing: its connections vanish, its heartbeat stops.
    c.connections.publisher.disconnect()
    c.connections.subscriber.disconnect()
    const diedAt = Date.now()
    await until(() => !ra.awareness.getStates().has(stays.clientID) && !rb.awareness.getStates().has(stays.clientID), 'c\'s clients to disappear', 5000)
    const removedAfterMs = Date.now() - diedAt
    // TTL plus one check period, plus scheduling slack on a busy machine.
    expect(removedAfterMs).toBeLessThan(timing.instanceTtlMs + 2 * timing.heartbeatMs + 1000)
    expect(seeAll(ra, moves.clientID)).toBe(true)
    expect(seeAll(rb, moves.clientID, onA.clientID)).toBe(true)
    expect(a.stats.instancesExpired).toBe(1)
    expect(b.stats.instancesExpired).toBe(1)
    console.log(`dead instance's presence removed after ${removedAfterMs} ms (heartbeat ${timing.heartbeatMs} ms, TTL ${timing.instanceTtlMs} ms)`)
  })

  for (const killed of ['subscriber', 'publisher', 'both'] as const) {
    it(`heals the gap after dropping ${killed === 'both' ? 'both connections' : `the ${killed} connection`}`, async () => {
      const prefix = newPrefix()
      // A fixed reconnect delay keeps the outage long enough to edit during it.
      const log: string[] = []
      const started = Date.now()
      const logger = {
        warn: (obj: object, msg?: string) => { log.push(`+${Date.now() - started} ms warn ${msg ?? ''} ${JSON.stringify({ ...obj, err: undefined })}`) },
        info: (obj: object, msg?: string) => { log.push(`+${Date.now() - started} ms info ${msg ?? ''} ${JSON.stringify(obj)}`) }
      }
      const a = await open(prefix, { logger, redisOptions: { retryStrategy: () => 400 } })
      const b = await open(prefix)
      const ra = await joined(a, 'doc')
      const rb = await joined(b, 'doc')
      const other = await joined(a, 'other')
      const otherB = await joined(b, 'other')
      const lateB = await joined(b, 'late')
      insert(lateB, 'held by b.')
      insert(ra, 'before.')
      await until(() => rb.text === 'before.', 'the first update')

      const redis = admin()
      const roles = killed === 'both' ? ['publisher', 'subscriber'] as const : [killed]
      const ids = await Promise.all(roles.map((role) => clientId(redis, `${prefix}${role}:${a.instanceId}`)))
      const healsBefore = a.stats.heals
      for (const id of ids) await redis.client('KILL', 'ID', id)
      await until(() => roles.every((role) => a.connections[role].status !== 'ready'), 'a to notice the drop', 2000)

      // Both sides edit during the outage; local service goes on.
      await expect(a.check()).rejects.toThrow()
      insert(ra, 'a-during.')
      insert(rb, 'b-during.')
      otherB.doc.getText('t').insert(0, 'other-b')
      // A room that loads during the outage: join must not wait for Redis.
      const joinStart = Date.now()
      const lateA = await joined(a, 'late')
      expect(Date.now() - joinStart).toBeLessThan(2500)
      if (roles.includes('publisher' as never)) {
        await until(() => a.stats.dropped > 0, 'a\'s publish to be dropped')
      }

      await until(() => a.connected, 'a to reconnect', 5000)
      await until(() => converged(ra, rb) && converged(other, otherB) && converged(lateA, lateB), 'the documents to converge after the reconnect', 5000)
      expect(ra.text).toContain('a-during.')
      expect(ra.text).toContain('b-during.')
      expect(other.text).toBe('other-b')
      expect(a.stats.heals).toBeGreaterThan(healsBefore)
      await a.check()
      console.log(`drop of ${killed}: a dropped ${a.stats.dropped} publishes, ran ${a.stats.heals - healsBefore} document heals\n${log.join('\n')}`)

      // And the live path works again in both directions.
      insert(ra, 'after-a.')
      insert(rb, 'after-b.')
      await until(() => converged(ra, rb) && ra.text.includes('after-a.') && ra.text.includes('after-b.'), 'live updates after the reconnect')
    })
  }

  it('sheds publishes beyond maxPendingPublishes and heals once the backlog drains', async () => {
    const prefix = newPrefix()
    const a = await open(prefix, { maxPendingPublishes: 5 })
    const b = await open(prefix)
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    for (let i = 0; i < 200; i++) insert(ra, String(i % 10))
    expect(a.stats.dropped).toBeGreaterThan(0)
    await until(() => converged(ra, rb), 'b to receive the shed updates through the exchange')
    expect(rb.text.length).toBe(200)
  })

  it('ignores malformed messages and messages addressed to another instance', async () => {
    const prefix = newPrefix()
    const [a, b] = await Promise.all([open(prefix), open(prefix)])
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    const redis = admin()
    await redis.publish(`${prefix}doc:doc`, Buffer.from([0xff, 0xff, 0xff]))
    await redis.publish(`${prefix}doc:doc`, Buffer.from([0x00, 0x01, 0x78, 0x05]))
    insert(ra, 'still fine')
    await until(() => rb.text === 'still fine', 'the update after garbage')
    expect(b.stats.malformed).toBe(2)
    expect(a.stats.malformed).toBe(2)
  })

  it('close is idempotent, deletes the instance key and leaves no timers or sockets', async () => {
    const resources = (): Record<string, number> => {
      const counts: Record<string, number> = {}
      for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
      return counts
    }
    const before = resources()
    const prefix = newPrefix()
    const a = await RedisFanout.open({ url: REDIS_URL, keyPrefix: prefix, heartbeatMs: 50, instanceTtlMs: 200 })
    const b = await RedisFanout.open({ url: REDIS_URL, keyPrefix: prefix, heartbeatMs: 50, instanceTtlMs: 200 })
    const ra = new TestRoom(a, 'doc')
    const rb = new TestRoom(b, 'doc')
    await a.join('doc', ra)
    await b.join('doc', rb)
    insert(ra, 'x')
    await until(() => rb.text === 'x', 'one exchange')
    const redis = new Redis(REDIS_URL)
    expect(await redis.exists(`${prefix}instance:${a.instanceId}`)).toBe(1)

    await Promise.all([a.close(), a.close()])
    await a.close()
    expect(await redis.exists(`${prefix}instance:${a.instanceId}`)).toBe(0)
    expect(a.connections.publisher.status).toBe('end')
    expect(a.connections.subscriber.status).toBe('end')
    await expect(a.join('doc2', ra)).rejects.toThrow(/closed/)
    await expect(a.check()).rejects.toThrow(/closed/)
    a.publishUpdate('doc', new Uint8Array([0, 0]))

    await b.close()
    await redis.quit()
    ra.destroy()
    rb.destroy()
    // Sockets close on the next turns of the event loop.
    await until(() => {
      const after = resources()
      return (after.Timeout ?? 0) <= (before.Timeout ?? 0) && (after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0)
    }, 'timers and sockets to be released', 2000)
  })

  it('open rejects when Redis is unreachable, and options that contradict are refused', async () => {
    await expect(RedisFanout.open({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 })).rejects.toThrow(/cannot reach/)
    await expect(RedisFanout.open({ url: REDIS_URL, heartbeatMs: 1000, instanceTtlMs: 1000 })).rejects.toThrow(/instanceTtlMs/)
    await expect(RedisFanout.open({ url: REDIS_URL, livenessTimeoutMs: 0 })).rejects.toThrow(/livenessTimeoutMs/)
    await expect(RedisFanout.open({ url: REDIS_URL, checkTimeoutMs: -1 })).rejects.toThrow(/checkTimeoutMs/)
  })

  it('delivers 1,000 sequential updates and a burst of 1,000 across instances', async () => {
    const prefix = newPrefix()
    const [a, b] = await Promise.all([open(prefix), open(prefix)])
    const ra = await joined(a, 'doc')
    const rb = await joined(b, 'doc')
    const count = 1000
    const map = ra.doc.getMap<number>('m')

    // One at a time: each must arrive before the next is made (how fast is
    // the benchmark's question).
    let onArrival: ((value: number) => void) | null = null
    rb.doc.getMap<number>('m').observe(() => onArrival?.(performance.now()))
    const sequential: number[] = []
    for (let i = 0; i < count; i++) {
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`update ${i} did not arrive within 2 s`)), 2000)
        onArrival = (at) => { clearTimeout(timer); resolve(at) }
      })
      const start = performance.now()
      map.set('n', i)
      sequential.push(await arrived - start)
    }
    onArrival = null

    // A burst: published in one turn of the event loop; what counts is
    // when the last one is applied on b (throughput, not latency).
    const burst = rb.doc.getText('burst')
    const burstStart = performance.now()
    for (let i = 0; i < count; i++) ra.doc.getText('burst').insert(i, 'x')
    const sentMs = performance.now() - burstStart
    await until(() => burst.length === count, 'the burst', 10_000)
    const deliveredMs = performance.now() - burstStart

    expect(sequential).toHaveLength(count)
    expect(burst.toString()).toBe('x'.repeat(count))
    expect(deliveredMs).toBeGreaterThanOrEqual(sentMs)
  })
})
