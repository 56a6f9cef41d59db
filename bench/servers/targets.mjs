// The servers under test. Each runs as its own child process on a free
// loopback port; `start` resolves once it answers HTTP, and the handle gives
// the pid the runner reads /proc for.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import net from 'node:net'
import http from 'node:http'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from '../lib/proc.mjs'

const here = dirname(fileURLToPath(import.meta.url))
export const ROOT = join(here, '..', '..')
const TANDEM_CLI = join(ROOT, 'dist', 'src', 'cli.js')
const YWS_BIN = join(ROOT, 'node_modules', 'y-websocket-ref', 'bin', 'server.js')

/**
 * name → description. `persistent` servers keep data across restarts in
 * `dataDir`; `counterpart` names the y-websocket run the ratio column uses.
 */
// All load comes from 127.0.0.1 without auth, so to tandem it is one user:
// its per-address connection cap, per-connection and per-user rate limits and
// per-user sync-work budget (which the other servers do not have) are raised,
// and its log level is `warn` (the others log nothing per connection).
const TANDEM_FLAGS = ['--log-level', 'warn', '--max-connections-per-ip', '1000000', '--rate-messages', '10000000', '--rate-bytes', '10000000000',
  '--identity-rate-messages', '10000000', '--identity-rate-bytes', '10000000000', '--sync-work-bytes', '10000000000']

export const TARGETS = {
  raw: {
    label: 'raw ws relay', dialect: 'yws', persistent: false, counterpart: 'yws-mem',
    command: ({ port }) => ({ args: [join(here, 'relay.mjs'), '--port', port, '--host', '127.0.0.1'] })
  },
  'yws-mem': {
    label: 'y-websocket 1.5.4', dialect: 'yws', persistent: false, counterpart: 'yws-mem',
    command: ({ port }) => ({ args: [YWS_BIN], env: { HOST: '127.0.0.1', PORT: String(port) } })
  },
  'yws-leveldb': {
    label: 'y-websocket 1.5.4 + LevelDB', dialect: 'yws', persistent: true, counterpart: 'yws-leveldb',
    command: ({ port, dataDir }) => ({ args: [YWS_BIN], env: { HOST: '127.0.0.1', PORT: String(port), YPERSISTENCE: dataDir } })
  },
  'hp-mem': {
    label: 'Hocuspocus 3', dialect: 'hocuspocus', persistent: false, counterpart: 'yws-mem',
    command: ({ port }) => ({ args: [join(here, 'hocuspocus.mjs'), '--port', port] })
  },
  'hp-sqlite': {
    label: 'Hocuspocus 3 + SQLite', dialect: 'hocuspocus', persistent: true, counterpart: 'yws-leveldb',
    command: ({ port, dataDir }) => ({ args: [join(here, 'hocuspocus.mjs'), '--port', port, '--sqlite', join(dataDir, 'db.sqlite')] })
  },
  'tandem-leveldb': {
    label: 'tandem + LevelDB', dialect: 'yws', persistent: true, counterpart: 'yws-leveldb', tandem: true, health: '/healthz',
    command: ({ port, dataDir }) => ({ args: [TANDEM_CLI, 'serve', '--port', port, '--host', '127.0.0.1', '--data', dataDir, ...TANDEM_FLAGS] })
  },
  'tandem-mem': {
    label: 'tandem in memory', dialect: 'yws', persistent: false, counterpart: 'yws-mem', tandem: true, health: '/healthz',
    command: ({ port, dataDir }) => ({ args: [TANDEM_CLI, 'serve', '--port', port, '--host', '127.0.0.1', '--data', dataDir, '--persistence', 'memory', ...TANDEM_FLAGS] })
  }
}

/** Why a target cannot run here, or null. */
export function unavailable (name) {
  if (TARGETS[name].tandem && !existsSync(TANDEM_CLI)) return 'dist/src/cli.js is missing (run `npm run build`)'
  if (name.startsWith('yws') && !existsSync(YWS_BIN)) return 'y-websocket-ref is not installed'
  return null
}

export async function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function httpStatus (port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.on('error', () => resolve(0))
    req.on('timeout', () => { req.destroy(); resolve(0) })
  })
}

/**
 * Starts a target. `nodeArgs` go before the script (e.g. --cpu-prof).
 * @returns {Promise<ServerHandle>}
 */
export async function startServer (name, { dataDir, nodeArgs = [], extraArgs = [], port } = {}) {
  const t = TARGETS[name]
  port = port ?? await freePort()
  mkdirSync(dataDir, { recursive: true })
  const { args, env = {} } = t.command({ port: String(port), dataDir })
  const child = spawn(process.execPath, [...nodeArgs, ...args, ...extraArgs], {
    cwd: ROOT,
    env: { ...process.env, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const handle = new ServerHandle(name, child, port, dataDir)
  const deadline = Date.now() + 20_000
  while (true) {
    if (handle.exited) throw new Error(`${name} exited during start (code ${child.exitCode}):\n${handle.tail()}`)
    if (Date.now() > deadline) {
      await handle.kill()
      throw new Error(`${name} did not become ready in 20 s:\n${handle.tail()}`)
    }
    // tandem logs `listening` at info level; at `warn` the health route is the signal.
    if (await httpStatus(port, t.health ?? '/') === 200) break
    await sleep(25)
  }
  return handle
}

const live = new Set()

/** Kills every server still running (the runner is being interrupted). */
export function killAllServers () {
  for (const h of live) h.child.kill('SIGKILL')
}

export class ServerHandle {
  constructor (name, child, port, dataDir) {
    live.add(this)
    this.name = name
    this.child = child
    this.pid = child.pid
    this.port = port
    this.dataDir = dataDir
    this.url = `ws://127.0.0.1:${port}`
    this.log = ''
    this.exited = false
    this.exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = true
      live.delete(this)
      resolve({ code, signal })
    }))
    // Keep only the tail of the output: a chatty server must not grow the runner.
    const keep = (chunk) => { this.log = (this.log + chunk).slice(-8192) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
  }

  tail () { return this.log.split('\n').slice(-15).join('\n') }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves with how it exited. */
  async stop (graceMs = 8000) {
    if (this.exited) return this.exitPromise
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { if (!this.exited) this.child.kill('SIGKILL') }, graceMs)
    const r = await this.exitPromise
    clearTimeout(timer)
    return r
  }

  kill () {
    if (!this.exited) this.child.kill('SIGKILL')
    return this.exitPromise
  }
}
