// A private redis-server for the cross-instance scenario: its own port, no
// persistence, stopped with the run.
import { spawn, execFileSync } from 'node:child_process'
import net from 'node:net'
import { freePort } from './targets.mjs'
import { sleep } from '../lib/proc.mjs'

export function redisAvailable () {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function ping (port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let buf = ''
    const done = (ok) => { s.destroy(); resolve(ok) }
    s.setTimeout(500, () => done(false))
    s.on('error', () => done(false))
    s.on('connect', () => s.write('PING\r\n'))
    s.on('data', (d) => { buf += d; if (buf.includes('+PONG')) done(true) })
  })
}

export async function startRedis () {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  let exited = false
  const exit = new Promise((resolve) => child.on('exit', () => { exited = true; resolve() }))
  const deadline = Date.now() + 10_000
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error('redis-server did not start')
    }
    await sleep(25)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop () {
      if (!exited) child.kill('SIGTERM')
      await exit
    }
  }
}
