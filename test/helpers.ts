/**
 * Shared test fixtures: a real server on port 0, stock providers over real
 * sockets, temp directories, and waiting with deadlines (never fixed sleeps).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { createServer, type ServerOptions, type TandemServer } from '../src/index.js'

export const ROOT = new URL('..', import.meta.url).pathname
export const CLI = join(ROOT, 'dist/src/cli.js')

export async function tempDir (prefix = 'tandem-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

export interface Running {
  server: TandemServer
  port: number
  url: string
  http: string
}

export async function startServer (options: ServerOptions = {}): Promise<Running> {
  const server = createServer({ port: 0, host: '127.0.0.1', persistence: 'memory', logLevel: 'silent', ...options })
  const { port } = await server.listen()
  return { server, port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}` }
}

/** Polls `condition` until it holds; fails after `timeoutMs`. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Resolves or rejects as `promise` does; fails after `timeoutMs`. */
export async function within<T> (promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface Client {
  doc: Y.Doc
  provider: WebsocketProvider
  synced: () => Promise<void>
  destroy: () => void
}

/** A stock y-websocket provider, unchanged. */
export function client (url: string, room: string, options: { doc?: Y.Doc; connect?: boolean; params?: Record<string, string> } = {}): Client {
  const doc = options.doc ?? new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: options.connect ?? true,
    params: options.params,
    maxBackoffTime: 200,
    // Same-process providers would otherwise exchange updates over
    // BroadcastChannel, bypassing the server under test.
    disableBc: true
  })
  return {
    doc,
    provider,
    synced: () => until(() => provider.synced, `${room} to sync`, 10_000),
    destroy: () => {
      provider.destroy()
      doc.destroy()
    }
  }
}

/** A raw `ws` socket for frames the stock client would never send. */
export async function rawSocket (url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket & { frames: Uint8Array[]; closedWith: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url, options) as WebSocket & { frames: Uint8Array[]; closedWith: Promise<{ code: number; reason: string }> }
  ws.binaryType = 'nodebuffer'
  ws.frames = []
  ws.on('message', (data: Buffer) => ws.frames.push(new Uint8Array(data)))
  ws.closedWith = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)))
  })
  return ws
}

/** Starts the real CLI as a child process and waits for its `listening` line. */
export async function spawnCli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; port: number; url: string; http: string; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let port = 0
  await until(() => {
    const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(output)
    if (m !== null) port = Number(m[1])
    return port > 0 || child.exitCode !== null
  }, 'the CLI to listen', 15_000)
  if (port === 0) throw new Error(`the CLI exited: ${output}`)
  return { child, port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}`, output: () => output, exited }
}

/** A seeded PRNG (mulberry32), so randomized tests replay from their seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Everything in a doc as plain JSON, for equality checks. */
export function snapshot (doc: Y.Doc): unknown {
  return {
    text: doc.getText('text').toString(),
    // Key order of toJSON depends on insertion history; compare sorted.
    map: Object.fromEntries(Object.entries(doc.getMap('map').toJSON()).sort(([a], [b]) => a.localeCompare(b))),
    array: doc.getArray('array').toJSON()
  }
}

export async function fetchDoc (http: string, name: string): Promise<Y.Doc> {
  const res = await fetch(`${http}/docs/${encodeURIComponent(name)}`)
  if (res.status !== 200) throw new Error(`GET /docs answered ${res.status}`)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
  return doc
}

/**
 * Resources of one test, released in reverse order after it: servers,
 * providers and anything passed to `defer`.
 */
export function testScope () {
  const cleanup: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  })
  return {
    defer (fn: () => Promise<void> | void): void {
      cleanup.push(fn)
    },
    async serve (options: ServerOptions = {}): Promise<Running> {
      const running = await startServer(options)
      cleanup.push(() => running.server.close())
      return running
    },
    open (url: string, room: string, params?: Record<string, string>): Client {
      const c = client(url, room, { params })
      cleanup.push(() => c.destroy())
      return c
    }
  }
}

/** A clock whose time moves only when the test says so; timers fire as it passes them. */
export function manualClock (start = 1_000_000): { now: () => number; setTimeout: (fn: () => void, ms: number) => unknown; clearTimeout: (handle: unknown) => void; advance: (ms: number) => void; pending: () => number } {
  let now = start
  let nextId = 1
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++
      timers.set(id, { at: now + ms, fn })
      return id
    },
    clearTimeout: (handle) => { timers.delete(handle as number) },
    advance (ms: number) {
      const until = now + ms
      for (let guard = 0; guard < 1000; guard++) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
        if (due === undefined) break
        timers.delete(due[0])
        now = due[1].at
        due[1].fn()
      }
      now = until
    },
    pending: () => timers.size
  }
}
