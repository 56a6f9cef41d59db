/**
 * Redis fan-out: carries document updates and awareness between tandem
 * instances that serve the same documents.
 *
 * ## Why pub/sub with state-vector healing, not Streams
 *
 * Redis pub/sub delivers at most once: a message published while a subscriber
 * is disconnected is lost to it. Streams would keep messages for replay, but at
 * a price that buys little here:
 *
 * - Every update would be written into Redis memory, trimmed by length or age,
 *   and each instance would keep a read cursor per document and a blocking
 *   XREAD connection that must be interrupted whenever a room loads or unloads.
 * - Replay is bounded by the trim window anyway, and a room that loads needs
 *   the other instances' state, not a log suffix, so a state exchange is
 *   needed regardless.
 * - Durability is the job of the shared store (Postgres), not of Redis.
 *
 * Yjs updates are commutative and idempotent, and a state vector says exactly
 * what a document lacks. So the CRDT is its own recovery log: pub/sub is the
 * fast path (one round trip, nothing stored in Redis), and whenever delivery
 * may have had a gap — a room joining, either connection coming back after a
 * drop, the publisher shedding load — the instance runs a state-vector
 * exchange for each document it holds, in both directions. Pub/sub only loses
 * messages across a disconnect (a subscriber that falls too far behind is
 * disconnected by Redis's output buffer limit), and every reconnect heals. A
 * link that hangs without closing would lose them silently, so each
 * connection is asked a PING every heartbeat and dropped when it stays
 * unanswered (`link-watch.ts`): a hang becomes a disconnect, and heals.
 *
 * ## Presence of dead instances
 *
 * Each instance refreshes `<prefix>instance:<id>` with a TTL. The adapter reads
 * the client ids in the awareness updates it relays to learn which instance
 * controls which awareness client, and when an instance's key has expired it
 * asks every room to remove that instance's clients, so the presence of a
 * killed instance disappears within about `instanceTtlMs + heartbeatMs`.
 */
import { randomUUID } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { AwarenessOwners, Fanout, FanoutRoom } from './types.js'
import { LinkWatch } from './link-watch.js'
import {
  decodeFanoutMessage,
  encodeAwarenessRemoval,
  encodeFanoutMessage,
  readAwarenessEntries,
  type FanoutMessage,
  type FanoutMessageBody
} from './message.js'

export interface FanoutLogger {
  warn(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
}

/**
 * What the Redis adapter can use beyond `FanoutRoom`. Both methods are
 * optional; without them the adapter removes a dead instance's clients by
 * handing the room an awareness update that sets their states to null at the
 * clock last seen from that instance.
 */
export interface RedisFanoutRoom extends FanoutRoom {
  /**
   * Removes the awareness states of these clients: they belonged to another
   * instance that stopped heartbeating. The room should skip any client id a
   * local connection controls by now (its user may have reconnected here).
   */
  removeRemoteClients?(clientIds: number[]): void
  /**
   * Called on every joined room when `instanceId` stopped heartbeating, with
   * the client ids the adapter saw that instance announce for this document.
   */
  removeInstanceStates?(instanceId: string, clientIds?: number[]): void
  /**
   * Resolves once everything the document holds now is stored; rejects if
   * that can no longer happen (the write failed). The room applies updates
   * before storing them, so a diff may contain changes still on their way to
   * storage: the adapter sends a diff only once this resolves, because the
   * receiving instance relays what it gets at once and does not store it
   * when storage is shared. Without it diffs are sent at once.
   */
  whenStored?(): Promise<void>
}

export interface RedisFanoutOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379` or `rediss://…` for TLS. */
  url: string
  /**
   * Prefix of every channel and key, so several clusters (or test runs) can
   * share one Redis.
   * @default 'tandem:'
   */
  keyPrefix?: string
  /**
   * Stamped on every message; must be unique among instances sharing the prefix.
   * @default a random UUID
   */
  instanceId?: string
  /**
   * How often this instance refreshes its heartbeat key and checks the keys of
   * the instances whose awareness clients it holds.
   * @default 2000
   */
  heartbeatMs?: number
  /**
   * TTL of the heartbeat key: an instance silent for this long is considered
   * dead and its awareness clients are removed. Must exceed `heartbeatMs`.
   * @default 6000
   */
  instanceTtlMs?: number
  /**
   * `open()` rejects when Redis is not reachable within this time: a wrong URL
   * at start-up should fail loudly rather than run without fan-out.
   * @default 10000
   */
  connectTimeoutMs?: number
  /**
   * Bounds how long `join`, `leave` and `check` wait for Redis, so a Redis that
   * accepts connections but does not answer cannot stall room loading.
   * @default 2000
   */
  commandTimeoutMs?: number
  /**
   * Bounds how long `check()` (behind `/healthz`) waits for Redis: a health
   * checker needs an answer at once, also while a hung link is still being
   * found out.
   * @default 500
   */
  checkTimeoutMs?: number
  /**
   * A connection whose PING (sent once per heartbeat) or handshake stays
   * unanswered this long is hung: it is dropped and reconnected, and the gap
   * healed like after any drop. A hung link is therefore noticed within
   * `heartbeatMs + livenessTimeoutMs`; keep that below `instanceTtlMs` so
   * this instance reconnects before the others give up on it.
   * @default heartbeatMs
   */
  livenessTimeoutMs?: number
  /**
   * Publishes sent but not yet acknowledged by Redis. Beyond it publishes are
   * dropped (and healed by a state-vector exchange once the backlog drains),
   * so a stalled Redis cannot grow this process's memory without bound.
   * @default 10000
   */
  maxPendingPublishes?: number
  /**
   * Extra ioredis options (TLS, credentials, `retryStrategy`…). The adapter's
   * own settings (`enableOfflineQueue: false`, `autoResubscribe: false`,
   * `connectionName`) take precedence.
   * @default {}
   */
  redisOptions?: RedisOptions
  /** @default a logger that discards everything */
  logger?: FanoutLogger
}

export const REDIS_FANOUT_DEFAULTS = Object.freeze({
  keyPrefix: 'tandem:',
  heartbeatMs: 2000,
  instanceTtlMs: 6000,
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 2000,
  checkTimeoutMs: 500,
  maxPendingPublishes: 10_000
})

/** Counters for metrics and tests; monotonic. */
export interface RedisFanoutStats {
  /** Messages acknowledged by Redis. */
  published: number
  /** Messages not sent: Redis down, or too many pending. Healing covers them. */
  dropped: number
  /** Messages from other instances handled (echoes and ones for others excluded). */
  received: number
  /** Messages that could not be decoded. */
  malformed: number
  /** State-vector exchanges started (per document). */
  heals: number
  /** Other instances whose heartbeat expired. */
  instancesExpired: number
  /** Connections dropped because they stopped answering (see `livenessTimeoutMs`). */
  hungLinks: number
}

interface Joined {
  docName: string
  channel: string
  room: RedisFanoutRoom
  /** Remote awareness clients: the instance that last announced each, and the clock it announced. */
  remoteClients: Map<number, { instanceId: string; clock: number }>
}

interface ResolvedConfig {
  url: string
  keyPrefix: string
  instanceId: string
  heartbeatMs: number
  instanceTtlMs: number
  connectTimeoutMs: number
  commandTimeoutMs: number
  checkTimeoutMs: number
  livenessTimeoutMs: number
  maxPendingPublishes: number
  redisOptions: RedisOptions
  logger: FanoutLogger
}

const EMPTY = new Uint8Array(0)
const silentLogger: FanoutLogger = { warn () {}, info () {} }

export class RedisFanout implements Fanout {
  readonly instanceId: string
  readonly stats: RedisFanoutStats = { published: 0, dropped: 0, received: 0, malformed: 0, heals: 0, instancesExpired: 0, hungLinks: 0 }
  /**
   * The two connections, for diagnostics (they carry a `CLIENT SETNAME` of
   * `<prefix>publisher:<id>` / `<prefix>subscriber:<id>`). Commands that change
   * subscriptions would break the adapter.
   */
  readonly connections: { readonly publisher: Redis; readonly subscriber: Redis }

  private readonly config: ResolvedConfig
  private readonly publisher: Redis
  private readonly subscriber: Redis
  private readonly rooms = new Map<string, Joined>()
  private readonly byChannel = new Map<string, Joined>()
  /** When a message from each other instance was last handled (ms). */
  private readonly lastSeen = new Map<string, number>()
  private readonly strayUnsubscribes = new Set<string>()
  private readonly instanceKey: string
  private readonly timer: ReturnType<typeof setInterval>
  private readonly watches: LinkWatch[]
  private publisherWasReady = false
  private subscriberWasReady = false
  /** Since when the publisher has been ready; expiry checks wait a TTL after it. */
  private publisherReadySince = 0
  /** Bumped on every subscriber drop so an interrupted re-subscription stops. */
  private subscriberGeneration = 0
  private pendingPublishes = 0
  private shedLoad = false
  private heartbeats = 0
  private checkingExpiry = false
  private loggedOutage = { publisher: false, subscriber: false }
  private up = { publisher: false, subscriber: false }
  private closing: Promise<void> | null = null

  /**
   * Connects the publisher and subscriber connections and starts the
   * heartbeat. Rejects when Redis is not ready within `connectTimeoutMs`.
   */
  static async open (options: RedisFanoutOptions): Promise<RedisFanout> {
    const config = resolveOptions(options)
    const fanout = new RedisFanout(config)
    try {
      await Promise.all([
        waitReady(fanout.publisher, config.connectTimeoutMs),
        waitReady(fanout.subscriber, config.connectTimeoutMs)
      ])
    } catch (err) {
      await fanout.close()
      throw new Error(`redis fan-out: cannot reach ${redactUrl(config.url)}: ${(err as Error).message}`)
    }
    return fanout
  }

  private constructor (config: ResolvedConfig) {
    this.config = config
    this.instanceId = config.instanceId
    this.instanceKey = `${config.keyPrefix}instance:${config.instanceId}`
    const connection = (role: 'publisher' | 'subscriber'): Redis => new Redis(config.url, {
      ...config.redisOptions,
      // Publishes while disconnected are dropped at once instead of queued
      // without bound; the state-vector exchange after reconnect covers them.
      enableOfflineQueue: false,
      // Re-subscription is done here, so that the heal runs after it and
      // only for rooms that are still joined.
      autoResubscribe: false,
      connectionName: `${config.keyPrefix}${role}:${config.instanceId}`.replace(/[^\w:.-]/g, '_')
    })
    this.publisher = connection('publisher')
    this.subscriber = connection('subscriber')
    this.connections = { publisher: this.publisher, subscriber: this.subscriber }

    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message))
    this.subscriber.on('ready', () => this.onSubscriberReady())
    this.publisher.on('ready', () => this.onPublisherReady())
    for (const role of ['publisher', 'subscriber'] as const) {
      const client = this[role]
      // Without a listener ioredis prints every connection error; one line per outage is enough.
      client.on('error', (err: Error) => {
        if (this.loggedOutage[role] || this.closing !== null) return
        this.loggedOutage[role] = true
        this.config.logger.warn({ err, role }, 'redis fan-out connection error; local service continues, publishes are dropped until it returns')
      })
      client.on('close', () => {
        if (role === 'subscriber') this.subscriberGeneration++
        if (role === 'publisher') this.publisherReadySince = 0
        if (this.up[role] && this.closing === null) {
          this.loggedOutage[role] = true
          this.config.logger.warn({ role }, 'redis fan-out connection lost; local service continues, publishes are dropped until it returns')
        }
        this.up[role] = false
      })
    }
    this.watches = (['publisher', 'subscriber'] as const).map((role) => new LinkWatch(this[role], {
      timeoutMs: config.livenessTimeoutMs,
      onHung: ({ state, silentMs }) => this.onHung(role, state, silentMs)
    }))
    this.timer = setInterval(() => this.tick(), config.heartbeatMs)
  }

  get connected (): boolean {
    return this.publisher.status === 'ready' && this.subscriber.status === 'ready'
  }

  /**
   * Subscribes to the document's channel, then publishes a sync request with
   * the room's state vector and an awareness query. Resolves once subscribed;
   * while Redis is unreachable it resolves after at most `commandTimeoutMs`,
   * and the subscription and the exchange happen when Redis returns.
   */
  async join (docName: string, room: RedisFanoutRoom): Promise<void> {
    if (this.closing !== null) throw new Error('redis fan-out is closed')
    if (this.rooms.has(docName)) throw new Error(`redis fan-out: ${docName} is already joined`)
    const entry: Joined = { docName, channel: this.channelOf(docName), room, remoteClients: new Map() }
    this.rooms.set(docName, entry)
    this.byChannel.set(entry.channel, entry)
    if (this.subscriber.status !== 'ready') return
    const subscribed = this.subscriber.subscribe(entry.channel).then(
      () => { if (this.rooms.get(docName) === entry) this.heal(entry) },
      // Offline: the reconnect re-subscribes every joined room and heals it.
      () => {}
    )
    await settleWithin(subscribed, this.config.commandTimeoutMs)
  }

  /** Unsubscribes; no room callbacks for `docName` once it is called. */
  async leave (docName: string): Promise<void> {
    const entry = this.rooms.get(docName)
    if (entry === undefined) return
    this.rooms.delete(docName)
    this.byChannel.delete(entry.channel)
    if (this.subscriber.status !== 'ready') return
    // A failure leaves a subscription whose messages are ignored; it ends
    // with the connection at the latest.
    await settleWithin(this.subscriber.unsubscribe(entry.channel).catch(() => {}), this.config.commandTimeoutMs)
  }

  publishUpdate (docName: string, update: Uint8Array): void {
    this.send(this.channelOf(docName), { type: 'update', update })
  }

  publishAwareness (docName: string, update: Uint8Array, owners?: AwarenessOwners): void {
    const entry = this.rooms.get(docName)
    if (entry !== undefined && entry.remoteClients.size > 0) {
      // A client that is announced locally now belongs to this instance (its
      // user may have reconnected here after its instance died).
      try {
        for (const { clientId } of readAwarenessEntries(update)) entry.remoteClients.delete(clientId)
      } catch {}
    }
    this.send(this.channelOf(docName), { type: 'awareness', update, owners })
  }

  /**
   * Rejects unless both connections are up and both answer a PING within
   * `checkTimeoutMs`; always settles within that time. Both are asked: a
   * hung subscriber misses every message while the publisher works fine.
   */
  async check (): Promise<void> {
    if (this.closing !== null) throw new Error('redis fan-out is closed')
    for (const role of ['publisher', 'subscriber'] as const) {
      const status = this[role].status
      if (status !== 'ready') throw new Error(`redis fan-out ${role} is ${status}`)
    }
    const ms = this.config.checkTimeoutMs
    await Promise.all((['publisher', 'subscriber'] as const).map((role) =>
      within(this[role].ping(), ms, `redis fan-out ${role} did not answer within ${ms} ms`)))
  }

  /** Leaves every room, stops the heartbeat, deletes this instance's key and quits both connections. Safe to call twice. */
  close (): Promise<void> {
    if (this.closing === null) this.closing = this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    clearInterval(this.timer)
    for (const watch of this.watches) watch.stop()
    // Quitting the subscriber drops every subscription; no need to leave one by one.
    this.rooms.clear()
    this.byChannel.clear()
    if (this.publisher.status === 'ready') {
      // Lets the other instances drop this instance's presence at their next check.
      await settleWithin(this.publisher.del(this.instanceKey).catch(() => {}), this.config.commandTimeoutMs)
    }
    await Promise.all([
      quit(this.publisher, this.config.commandTimeoutMs),
      quit(this.subscriber, this.config.commandTimeoutMs)
    ])
  }

  private channelOf (docName: string): string {
    return `${this.config.keyPrefix}doc:${docName}`
  }

  private send (channel: string, body: FanoutMessageBody, to = ''): void {
    if (this.closing !== null) return
    if (this.pendingPublishes >= this.config.maxPendingPublishes) {
      this.stats.dropped++
      if (!this.shedLoad) this.config.logger.warn({ pending: this.pendingPublishes }, 'redis fan-out: too many pending publishes, dropping until the backlog drains')
      this.shedLoad = true
      return
    }
    const message = encodeFanoutMessage({ ...body, from: this.instanceId, to } as FanoutMessage)
    this.pendingPublishes++
    this.publisher.publish(channel, Buffer.from(message.buffer, message.byteOffset, message.byteLength)).then(
      () => { this.stats.published++; this.publishSettled() },
      () => { this.stats.dropped++; this.publishSettled() }
    )
  }

  private publishSettled (): void {
    this.pendingPublishes--
    if (this.shedLoad && this.pendingPublishes === 0) {
      // What was dropped while shedding reaches the others through the exchange.
      this.shedLoad = false
      this.healAll('publish backlog drained')
    }
  }

  private onMessage (channelBuffer: Buffer, data: Buffer): void {
    const channel = channelBuffer.toString()
    const entry = this.byChannel.get(channel)
    if (entry === undefined) {
      this.unsubscribeStray(channel)
      return
    }
    let message
    try {
      message = decodeFanoutMessage(data)
    } catch (err) {
      this.stats.malformed++
      if (this.stats.malformed === 1 || this.stats.malformed % 1000 === 0) {
        this.config.logger.warn({ err, docName: entry.docName, malformed: this.stats.malformed }, 'redis fan-out: dropped a malformed message')
      }
      return
    }
    if (message.from === this.instanceId) return
    if (message.to !== '' && message.to !== this.instanceId) return
    this.lastSeen.set(message.from, Date.now())
    if (message.type === 'unknown') return
    this.stats.received++
    try {
      this.dispatch(entry, message)
    } catch (err) {
      // A room that throws must not take the subscriber's event handler down.
      this.config.logger.warn({ err, docName: entry.docName, type: message.type }, 'redis fan-out: room failed to handle a message')
    }
  }

  private dispatch (entry: Joined, message: FanoutMessage): void {
    const { room } = entry
    switch (message.type) {
      case 'update':
        // The parser may reuse the buffer behind `data`; the room may keep the update.
        room.onRemoteUpdate(message.update.slice())
        break
      case 'awareness':
        this.trackAwareness(entry, message.from, message.update)
        room.onRemoteAwareness(message.update.slice(), message.owners)
        break
      case 'sync-request': {
        // Always answer with our state vector, even when the requester lacks
        // nothing: deletions do not advance state vectors, so only the
        // requester's diff can tell whether we lack something.
        const diff = room.diff(message.stateVector)
        const reply = { type: 'sync-reply', update: diff ?? EMPTY, stateVector: room.stateVector() } as const
        if (diff === null) this.send(entry.channel, reply, message.from)
        else this.sendDiffWhenStored(entry, reply, message.from)
        break
      }
      case 'sync-reply': {
        if (message.update.length > 0) room.onRemoteUpdate(message.update.slice())
        if (message.stateVector.length > 0) {
          const diff = room.diff(message.stateVector)
          if (diff !== null) this.sendDiffWhenStored(entry, { type: 'sync-reply', update: diff, stateVector: EMPTY }, message.from)
        }
        break
      }
      case 'awareness-query': {
        const snapshot = room.awarenessSnapshot()
        if (snapshot !== null) this.send(entry.channel, { type: 'awareness', update: snapshot, owners: room.awarenessOwners?.() }, message.from)
        break
      }
    }
  }

  /**
   * Sends a diff of the room's document once the room has stored everything
   * in it. Guarantee 1 across instances: the receiver relays the diff to its
   * clients at once, so it must not carry a change a crash (or a failed
   * write) could still lose. A room whose write failed never sends it; the
   * requester heals from the next exchange.
   */
  private sendDiffWhenStored (entry: Joined, body: FanoutMessageBody, to: string): void {
    const stored = entry.room.whenStored?.()
    if (stored === undefined) {
      this.send(entry.channel, body, to)
      return
    }
    stored.then(
      () => { if (this.rooms.get(entry.docName) === entry) this.send(entry.channel, body, to) },
      () => {}
    )
  }

  /** Records which instance controls which awareness client of the document. */
  private trackAwareness (entry: Joined, instanceId: string, update: Uint8Array): void {
    let entries
    try {
      entries = readAwarenessEntries(update)
    } catch (err) {
      this.config.logger.warn({ err, docName: entry.docName, instanceId }, 'redis fan-out: cannot read client ids of an awareness update')
      return
    }
    for (const { clientId, clock, removed } of entries) {
      if (removed) entry.remoteClients.delete(clientId)
      else entry.remoteClients.set(clientId, { instanceId, clock })
    }
  }

  private unsubscribeStray (channel: string): void {
    // Possible after a reconnect resent a SUBSCRIBE for a room that left meanwhile.
    if (this.strayUnsubscribes.has(channel) || this.subscriber.status !== 'ready') return
    this.strayUnsubscribes.add(channel)
    this.subscriber.unsubscribe(channel).catch(() => {}).finally(() => this.strayUnsubscribes.delete(channel))
  }

  private onPublisherReady (): void {
    this.publisherReadySince = Date.now()
    this.loggedOutage.publisher = false
    this.up.publisher = true
    this.heartbeat()
    if (!this.publisherWasReady) {
      this.publisherWasReady = true
      return
    }
    this.config.logger.info({ role: 'publisher', rooms: this.rooms.size }, 'redis fan-out reconnected')
    // Updates published while the publisher was down were dropped.
    this.healAll('publisher reconnected')
  }

  private onSubscriberReady (): void {
    this.loggedOutage.subscriber = false
    this.up.subscriber = true
    if (!this.subscriberWasReady) {
      this.subscriberWasReady = true
      return
    }
    this.config.logger.info({ role: 'subscriber', rooms: this.rooms.size }, 'redis fan-out reconnected')
    void this.resubscribeAll()
  }

  /** Subscribes every joined room again, then heals them: messages published during the drop were lost. */
  private async resubscribeAll (): Promise<void> {
    const generation = this.subscriberGeneration
    const channels = [...this.byChannel.keys()]
    const batch = 500
    for (let i = 0; i < channels.length; i += batch) {
      try {
        await this.subscriber.subscribe(...channels.slice(i, i + batch))
      } catch {
        // Dropped again; the next 'ready' starts over.
        return
      }
      if (generation !== this.subscriberGeneration || this.closing !== null) return
    }
    this.healAll('subscriber reconnected')
  }

  private healAll (reason: string): void {
    if (!this.connected || this.closing !== null) return
    if (this.rooms.size > 0) this.config.logger.info({ reason, rooms: this.rooms.size }, 'redis fan-out: state-vector exchange')
    for (const entry of this.rooms.values()) this.heal(entry)
  }

  /**
   * Asks the other instances for what this room lacks (they answer with their
   * state vector too, so it sends back what they lack), asks for their
   * awareness and announces its own.
   */
  private heal (entry: Joined): void {
    this.stats.heals++
    try {
      this.send(entry.channel, { type: 'sync-request', stateVector: entry.room.stateVector() })
      this.send(entry.channel, { type: 'awareness-query' })
      const snapshot = entry.room.awarenessSnapshot()
      if (snapshot !== null) this.send(entry.channel, { type: 'awareness', update: snapshot, owners: entry.room.awarenessOwners?.() })
    } catch (err) {
      this.config.logger.warn({ err, docName: entry.docName }, 'redis fan-out: room failed to produce its state')
    }
  }

  /**
   * A connection stopped answering. The drop that follows is handled like
   * any other (reconnect, re-subscribe, heal); this only makes it one log
   * line and a counter instead of silence.
   */
  private onHung (role: 'publisher' | 'subscriber', state: 'ready' | 'handshake', silentMs: number): void {
    if (this.closing !== null) return
    this.stats.hungLinks++
    if (!this.loggedOutage[role]) {
      this.config.logger.warn({ role, state, silentMs }, `redis fan-out connection hung (no answer for ${silentMs} ms); reconnecting, publishes are dropped until it returns`)
    }
    // The close that follows is this outage, already reported.
    this.loggedOutage[role] = true
    this.up[role] = false
  }

  private tick (): void {
    if (this.closing !== null) return
    for (const watch of this.watches) watch.probe()
    if (this.publisher.status !== 'ready') return
    this.heartbeat()
    void this.expireInstances()
  }

  private heartbeat (): void {
    const first = this.heartbeats++ === 0
    this.publisher.set(this.instanceKey, String(Date.now()), 'PX', this.config.instanceTtlMs, 'GET').then(
      (previous) => {
        // The key had lapsed (a stalled event loop, or Redis lost its data):
        // the others may have removed this instance's presence, so announce it again.
        if (previous === null && !first && this.closing === null) {
          for (const entry of this.rooms.values()) {
            const snapshot = entry.room.awarenessSnapshot()
            if (snapshot !== null) this.send(entry.channel, { type: 'awareness', update: snapshot, owners: entry.room.awarenessOwners?.() })
          }
        }
      },
      () => {}
    ).catch((err: unknown) => this.config.logger.warn({ err }, 'redis fan-out: room failed to produce its awareness'))
  }

  /** Removes the awareness clients of instances whose heartbeat key has expired. */
  private async expireInstances (): Promise<void> {
    const now = Date.now()
    // After a Redis restart every key is gone; give the others a TTL to write theirs again.
    if (this.checkingExpiry || this.publisherReadySince === 0 || now - this.publisherReadySince < this.config.instanceTtlMs) return
    const owners = new Set<string>()
    for (const entry of this.rooms.values()) {
      for (const { instanceId } of entry.remoteClients.values()) owners.add(instanceId)
    }
    for (const [instanceId, seen] of this.lastSeen) {
      if (!owners.has(instanceId) && now - seen > 10 * this.config.instanceTtlMs) this.lastSeen.delete(instanceId)
    }
    if (owners.size === 0) return
    const ids = [...owners]
    this.checkingExpiry = true
    let alive: Array<string | null>
    try {
      alive = await within(this.publisher.mget(ids.map((id) => `${this.config.keyPrefix}instance:${id}`)), this.config.commandTimeoutMs, 'timed out')
    } catch {
      return
    } finally {
      this.checkingExpiry = false
    }
    if (this.closing !== null) return
    const checkedAt = Date.now()
    ids.forEach((instanceId, i) => {
      // A message received within the TTL proves life even if the key is missing.
      if (alive[i] === null && checkedAt - (this.lastSeen.get(instanceId) ?? 0) > this.config.instanceTtlMs) {
        this.expireInstance(instanceId)
      }
    })
  }

  private expireInstance (instanceId: string): void {
    this.stats.instancesExpired++
    this.lastSeen.delete(instanceId)
    let removed = 0
    for (const entry of this.rooms.values()) {
      const clients: Array<{ clientId: number; clock: number }> = []
      for (const [clientId, owner] of entry.remoteClients) {
        if (owner.instanceId === instanceId) clients.push({ clientId, clock: owner.clock })
      }
      for (const { clientId } of clients) entry.remoteClients.delete(clientId)
      removed += clients.length
      const clientIds = clients.map((c) => c.clientId)
      const { room } = entry
      try {
        if (room.removeRemoteClients !== undefined) {
          if (clientIds.length > 0) room.removeRemoteClients(clientIds)
        } else if (room.removeInstanceStates !== undefined) {
          room.removeInstanceStates(instanceId, clientIds)
        } else if (clients.length > 0) {
          room.onRemoteAwareness(encodeAwarenessRemoval(clients))
        }
      } catch (err) {
        this.config.logger.warn({ err, docName: entry.docName, instanceId }, 'redis fan-out: room failed to remove a dead instance\'s presence')
      }
    }
    this.config.logger.info({ instanceId, clients: removed }, 'redis fan-out: instance heartbeat expired, removed its presence')
  }
}

function resolveOptions (options: RedisFanoutOptions): ResolvedConfig {
  const d = REDIS_FANOUT_DEFAULTS
  const config: ResolvedConfig = {
    url: options.url,
    keyPrefix: options.keyPrefix ?? d.keyPrefix,
    instanceId: options.instanceId ?? randomUUID(),
    heartbeatMs: options.heartbeatMs ?? d.heartbeatMs,
    instanceTtlMs: options.instanceTtlMs ?? d.instanceTtlMs,
    connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs ?? d.commandTimeoutMs,
    checkTimeoutMs: options.checkTimeoutMs ?? d.checkTimeoutMs,
    livenessTimeoutMs: options.livenessTimeoutMs ?? options.heartbeatMs ?? d.heartbeatMs,
    maxPendingPublishes: options.maxPendingPublishes ?? d.maxPendingPublishes,
    redisOptions: options.redisOptions ?? {},
    logger: options.logger ?? silentLogger
  }
  if (typeof config.url !== 'string' || config.url === '') throw new TypeError('redis fan-out: url is required')
  if (config.instanceId === '') throw new RangeError('redis fan-out: instanceId must not be empty')
  for (const key of ['heartbeatMs', 'instanceTtlMs', 'connectTimeoutMs', 'commandTimeoutMs', 'checkTimeoutMs', 'livenessTimeoutMs', 'maxPendingPublishes'] as const) {
    if (!Number.isFinite(config[key]) || config[key] <= 0) throw new RangeError(`redis fan-out: ${key} must be a positive number`)
  }
  if (config.instanceTtlMs <= config.heartbeatMs) {
    throw new RangeError('redis fan-out: instanceTtlMs must exceed heartbeatMs, or live instances would expire between heartbeats')
  }
  return Object.freeze(config)
}

function waitReady (client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined
    const onReady = (): void => { cleanup(); resolve() }
    const onError = (err: Error): void => { lastError = err }
    const onEnd = (): void => { cleanup(); reject(lastError ?? new Error('connection ended')) }
    const timer = setTimeout(() => { cleanup(); reject(lastError ?? new Error(`not ready after ${timeoutMs} ms`)) }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      client.off('ready', onReady)
      client.off('error', onError)
      client.off('end', onEnd)
    }
    client.on('ready', onReady)
    client.on('error', onError)
    client.on('end', onEnd)
  })
}

async function quit (client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return
  // While waiting to reconnect there is no socket: cancelling the retry is all.
  const socketOpen = client.status !== 'reconnecting' && client.status !== 'close'
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
  if (client.status === 'ready') await settleWithin(client.quit().catch(() => {}), timeoutMs)
  // Stops a pending reconnect and closes the socket if QUIT did not.
  client.disconnect()
  if (socketOpen) await settleWithin(ended, timeoutMs)
}

/** Waits for `promise` but at most `ms`; never rejects. */
async function settleWithin (promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([promise.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** `promise`, or a rejection with `message` after `ms`. */
async function within<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

function redactUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(invalid url)'
  }
}
