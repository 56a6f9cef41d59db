/**
 * Presence on the awareness protocol: states reach others, disappear on
 * disconnect, on a dead socket (ping/pong) and after awareness's 30 s timeout;
 * query-awareness is answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { decodeAwarenessUpdate, decodeMessage, encodeAwareness, encodeQueryAwareness } from '../src/protocol.js'
import { client, rawSocket, startServer, until, type Client, type Running } from './helpers.js'

let running: Running
const clients: Client[] = []
const open = (room: string) => {
  const c = client(running.url, room)
  clients.push(c)
  return c
}

beforeAll(async () => {
  running = await startServer({ pingIntervalMs: 300 })
})

afterAll(async () => {
  for (const c of clients) c.destroy()
  await running.server.close()
})

const remoteStates = (c: Client) => [...c.provider.awareness.getStates()]
  .filter(([id]) => id !== c.doc.clientID)
  .map(([, state]) => state)

/** An awareness update announcing one state for a client id of our choosing. */
function awarenessFrame (clientId: number, state: Record<string, unknown>, clock = 1): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = clientId
  const awareness = new awarenessProtocol.Awareness(doc)
  awareness.setLocalState(state)
  // Bump the clock so the update is newer than what the server holds.
  for (let i = 1; i < clock; i++) awareness.setLocalState(state)
  const update = awarenessProtocol.encodeAwarenessUpdate(awareness, [clientId])
  awareness.destroy()
  return encodeAwareness(update)
}

describe('awareness', () => {
  it('relays states, updates, and removes them when a client disconnects', async () => {
    const a = open('presence-basic')
    const b = open('presence-basic')
    await Promise.all([a.synced(), b.synced()])
    a.provider.awareness.setLocalStateField('user', { name: 'alice' })
    await until(() => remoteStates(b).some((s) => s.user?.name === 'alice'), 'b to see alice')
    a.provider.awareness.setLocalStateField('cursor', 7)
    await until(() => remoteStates(b).some((s) => s.user?.name === 'alice' && s.cursor === 7), 'b to see the cursor update')
    a.provider.disconnect()
    await until(() => !remoteStates(b).some((s) => s.user?.name === 'alice'), 'alice to disappear after her disconnect')
  })

  it('answers query-awareness with every state', async () => {
    const a = open('presence-query')
    await a.synced()
    a.provider.awareness.setLocalStateField('user', { name: 'ann' })
    const res = await fetch(`${running.http}/docs/presence-query/presence`)
    await until(async () => JSON.stringify(await (await fetch(`${running.http}/docs/presence-query/presence`)).json()).includes('ann'), 'the server to hold ann')
    expect(res.status).toBe(200)
    const ws = await rawSocket(`${running.url}/presence-query`)
    await until(() => ws.frames.length >= 1, 'the server handshake')
    const before = ws.frames.length
    ws.send(encodeQueryAwareness())
    await until(() => ws.frames.slice(before).some((f) => decodeMessage(f).type === 'awareness'), 'an awareness answer')
    const answer = ws.frames.slice(before).map((f) => decodeMessage(f)).find((m) => m.type === 'awareness')
    const probe = new awarenessProtocol.Awareness(new Y.Doc())
    awarenessProtocol.applyAwarenessUpdate(probe, (answer as { update: Uint8Array }).update, null)
    expect([...probe.getStates().values()].some((s) => s.user?.name === 'ann')).toBe(true)
    probe.destroy()
    ws.close()
  })

  it('removes the states of a socket that died silently (no pong)', async () => {
    const watcher = open('presence-dead')
    await watcher.synced()
    // autoPong: false makes this peer look dead: it never answers pings.
    const ws = await rawSocket(`${running.url}/presence-dead`, { autoPong: false })
    ws.send(awarenessFrame(424242, { user: { name: 'ghost' } }))
    await until(() => remoteStates(watcher).some((s) => s.user?.name === 'ghost'), 'the watcher to see the ghost')
    const closed = await Promise.race([ws.closedWith, new Promise((resolve) => setTimeout(() => resolve('still open'), 5000))])
    expect(closed).not.toBe('still open')
    await until(() => !remoteStates(watcher).some((s) => s.user?.name === 'ghost'), 'the ghost to disappear')
  })

  it('pings only peers that were silent since the last sweep, and keeps a talking peer that never answers pings', async () => {
    const talking = await rawSocket(`${running.url}/presence-pings`, { autoPong: false })
    const silent = await rawSocket(`${running.url}/presence-pings`)
    const pings = { talking: 0, silent: 0 }
    talking.on('ping', () => { pings.talking++ })
    silent.on('ping', () => { pings.silent++ })
    // The talking peer renews its awareness more often than the 300 ms sweep.
    let clock = 1
    const renew = setInterval(() => talking.send(awarenessFrame(515151, { user: { name: 'talker' } }, ++clock)), 60)
    try {
      await until(() => pings.silent >= 4, 'four pings to the silent peer', 5000)
    } finally {
      clearInterval(renew)
    }
    expect(pings.talking).toBe(0)
    expect(talking.readyState).toBe(talking.OPEN)
    // Silent and not answering: closed as dead at the second sweep after it fell quiet.
    const closed = await Promise.race([talking.closedWith, new Promise((resolve) => setTimeout(() => resolve('still open'), 5000))])
    expect(closed).not.toBe('still open')
    expect(pings.talking).toBe(1)
    silent.close()
  })

  it('drops a state 30 s after its last renewal (awareness timeout)', async () => {
    // Only raw sockets here: a stock client would also time the state out
    // locally, so it could not tell whether the server dropped it.
    const observer = await rawSocket(`${running.url}/presence-timeout`)
    // This peer stays connected (it answers pings) but never renews its state.
    const ws = await rawSocket(`${running.url}/presence-timeout`)
    ws.send(awarenessFrame(515151, { user: { name: 'sleepy' } }))
    const presence = async () => JSON.stringify(await (await fetch(`${running.http}/docs/presence-timeout/presence`)).json())
    await until(async () => (await presence()).includes('sleepy'), 'the server to hold sleepy')
    const seenAt = Date.now()
    // The server's own removal reaches the observer: an entry for 515151 with state null.
    const removalFrom = (frames: Uint8Array[]) => frames.some((f) => {
      const m = decodeMessage(f)
      return m.type === 'awareness' && decodeAwarenessUpdate(m.update).some((e) => e.clientId === 515151 && JSON.parse(e.state) === null)
    })
    await until(() => removalFrom(observer.frames), 'the server to announce that sleepy timed out', 40_000)
    const after = Date.now() - seenAt
    expect(await presence()).not.toContain('sleepy')
    // The server drops it at 30 s (checked every 3 s).
    expect(after).toBeGreaterThan(25_000)
    expect(ws.readyState).toBe(ws.OPEN)
    ws.close()
    observer.close()
  }, 60_000)
})
