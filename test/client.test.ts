/**
 * `tandem/client` against a real tandem server on port 0, with the stock
 * y-websocket provider over real sockets.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createServer } from '../src/index.js'
import { connect, register, type ConnectOptions, type PresenceChange, type SaveStatus, type TandemClient } from '../src/client/index.js'
import { until, within } from './helpers.js'

type Server = Awaited<ReturnType<typeof startServer>>

async function startServer () {
  const server = createServer({ port: 0, host: '127.0.0.1', persistence: 'memory', logLevel: 'silent' })
  const info = await server.listen()
  return { server, url: `ws://127.0.0.1:${info.port}` }
}

let server: Server
let clients: TandemClient[]
let docCounter = 0
let docName: string

function open (options: Partial<ConnectOptions> = {}): TandemClient {
  const client = connect({ url: server.url, doc: docName, WebSocket: WebSocket as any, maxBackoffMs: 200, ...options })
  clients.push(client)
  return client
}

beforeEach(async () => {
  server = await startServer()
  clients = []
  docName = `client-test/${process.pid}/${++docCounter}`
})

afterEach(async () => {
  for (const client of clients) client.destroy()
  await server.server.close()
})

describe('presence', () => {
  it('reports joins, updates and leaves with names, colors and cursors', async () => {
    const a = open()
    const b = open()
    const changes: PresenceChange[] = []
    b.presence.on('change', (change) => changes.push(change))
    a.presence.set({ name: 'Ada', color: '#e11d48' })
    await within(Promise.all([a.synced(), b.synced()]), 'sync')

    await until(() => b.presence.peers().some((p) => p.clientId === a.doc.clientID && p.name === 'Ada'), 'B to see Ada')
    const joined = changes.flatMap((c) => c.joined).find((p) => p.clientId === a.doc.clientID)
    expect(joined).toBeDefined()
    const ada = b.presence.peers().find((p) => p.clientId === a.doc.clientID)!
    expect(ada).toMatchObject({ name: 'Ada', color: '#e11d48', status: 'online' })
    // Editor bindings read name and color from `user`.
    expect(ada.state.user).toMatchObject({ name: 'Ada', color: '#e11d48' })

    a.presence.set({ cursor: { x: 10, y: 20 } })
    await until(() => changes.some((c) => c.updated.some((p) => p.clientId === a.doc.clientID && (p.cursor as any)?.x === 10)), 'the cursor update')
    expect(a.presence.local).toMatchObject({ name: 'Ada', cursor: { x: 10, y: 20 }, status: 'online' })

    a.destroy()
    await until(() => changes.some((c) => c.left.some((p) => p.clientId === a.doc.clientID)), 'the leave')
    expect(b.presence.peers().map((p) => p.clientId)).not.toContain(a.doc.clientID)
    const left = changes.flatMap((c) => c.left).find((p) => p.clientId === a.doc.clientID)!
    expect(left.name).toBe('Ada')
  })

  it('turns away after inactivity and back online on activity', async () => {
    const a = open({ awayAfterMs: 300 })
    const b = open()
    a.presence.set({ name: 'Idle' })
    await within(Promise.all([a.synced(), b.synced()]), 'sync')
    const statusOfA = (): string | undefined => b.presence.peers().find((p) => p.clientId === a.doc.clientID)?.status

    expect(a.presence.status).toBe('online')
    // B may first see A either way on a busy machine; what matters is that it turns away.
    await until(() => statusOfA() !== undefined, 'B to see A')
    await until(() => statusOfA() === 'away', 'A away', 3000)
    expect(a.presence.status).toBe('away')

    // A local edit is activity.
    a.doc.getText('t').insert(0, 'x')
    await until(() => statusOfA() === 'online', 'A back online')
    await until(() => statusOfA() === 'away', 'A away again', 3000)
    a.presence.touch()
    await until(() => statusOfA() === 'online', 'A online after touch')
  })

  it('lists a peer again at once after it reconnects', async () => {
    const a = open()
    const b = open()
    a.presence.set({ name: 'Roamer' })
    await within(Promise.all([a.synced(), b.synced()]), 'sync')
    const seesA = (): boolean => b.presence.peers().some((p) => p.name === 'Roamer')
    await until(seesA, 'B to see A')
    a.provider.disconnect()
    await until(() => !seesA(), 'A to leave')
    a.provider.connect()
    // Well within the 15 s awareness renewal period.
    await until(seesA, 'A to be back', 3000)
  })
})

describe('registers', () => {
  it('gives two clients that set one key offline the same value after reconnect', async () => {
    const docA = new Y.Doc()
    const docB = new Y.Doc()
    // Fixed ids make the winner predictable: the higher client id wins a tie.
    docA.clientID = 1111
    docB.clientID = 2222
    const a = open({ ydoc: docA })
    const b = open({ ydoc: docB })
    await within(Promise.all([a.synced(), b.synced()]), 'sync')
    const titleA = a.register<{ title: string }>('room')
    const titleB = register<{ title: string }>(docB, 'room')
    titleA.set('title', 'Draft')
    await until(() => titleB.get('title') === 'Draft', 'the first title to reach B')

    a.provider.disconnect()
    b.provider.disconnect()
    titleA.set('title', 'From A')
    titleB.set('title', 'From B')
    expect(titleA.get('title')).toBe('From A')
    expect(titleB.get('title')).toBe('From B')
    const seenByA: Array<string | undefined> = []
    const locals: boolean[] = []
    const stopObserving = titleA.observe('title', (value, change) => {
      locals.push(change.local)
      seenByA.push(value)
    })

    a.provider.connect()
    b.provider.connect()
    await until(() => titleA.get('title') === titleB.get('title'), 'the registers to agree')
    expect(titleA.get('title')).toBe('From B')
    expect(seenByA).toEqual(['From B'])
    expect(locals).toEqual([false])
    stopObserving()
    expect(titleA.toJSON()).toEqual({ title: 'From B' })

    // A later set, made after seeing the winner, wins regardless of client id.
    titleA.set('title', 'Final')
    await until(() => titleB.get('title') === 'Final', 'the causal set to win')
    titleB.delete('title')
    await until(() => !titleA.has('title'), 'the delete')
  })
})

describe('saved signal', () => {
  it('goes saving on an edit and resolves saved() once the server stored it', async () => {
    const a = open()
    const statuses: SaveStatus[] = []
    a.on('status', (status) => statuses.push(status))
    await within(a.synced(), 'sync')
    await within(a.saved(), 'the handshake to be stored')
    expect(a.status).toBe('saved')

    a.doc.getText('t').insert(0, 'hello')
    expect(a.status).toBe('saving')
    await within(a.saved(), 'the edit to be stored')
    expect(a.status).toBe('saved')
    expect(statuses.slice(-2)).toEqual(['saving', 'saved'])

    // What was reported saved is on the server: a fresh client reads it.
    const c = open()
    await within(c.synced(), 'the fresh client to sync')
    expect(c.doc.getText('t').toString()).toBe('hello')
  })

  it('covers edits made offline once they are sent on reconnect', async () => {
    const a = open()
    await within(a.saved(), 'the first save')
    a.provider.disconnect()
    expect(a.status).toBe('offline')
    a.doc.getText('t').insert(0, 'offline edit')
    expect(a.status).toBe('offline')
    a.provider.connect()
    await within(a.saved(), 'the offline edit to be stored')
    const c = open()
    await within(c.synced(), 'the fresh client to sync')
    expect(c.doc.getText('t').toString()).toBe('offline edit')
  })

  it('goes offline when the server closes and saved() waits for it to come back', async () => {
    const a = open()
    await within(a.saved(), 'the first save')
    const offline = new Promise<void>((resolve) => a.on('status', (s) => { if (s === 'offline') resolve() }))
    await server.server.close()
    await within(offline, 'the offline status')
    expect(a.status).toBe('offline')
    let resolved = false
    const saved = a.saved().then(() => { resolved = true })
    a.doc.getText('t').insert(0, 'queued')
    await new Promise((resolve) => setImmediate(resolve))
    expect(resolved).toBe(false)
    a.destroy()
    await expect(saved).rejects.toThrow('destroyed')
  })
})

describe('connect', () => {
  it('sends the token on the first connection and on every reconnect', async () => {
    const seen: string[] = []
    const authServer = createServer({
      port: 0,
      host: '127.0.0.1',
      persistence: 'memory',
      logLevel: 'silent',
      hooks: {
        authenticate: (request) => {
          const token = new URL(request.url ?? '/', 'http://x').searchParams.get('token') ?? ''
          seen.push(token)
          return token === 'letmein' ? { userId: 'u', access: 'write' } : { reject: 401 }
        }
      }
    })
    const { port } = await authServer.listen()
    try {
      const a = open({ url: `ws://127.0.0.1:${port}`, token: 'letmein' })
      await within(a.synced(), 'the first sync')
      a.provider.disconnect()
      a.provider.connect()
      await within(a.synced(), 'the second sync')
      expect(seen).toEqual(['letmein', 'letmein'])
    } finally {
      for (const client of clients) client.destroy()
      await authServer.close()
    }
  })

  it('rejects missing options and a missing WebSocket with coded errors', () => {
    expect(() => connect({ url: '', doc: 'x' })).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }))
    expect(() => connect({ url: 'ws://127.0.0.1:1', doc: 'x' })).toThrow(expect.objectContaining({ code: 'NO_WEBSOCKET' }))
    expect(() => connect({ url: 'ws://127.0.0.1:1', doc: 'x', WebSocket: WebSocket as any, offline: true })).toThrow(expect.objectContaining({ code: 'NO_INDEXEDDB' }))
  })

  it('destroy() is safe twice and leaves the caller\'s doc alone', async () => {
    const ydoc = new Y.Doc()
    const a = open({ ydoc })
    await within(a.synced(), 'sync')
    a.destroy()
    a.destroy()
    ydoc.getText('t').insert(0, 'still usable')
    expect(ydoc.getText('t').toString()).toBe('still usable')
    await expect(a.synced()).rejects.toThrow('destroyed')
  })
})
