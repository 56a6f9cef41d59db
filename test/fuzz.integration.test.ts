/**
 * Hostile traffic against a live server (the real CLI on LevelDB) while
 * honest stock clients edit: random and mutated frames, huge declared
 * lengths, a 50 MB frame, 1,000 connect/close cycles. The server stays up,
 * honest clients converge, storage holds exactly what they wrote, and RSS
 * settles. Seeded: FUZZ_SEED replays a run.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { encodeAwareness, encodeSyncStep1, encodeSyncUpdate } from '../src/protocol.js'
import { client, fetchDoc, prng, spawnCli, tempDir, until, type Client } from './helpers.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261128)
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 3000)

let dir: Awaited<ReturnType<typeof tempDir>>
let cli: Awaited<ReturnType<typeof spawnCli>>

const rssKb = (): number => {
  const status = readFileSync(`/proc/${cli.child.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
}

beforeAll(async () => {
  dir = await tempDir()
  cli = await spawnCli(['--data', dir.path, '--log-level', 'error', '--max-message-bytes', String(8 * 1024 * 1024)])
})

afterAll(async () => {
  cli.child.kill('SIGTERM')
  expect(await cli.exited).toBe(0)
  await dir.remove()
})

/** Valid frames of every kind, to mutate. */
function templates (): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  doc.getText('text').insert(0, 'fuzz')
  doc.getMap('map').set('k', 1)
  const aw = encoding.createEncoder()
  encoding.writeVarUint(aw, 1)
  encoding.writeVarUint(aw, 99)
  encoding.writeVarUint(aw, 1)
  encoding.writeVarString(aw, '{"user":"fuzzer"}')
  return [
    encodeSyncStep1(Y.encodeStateVector(doc)),
    ...updates.map((u) => encodeSyncUpdate(u)),
    encodeAwareness(encoding.toUint8Array(aw)),
    new Uint8Array([3]),
    new Uint8Array([100, 5])
  ]
}

function mutate (frame: Uint8Array, rand: () => number): Uint8Array {
  const kind = Math.floor(rand() * 5)
  if (kind === 0) return crypto.getRandomValues(new Uint8Array(1 + Math.floor(rand() * 64)))
  if (kind === 1) return frame.slice(0, Math.floor(rand() * frame.length))
  const copy = new Uint8Array(frame)
  if (kind === 2) {
    for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256)
    return copy
  }
  if (kind === 3) {
    // Huge declared length: a varint claiming gigabytes after the message type.
    return new Uint8Array([copy[0], 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])
  }
  return new Uint8Array([...copy, ...crypto.getRandomValues(new Uint8Array(1 + Math.floor(rand() * 8)))])
}

describe('hostile traffic against a live server', () => {
  it(`survives ${FRAMES} random and mutated frames while honest clients converge (seed ${SEED})`, async () => {
    const rand = prng(SEED)
    const honest: Client[] = [client(cli.url, 'target'), client(cli.url, 'target'), client(cli.url, 'bystander')]
    await Promise.all(honest.map((c) => c.synced()))
    const frames = templates()
    let sent = 0
    let closed = 0
    // Bounded: FRAMES frames over sockets that reconnect when the server closes them.
    while (sent < FRAMES) {
      const ws = new WebSocket(`${cli.url}/${rand() < 0.7 ? 'target' : 'bystander'}`)
      await new Promise<void>((resolve) => { ws.once('open', () => resolve()); ws.once('error', () => resolve()) })
      const done = new Promise<void>((resolve) => ws.once('close', () => { closed++; resolve() }))
      for (let i = 0; i < 50 && ws.readyState === ws.OPEN && sent < FRAMES; i++) {
        ws.send(mutate(frames[Math.floor(rand() * frames.length)], rand))
        sent++
        if (i % 10 === 0) {
          // Honest edits interleave with the garbage.
          honest[sent % 3].doc.getText('text').insert(0, `h${sent};`)
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      ws.close()
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 2000))])
    }
    expect(sent).toBe(FRAMES)
    expect(closed).toBeGreaterThan(0)
    const [a, b, c] = honest
    // Hostile frames may have added valid Yjs content of their own; honest clients converge on whatever the doc is.
    await until(() => a.doc.getText('text').toString() === b.doc.getText('text').toString(), 'the honest clients of the target to converge', 15_000)
    for (const h of honest) expect(h.provider.wsconnected).toBe(true)
    const storedTarget = await fetchDoc(cli.http, 'target')
    expect(storedTarget.getText('text').toString()).toBe(a.doc.getText('text').toString())
    const storedBystander = await fetchDoc(cli.http, 'bystander')
    expect(storedBystander.getText('text').toString()).toBe(c.doc.getText('text').toString())
    // Every honest edit is in storage.
    for (const h of [a, b]) for (const mark of h.doc.getText('text').toString().split(';').filter(Boolean)) {
      expect(storedTarget.getText('text').toString()).toContain(mark)
    }
    for (const h of honest) h.destroy()
  }, 120_000)

  it('closes a 50 MB frame with 1009 and survives', async () => {
    const ws = new WebSocket(`${cli.url}/huge`)
    await new Promise((resolve) => ws.once('open', resolve))
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)))
    ws.send(encodeSyncUpdate(new Uint8Array(50 * 1024 * 1024)))
    expect(await code).toBe(1009)
    expect((await fetch(`${cli.http}/healthz`)).status).toBe(200)
  }, 60_000)

  it('settles back after 1,000 connect/close cycles', async () => {
    const before = rssKb()
    // Bounded: 1,000 cycles, 20 at a time.
    for (let round = 0; round < 50; round++) {
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const ws = new WebSocket(`${cli.url}/cycle-${(round * 20 + i) % 100}`)
        await new Promise<void>((resolve) => { ws.once('open', () => resolve()); ws.once('error', () => resolve()) })
        const closed = new Promise((resolve) => ws.once('close', resolve))
        ws.close()
        await closed
      }))
    }
    await until(async () => (await (await fetch(`${cli.http}/healthz`)).json()).rooms === 0, 'every cycle room to unload', 10_000)
    const health = await (await fetch(`${cli.http}/healthz`)).json()
    expect(health.connections).toBe(0)
    const after = rssKb()
    // Allocator slack aside, 1,000 cycles must not leave megabytes behind.
    expect(after - before).toBeLessThan(64 * 1024)
  }, 120_000)
})
