// Runner side of the load generator: fork worker processes, set them up,
// start them on a shared wall-clock instant, collect results and the CPU each
// worker used while measuring (to tell whether the generator saturated).
import { fork } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { wallMs } from './proc.mjs'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), '..', 'loadgen', 'worker.mjs')

function reply (child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`load generator: no '${type}' within ${timeoutMs} ms`)) }, timeoutMs)
    const onMessage = (m) => {
      if (m.type === type) { cleanup(); resolve(m) } else if (m.type === 'error') { cleanup(); reject(new Error(`load generator: ${m.error}`)) }
    }
    const onExit = (code) => { cleanup(); reject(new Error(`load generator exited (${code}) before '${type}'`)) }
    const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/**
 * Runs one job in one worker per entry of `paramsList`.
 * `hooks.ready(infos)` runs after every worker is set up and before the start;
 * `hooks.started(t0)` right after the start instant is sent.
 */
export async function drive (job, paramsList, { setupTimeoutMs = 60_000, runTimeoutMs = 60_000, leadMs = 150, hooks = {} } = {}) {
  const children = paramsList.map(() => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }))
  try {
    const ready = children.map((c) => reply(c, 'ready', setupTimeoutMs))
    children.forEach((c, i) => c.send({ cmd: 'setup', job, params: paramsList[i] }))
    const infos = (await Promise.all(ready)).map((m) => m.info)
    if (hooks.ready) await hooks.ready(infos)
    const t0 = wallMs() + leadMs
    const done = children.map((c) => reply(c, 'result', runTimeoutMs))
    children.forEach((c) => c.send({ cmd: 'go', t0 }))
    if (hooks.started) hooks.started(t0)
    const results = (await Promise.all(done)).map((m) => m.result)
    const loadgenCpu = results.map((r) => r.cpuShare)
    // Jobs that hold their sockets keep them open while this runs.
    if (hooks.results) await hooks.results(results)
    return { infos, results, t0, loadgenCpu }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
}
