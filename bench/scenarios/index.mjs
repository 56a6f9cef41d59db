// The scenarios. Each `measure` starts the servers it needs, drives one
// repetition for one target and returns rows of metrics; the runner repeats,
// alternates targets and summarises.
import { join } from 'node:path'
import { rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import * as Y from 'yjs'
import { execFileSync } from 'node:child_process'
import { startServer, TARGETS, ROOT } from '../servers/targets.mjs'
import { drive } from '../lib/drive.mjs'
import { startRedis, redisAvailable } from '../servers/redis.mjs'
import { cpuMicros, rssBytes, listenCounters, dirBytes, dirSignature, sleep, wallMs } from '../lib/proc.mjs'
import { createHistogram, mergeInto, quantileMs } from '../lib/stats.mjs'

const MB = 1024 * 1024
const persistentOnly = (name) => TARGETS[name].persistent

function fresh (ctx, name, label) {
  const dir = join(ctx.dataRoot, `${name}-${label}-${ctx.seq++}`)
  rmSync(dir, { recursive: true, force: true })
  return dir
}

function start (ctx, name, dataDir) {
  return startServer(name, { dataDir, nodeArgs: ctx.nodeArgs(name) })
}

/** Splits `n` into `parts` near-equal integers. */
function split (n, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0))
}

// Samples a server's CPU and RSS at two instants relative to the load's start.
function window (pid, t0, fromMs, toMs) {
  const w = { cpu0: null, cpu1: null, rss0: null, rss1: null, rssPeak: 0 }
  const at = (t, fn) => setTimeout(fn, Math.max(0, t - wallMs()))
  const sampler = setInterval(() => { w.rssPeak = Math.max(w.rssPeak, rssBytes(pid) ?? 0) }, 100)
  at(t0 + fromMs, () => { w.cpu0 = cpuMicros(pid); w.rss0 = rssBytes(pid) })
  const done = new Promise((resolve) => at(t0 + toMs, () => {
    w.cpu1 = cpuMicros(pid)
    w.rss1 = rssBytes(pid)
    clearInterval(sampler)
    resolve(w)
  }))
  return done
}

async function fanoutRows (ctx, name, p, label) {
  const server = await start(ctx, name, fresh(ctx, name, label))
  const rows = []
  try {
    for (const cfg of p.configs) {
      const docName = `${label}-${cfg.clients}-${cfg.rate}`
      const windowMs = cfg.windowMs ?? p.windowMs
      const counts = split(cfg.clients, Math.min(p.processes, cfg.clients))
      let firstId = 0
      const paramsList = counts.map((n) => {
        const x = { url: server.url, dialect: TARGETS[name].dialect, docName, clients: n, firstId, rate: (cfg.rate * n) / cfg.clients, warmupMs: p.warmupMs, windowMs }
        firstId += n
        return x
      })
      let sampled
      const run = await drive('fanout', paramsList, {
        hooks: { started: (t0) => { sampled = window(server.pid, t0, p.warmupMs, p.warmupMs + windowMs) } }
      })
      const w = await sampled
      const hist = createHistogram()
      let delivered = 0
      let sent = 0
      for (const r of run.results) {
        mergeInto(hist, r.hist)
        delivered += r.inWindow
        sent += r.sentInWindow
      }
      const seconds = windowMs / 1000
      const cpuUs = w.cpu1 - w.cpu0
      rows.push({
        row: `K=${cfg.clients}, ${cfg.rate}/s`,
        metrics: {
          cpuPerDelivery: delivered > 0 ? cpuUs / delivered : null,
          deliveriesPerS: delivered / seconds,
          expectedPerS: (sent * (cfg.clients - 1)) / seconds,
          p50: quantileMs(hist, 0.5),
          p99: quantileMs(hist, 0.99),
          serverCpu: cpuUs / 1000 / windowMs,
          rssMB: w.rss1 / MB,
          rssGrowthMB: (w.rss1 - w.rss0) / MB,
          genCpu: Math.max(...run.loadgenCpu)
        }
      })
      // Let the server drop the closed sockets and the room before the next load.
      await sleep(150)
    }
  } finally {
    await server.stop()
  }
  return rows
}

export const fanout = {
  name: 'fanout',
  title: '(1) Fan-out: one document, K clients, every client writes its share of the total rate',
  applies: () => true,
  measure: (ctx, name) => fanoutRows(ctx, name, ctx.params.fanout, 'fanout')
}

export const hotdoc = {
  name: 'hotdoc',
  title: '(9) One hot document: 1,000 clients on one document, 200 updates/s in total',
  applies: (name, ctx) => ctx.params.hotdoc.targets.includes(name),
  measure: (ctx, name) => fanoutRows(ctx, name, ctx.params.hotdoc, 'hotdoc')
}

export const manydocs = {
  name: 'manydocs',
  title: '(2) Many documents: small documents × 2 clients each, idle, then one edit per document',
  applies: () => true,
  async measure (ctx, name) {
    const p = ctx.params.manydocs
    const server = await start(ctx, name, fresh(ctx, name, 'manydocs'))
    try {
      await sleep(p.baselineMs)
      const rss0 = rssBytes(server.pid)
      let rss1 = null
      let connected = 0
      let delivered = 0
      let connectMs = 0
      let connectGenCpu = null
      let idleCpuPct = null
      const cpu0 = cpuMicros(server.pid)
      let connectCpuUs = null
      await drive('manydocs', [{ url: server.url, dialect: TARGETS[name].dialect, prefix: 'many', docs: p.docs, perDoc: p.perDoc, concurrency: p.concurrency, timeoutMs: 120_000 }], {
        setupTimeoutMs: 150_000,
        hooks: {
          // Idle first, before any edit: an edit has work follow it (an
          // automatic version 30 s later, in tandem) that is not idling.
          ready: async ([info]) => {
            connectMs = info.connectMs
            connected = info.connected
            connectCpuUs = (cpuMicros(server.pid) - cpu0) / connected
            connectGenCpu = info.connectCpuShare
            await sleep(p.settleMs)
            if (p.idleMs > 0 && p.idleTargets.includes(name)) {
              const cpu0 = cpuMicros(server.pid)
              const t0 = wallMs()
              await sleep(p.idleMs)
              idleCpuPct = (cpuMicros(server.pid) - cpu0) / 10 / (wallMs() - t0)
            }
          },
          results: async ([result]) => {
            delivered = result.delivered / Math.max(1, result.expected)
            await sleep(p.settleMs)
            rss1 = rssBytes(server.pid)
          }
        }
      })
      return [{
        row: `${p.docs} docs × ${p.perDoc}`,
        metrics: {
          perConnKB: (rss1 - rss0) / connected / 1024,
          rssMB: rss1 / MB,
          connectPerS: connected / (connectMs / 1000),
          connectCpuUs,
          connectGenCpu,
          idleCpuPct,
          delivered
        }
      }]
    } finally {
      await server.stop()
    }
  }
}

export const storm = {
  name: 'storm',
  title: '(3) Connection storm: all clients open in the same tick',
  applies: () => true,
  async measure (ctx, name) {
    const p = ctx.params.storm
    const server = await start(ctx, name, fresh(ctx, name, 'storm'))
    try {
      await sleep(200)
      const before = listenCounters()
      let firstClient = 0
      const paramsList = split(p.clients, p.processes ?? 1).map((n) => {
        const x = { url: server.url, dialect: TARGETS[name].dialect, prefix: 'storm', clients: n, firstClient, docs: p.docs, timeoutMs: p.timeoutMs }
        firstClient += n
        return x
      })
      const run = await drive('storm', paramsList, { runTimeoutMs: p.timeoutMs + 10_000 })
      const after = listenCounters()
      // Times are measured from the shared start instant, so processes merge.
      const times = run.results.flatMap((r) => r.times).sort((a, b) => a - b)
      const failed = run.results.reduce((n, r) => n + r.failed, 0)
      const at = (q) => times.length ? times[Math.min(times.length - 1, Math.floor(times.length * q))] : null
      return [{
        row: `${p.clients} clients → ${p.docs} docs`,
        metrics: {
          allMs: failed === 0 && times.length ? times[times.length - 1] : null,
          p50: at(0.5),
          p99: at(0.99),
          failed,
          overflows: after.overflows - before.overflows,
          genCpu: Math.max(...run.loadgenCpu)
        }
      }]
    } finally {
      await server.stop()
    }
  }
}

/** Waits until the data directory stops changing; returns when it last changed. */
async function settleDisk (dir, { quietMs, minMs, maxMs, since }) {
  let sig = dirSignature(dir)
  let changedAt = since
  const stopAt = wallMs() + maxMs
  while (wallMs() < stopAt) {
    await sleep(20)
    const s = dirSignature(dir)
    if (s !== sig) { sig = s; changedAt = wallMs() }
    if (wallMs() - since >= minMs && wallMs() - changedAt >= quietMs) break
  }
  return { changedAt }
}

/**
 * Builds one document from `n` marked edits by `writers` clients at random
 * positions on a fresh server, then waits for its data directory to settle.
 * Server CPU counts until the disk settled, so background compaction is in it.
 */
async function runBuild (ctx, name, n, { keep = false } = {}) {
  const p = ctx.params.build
  const dataDir = fresh(ctx, name, `build-${n}`)
  const server = await start(ctx, name, dataDir)
  let metrics
  try {
    let cpu0 = null
    const run = await drive('build', [{ url: server.url, dialect: TARGETS[name].dialect, docName: 'build', writers: p.writers, n, window: p.window, timeoutMs: p.timeoutMs }], {
      runTimeoutMs: p.timeoutMs + 10_000,
      hooks: { started: () => { cpu0 = cpuMicros(server.pid) } }
    })
    const r = run.results[0]
    if (!r.complete) throw new Error(`build of ${n} incomplete: ${r.received}/${n} received`)
    const relayCpu = cpuMicros(server.pid) - cpu0
    const settled = await settleDisk(dataDir, { quietMs: 1000, minMs: p.settleMinMs, maxMs: 60_000, since: r.lastAt })
    const cpuUs = cpuMicros(server.pid) - cpu0
    metrics = {
      updatesPerS: n / ((r.lastAt - r.start) / 1000),
      cpuPerUpdate: cpuUs / n,
      relayCpuPerUpdate: relayCpu / n,
      diskMB: dirBytes(dataDir) / MB,
      p99: quantileMs(r.hist, 0.99),
      maxGapMs: r.maxGapMs,
      settleMs: settled.changedAt - r.lastAt,
      rssMB: rssBytes(server.pid) / MB,
      genCpu: Math.max(...run.loadgenCpu)
    }
  } finally {
    await server.stop()
  }
  if (!keep) rmSync(dataDir, { recursive: true, force: true })
  return { dataDir, metrics }
}

export const build = {
  name: 'build',
  title: '(7) Building a heavily edited document: 4 writers insert small edits at random positions, as fast as a peer receives them',
  applies: (name, ctx) => ctx.params.build.targets.includes(name),
  async measure (ctx, name) {
    const p = ctx.params.build
    const sizes = TARGETS[name].tandem ? p.sizes : p.compareSizes
    const rows = []
    for (const n of sizes) {
      // The cold-load scenario opens the last build of its size after a restart.
      const keep = n === ctx.params.coldload.updates
      const { dataDir, metrics } = await runBuild(ctx, name, n, { keep })
      if (keep) {
        if (ctx.built[name]) rmSync(ctx.built[name].dataDir, { recursive: true, force: true })
        ctx.built[name] = { dataDir, metrics }
      }
      rows.push({ row: `${n.toLocaleString('en-US')} updates`, metrics })
    }
    return rows
  }
}

export const coldload = {
  name: 'coldload',
  title: '(4) Cold load: the document built from 100,000 edits at random positions, opened by a fresh client after a restart',
  applies: persistentOnly,
  async prepare (ctx, name) {
    const p = ctx.params.coldload
    const built = ctx.built[name] ?? await runBuild(ctx, name, p.updates, { keep: true })
    delete ctx.built[name]
    return { dataDir: built.dataDir, diskMB: built.metrics.diskMB, fillPerS: built.metrics.updatesPerS }
  },
  async measure (ctx, name, prepared) {
    const p = ctx.params.coldload
    const t = wallMs()
    const server = await start(ctx, name, prepared.dataDir)
    const startMs = wallMs() - t
    try {
      const run = await drive('count', [{ url: server.url, dialect: TARGETS[name].dialect, docName: 'build', expected: p.updates, quietMs: p.quietMs, timeoutMs: 30_000 }], { runTimeoutMs: 40_000 })
      const r = run.results[0]
      return [{
        row: `${p.updates.toLocaleString('en-US')} updates`,
        metrics: {
          syncMs: r.firstSyncMs,
          firstShare: r.firstMarks / p.updates,
          completeMs: r.completeMs,
          rssMB: rssBytes(server.pid) / MB,
          startMs,
          diskMB: prepared.diskMB,
          fillPerS: prepared.fillPerS
        }
      }]
    } finally {
      await server.stop()
    }
  }
}

const TRACE = 'automerge-paper.json.gz'
const tracesDir = () => process.env.TANDEM_TRACES ?? join(ROOT, '..', 'shared', 'traces')

/** The automerge-paper trace replayed into one Y.Doc, written once per run as one update. */
function traceSnapshot (ctx) {
  if (ctx.trace) return ctx.trace
  const trace = JSON.parse(gunzipSync(readFileSync(join(tracesDir(), TRACE))).toString('utf8'))
  const doc = new Y.Doc()
  const text = doc.getText('text')
  if (trace.startContent) text.insert(0, trace.startContent)
  for (const txn of trace.txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del)
        if (ins !== '') text.insert(pos, ins)
      }
    })
  }
  if (text.toString() !== trace.endContent) throw new Error('the trace did not replay to its end content')
  const update = Y.encodeStateAsUpdate(doc)
  const file = join(ctx.dataRoot, 'automerge-paper.update')
  writeFileSync(file, update)
  ctx.trace = { file, bytes: update.byteLength, edits: trace.txns.length }
  return ctx.trace
}

export const crowd = {
  name: 'crowd',
  title: '(8) A crowd opening a big document: 500 clients join the automerge-paper document in the same tick',
  applies: (name, ctx) => ctx.params.crowd.targets.includes(name),
  skipReason () {
    return existsSync(join(tracesDir(), TRACE)) ? null : `${join(tracesDir(), TRACE)} not found (set TANDEM_TRACES to the folder holding it)`
  },
  async prepare (ctx, name) {
    const trace = traceSnapshot(ctx)
    if (!TARGETS[name].persistent) return { trace }
    const dataDir = fresh(ctx, name, 'crowd')
    const server = await start(ctx, name, dataDir)
    try {
      const t = wallMs()
      await drive('seed', [{ url: server.url, dialect: TARGETS[name].dialect, docName: 'paper', file: trace.file, expectedBytes: trace.bytes * EXPECTED_SHARE, timeoutMs: 30_000 }], {
        runTimeoutMs: 40_000,
        // Hocuspocus stores 2 s after the last change, while a client is still connected.
        hooks: { results: () => settleDisk(dataDir, { quietMs: 1000, minMs: 2500, maxMs: 30_000, since: t }) }
      })
    } finally {
      await server.stop()
    }
    return { trace, dataDir }
  },
  async measure (ctx, name, prepared) {
    const p = ctx.params.crowd
    const { trace } = prepared
    const server = TARGETS[name].persistent
      ? await start(ctx, name, prepared.dataDir)
      : await startServer(name, { dataDir: fresh(ctx, name, 'crowd'), nodeArgs: ctx.nodeArgs(name), extraArgs: ['--snapshot', trace.file] })
    const rows = []
    try {
      for (const holder of [false, true]) {
        let firstClient = 0
        const paramsList = split(p.clients, p.processes).map((n) => {
          const x = { url: server.url, dialect: TARGETS[name].dialect, docName: 'paper', clients: n, firstClient, expectedBytes: trace.bytes * EXPECTED_SHARE, holder: holder && firstClient === 0, timeoutMs: p.timeoutMs }
          firstClient += n
          return x
        })
        let cpu0 = null
        const run = await drive('crowd', paramsList, { runTimeoutMs: p.timeoutMs + 10_000, hooks: { started: () => { cpu0 = cpuMicros(server.pid) } } })
        const cpuUs = cpuMicros(server.pid) - cpu0
        const times = run.results.flatMap((r) => r.times).sort((a, b) => a - b)
        const failed = run.results.reduce((n, r) => n + r.failed, 0)
        const at = (q) => times.length ? times[Math.min(times.length - 1, Math.floor(times.length * q))] : null
        rows.push({
          row: holder ? 'document open' : 'first open after a restart',
          metrics: {
            allMs: failed === 0 && times.length ? times[times.length - 1] : null,
            p50: at(0.5),
            cpuPerClientMs: cpuUs / 1000 / p.clients,
            failed,
            docKB: trace.bytes / 1024,
            genCpu: Math.max(...run.loadgenCpu)
          }
        })
        await sleep(300)
      }
    } finally {
      await server.stop()
    }
    return rows
  }
}

// Servers encode the same document to slightly different lengths.
const EXPECTED_SHARE = 0.95

export const durable = {
  name: 'durable',
  title: '(5a) Durable updates/s: writers push as fast as their peer receives (≤ window in flight)',
  applies: (name, ctx) => ctx.params.durable.targets.includes(name),
  async measure (ctx, name) {
    const p = ctx.params.durable
    const rows = []
    const variants = [
      { row: '1 writer', lists: [{ writers: 1, n: p.updates }] },
      p.multi && { row: `${p.multi.processes * p.multi.writersPerProcess} writers, ${p.multi.processes} processes`, lists: Array.from({ length: p.multi.processes }, () => ({ writers: p.multi.writersPerProcess, n: p.multi.updates })) }
    ].filter(Boolean)
    for (const v of variants) {
      const dataDir = fresh(ctx, name, 'durable')
      const server = await start(ctx, name, dataDir)
      try {
        let firstWriter = 0
        const paramsList = v.lists.map((l) => {
          const x = { url: server.url, dialect: TARGETS[name].dialect, docName: 'durable', writers: l.writers, firstWriter, n: l.n, window: p.window, timeoutMs: 120_000, hold: true }
          firstWriter += l.writers
          return x
        })
        const cpu0 = cpuMicros(server.pid)
        let total, startAt, complete, lastAt, relayPerS, cpuUs
        let lagMs = null
        let durablePerS = null
        // The clients stay connected while the disk is watched: a server that
        // stores when the last client leaves must not get that nudge here.
        const run = await drive('stream', paramsList, {
          runTimeoutMs: 130_000,
          hooks: {
            results: async (results) => {
              cpuUs = cpuMicros(server.pid) - cpu0
              total = results.reduce((n, r) => n + r.received, 0)
              startAt = Math.min(...results.map((r) => r.start))
              complete = results.every((r) => r.complete)
              lastAt = complete ? Math.max(...results.map((r) => r.lastAt)) : null
              relayPerS = complete ? total / ((lastAt - startAt) / 1000) : null
              if (TARGETS[name].persistent && complete) {
                const settled = await settleDisk(dataDir, { quietMs: 500, minMs: p.settleMs, maxMs: p.settleMs + 5000, since: lastAt })
                lagMs = settled.changedAt - lastAt
                durablePerS = total / ((settled.changedAt - startAt) / 1000)
              }
            }
          }
        })
        rows.push({ row: v.row, metrics: { relayPerS, durablePerS, lagMs, cpuPerUpdate: cpuUs / total, genCpu: Math.max(...run.loadgenCpu) } })
      } finally {
        await server.stop()
      }
    }
    return rows
  }
}

export const kill = {
  name: 'kill',
  title: '(5b) kill -9 the moment a peer received the last update, restart on the same data, count what survived',
  applies: persistentOnly,
  async measure (ctx, name) {
    const p = ctx.params.kill
    const rows = []
    for (const rate of p.rates) {
      const n = rate * p.seconds
      const dataDir = fresh(ctx, name, 'kill')
      const server = await start(ctx, name, dataDir)
      let r
      try {
        const run = await drive('kill', [{ url: server.url, dialect: TARGETS[name].dialect, docName: 'kill', rate, n, serverPid: server.pid, timeoutMs: p.seconds * 1000 + 20_000 }], { runTimeoutMs: p.seconds * 1000 + 30_000 })
        r = run.results[0]
      } finally {
        await server.kill()
      }
      const again = await start(ctx, name, dataDir)
      try {
        const run = await drive('count', [{ url: again.url, dialect: TARGETS[name].dialect, docName: 'kill', expected: r.seen, quietMs: p.quietMs, timeoutMs: 30_000 }], { runTimeoutMs: 40_000 })
        const c = run.results[0]
        rows.push({ row: `${rate}/s, ${n} sent`, metrics: { seen: r.seen, stored: c.total, lost: Math.max(0, r.seen - c.total), killedOnTime: r.killed ? 1 : 0 } })
      } finally {
        await again.stop()
      }
    }
    return rows
  }
}

export const redis = {
  name: 'redis',
  title: '(6) Cross-instance fan-out through Redis: writers on instance A, readers on instance B',
  applies: (name) => name === 'tandem-leveldb',
  skipReason (ctx) {
    const cli = join(ctx.root, 'dist', 'src', 'cli.js')
    if (!existsSync(cli)) return 'tandem is not built (dist/src/cli.js is missing)'
    let help = ''
    try {
      help = execFileSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      help = String(err.stdout ?? '') + String(err.stderr ?? '')
    }
    if (!/--redis/.test(help)) return 'tandem does not support --redis yet'
    if (!redisAvailable()) return 'redis-server is not installed on this machine'
    return null
  },
  async measure (ctx, name) {
    const p = ctx.params.redis
    const rows = []
    const redisServer = await startRedis()
    const extra = ['--redis', redisServer.url]
    const a = await startServer(name, { dataDir: fresh(ctx, name, 'redis-a'), nodeArgs: ctx.nodeArgs(name), extraArgs: extra })
    const b = await startServer(name, { dataDir: fresh(ctx, name, 'redis-b'), nodeArgs: ctx.nodeArgs(name), extraArgs: extra })
    try {
      for (const cfg of p.configs) {
        const docName = `cross-${cfg.clients}-${cfg.rate}`
        const half = cfg.clients / 2
        const common = { dialect: 'yws', docName, clients: half, warmupMs: p.warmupMs, windowMs: p.windowMs }
        // A writes everything; what B's clients receive crossed Redis.
        const paramsList = [{ ...common, url: a.url, firstId: 0, rate: cfg.rate }, { ...common, url: b.url, firstId: half, rate: 0 }]
        const pids = [a.pid, b.pid, redisServer.pid]
        let cpu0
        const run = await drive('fanout', paramsList, { hooks: { started: (t0) => { setTimeout(() => { cpu0 = pids.map(cpuMicros) }, Math.max(0, t0 + p.warmupMs - wallMs())) } } })
        const cpu1 = pids.map(cpuMicros)
        const [local, cross] = run.results
        const seconds = p.windowMs / 1000
        const cpuUs = cpu1.reduce((n, c, i) => n + c - cpu0[i], 0)
        rows.push({
          row: `K=${cfg.clients} (${half}+${half}), ${cfg.rate}/s`,
          metrics: {
            crossP50: quantileMs(cross.hist, 0.5),
            crossP99: quantileMs(cross.hist, 0.99),
            localP50: quantileMs(local.hist, 0.5),
            localP99: quantileMs(local.hist, 0.99),
            crossPerS: cross.inWindow / seconds,
            crossShare: cross.inWindow / Math.max(1, local.sentInWindow * half),
            cpuPerDelivery: cpuUs / Math.max(1, local.inWindow + cross.inWindow),
            genCpu: Math.max(...run.loadgenCpu)
          }
        })
        await sleep(300)
      }
    } finally {
      await Promise.all([a.stop(), b.stop()])
      await redisServer.stop()
    }
    return rows
  }
}

export const SCENARIOS = [fanout, manydocs, storm, build, coldload, crowd, durable, kill, redis, hotdoc]
