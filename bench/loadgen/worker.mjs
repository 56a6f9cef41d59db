// A load-generator process. The runner forks it, sends one job, and drives it
// through two steps so that measurement windows line up across processes:
//   runner → { cmd: 'setup', job, params }   child → { type: 'ready', info }
//   runner → { cmd: 'go', t0 }               child → { type: 'result', result }
// Every loop here is bounded by a count and a deadline; the process exits
// after reporting, or when the runner goes away.
import { BenchClient } from './client.mjs'
import { createHistogram, record } from '../lib/stats.mjs'
import { sleep, wallMs } from '../lib/proc.mjs'
import { readFileSync } from 'node:fs'
import { encodeSync, SYNC_UPDATE } from './wire.mjs'

const jobs = { fanout, manydocs, storm, stream, kill, count, build, seed, crowd }

let state = null
process.on('disconnect', () => process.exit(0))
process.on('message', async (msg) => {
  try {
    if (msg.cmd === 'setup') {
      const job = jobs[msg.job]
      if (!job) throw new Error(`unknown job ${msg.job}`)
      state = job(msg.params)
      const info = await state.setup()
      process.send({ type: 'ready', info })
    } else if (msg.cmd === 'go') {
      const cpu0 = process.cpuUsage()
      const wall0 = wallMs()
      const result = await state.go(msg.t0)
      const cpu = process.cpuUsage(cpu0)
      // Share of one core this process used from the start signal to its result.
      result.cpuShare = (cpu.user + cpu.system) / 1000 / Math.max(1, wallMs() - wall0)
      // A job that holds its sockets stays until the runner is done with it.
      if (state.hold) process.send({ type: 'result', result })
      else process.send({ type: 'result', result }, () => process.exit(0))
    }
  } catch (err) {
    process.send({ type: 'error', error: String(err && err.stack || err) }, () => process.exit(1))
  }
})

/** Resolves when `test()` holds, polling every `stepMs`; rejects after `timeoutMs`. */
async function until (test, timeoutMs, what, stepMs = 5) {
  const deadline = wallMs() + timeoutMs
  while (!test()) {
    if (wallMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(stepMs)
  }
}

async function waitUntilWall (t) {
  const d = t - wallMs()
  if (d > 0) await sleep(d)
}

/** Opens clients `count` at a time at most, so setup itself never floods the listen queue. */
async function openAll (makers, concurrency, timeoutMs) {
  const clients = []
  let next = 0
  const deadline = wallMs() + timeoutMs
  while (next < makers.length) {
    if (wallMs() > deadline) throw new Error(`connecting timed out (${clients.filter(c => c.synced).length}/${makers.length} synced)`)
    const pending = clients.length - clients.filter((c) => c.synced || c.closed).length
    const room = concurrency - pending
    for (let i = 0; i < room && next < makers.length; i++) clients.push(makers[next++]())
    await sleep(2)
  }
  await until(() => clients.every((c) => c.synced || c.closed), Math.max(1, deadline - wallMs()), 'sync')
  const lost = clients.filter((c) => !c.synced).length
  if (lost > 0) throw new Error(`${lost} clients closed before sync`)
  return clients
}

// (1) fan-out: every client writes its share of `rate` and receives everyone's.
function fanout (p) {
  let clients = []
  const hist = createHistogram()
  let recording = false
  let inWindow = 0
  return {
    async setup () {
      const makers = []
      for (let i = 0; i < p.clients; i++) {
        const id = p.firstId + i
        makers.push(() => new BenchClient({
          url: p.url,
          docName: p.docName,
          dialect: p.dialect,
          id,
          onMark: (sent) => {
            if (!recording) return
            inWindow++
            record(hist, wallMs() * 1000 - sent)
          }
        }))
      }
      clients = await openAll(makers, 64, 30_000)
      return { clients: clients.length }
    },
    async go (t0) {
      const rate = p.rate // updates/s this process sends
      const startAt = t0
      const recordFrom = t0 + p.warmupMs
      const stopAt = recordFrom + p.windowMs
      await waitUntilWall(startAt)
      let sent = 0
      let sentInWindow = 0
      let behind = 0
      const maxPerTick = Math.max(1, Math.ceil(rate / 50))
      await new Promise((resolve) => {
        const tick = () => {
          const now = wallMs()
          if (now >= stopAt) { recording = false; resolve(); return }
          recording = now >= recordFrom
          const due = Math.floor(((now - startAt) / 1000) * rate)
          let burst = 0
          while (sent < due && burst < maxPerTick) {
            const c = clients[sent % clients.length]
            if (c.open) c.write()
            sent++
            burst++
            if (recording) sentInWindow++
          }
          if (sent < due) behind = Math.max(behind, due - sent)
          setTimeout(tick, 2)
        }
        tick()
      })
      const maxBuffered = Math.max(...clients.map((c) => c.buffered))
      const closedEarly = clients.filter((c) => c.closed).length
      for (const c of clients) c.close()
      return { sent, sentInWindow, inWindow, hist: Array.from(hist), behind, maxBuffered, closedEarly }
    }
  }
}

// (2) many documents: `docs` × `perDoc` clients, one small edit per document.
function manydocs (p) {
  let clients = []
  return {
    hold: true,
    async setup () {
      const makers = []
      for (let d = 0; d < p.docs; d++) {
        for (let k = 0; k < p.perDoc; k++) {
          makers.push(() => new BenchClient({ url: p.url, docName: `${p.prefix}-${d}`, dialect: p.dialect, id: k }))
        }
      }
      const t0 = wallMs()
      const cpu0 = process.cpuUsage()
      clients = await openAll(makers, p.concurrency, p.timeoutMs)
      const cpu = process.cpuUsage(cpu0)
      const connectMs = wallMs() - t0
      return { connected: clients.length, connectMs, connectCpuShare: (cpu.user + cpu.system) / 1000 / Math.max(1, connectMs) }
    },
    // One edit per document; the sockets stay open until the runner is done.
    async go () {
      for (let i = 0; i < clients.length; i += p.perDoc) clients[i].write()
      const expected = clients.length - clients.length / p.perDoc
      const got = () => clients.reduce((n, c) => n + c.received, 0)
      try { await until(() => got() >= expected, 10_000, 'deliveries', 20) } catch {}
      return { delivered: got(), expected }
    }
  }
}

// (3) storm: every client opens in the same tick.
function storm (p) {
  return {
    async setup () { return {} },
    async go (t0) {
      await waitUntilWall(t0)
      const start = t0
      const clients = []
      for (let i = p.firstClient ?? 0; i < (p.firstClient ?? 0) + p.clients; i++) {
        clients.push(new BenchClient({ url: p.url, docName: `${p.prefix}-${i % p.docs}`, dialect: p.dialect, id: i }))
      }
      const createdMs = wallMs() - start
      let timedOut = false
      try {
        await until(() => clients.every((c) => c.synced || c.closed), p.timeoutMs, 'storm sync', 2)
      } catch { timedOut = true }
      const times = clients.filter((c) => c.synced).map((c) => c.syncedAt - start).sort((a, b) => a - b)
      const synced = times.length
      for (const c of clients) c.close()
      return {
        times,
        allMs: synced === clients.length ? times[times.length - 1] : null,
        p50Ms: times[Math.floor(synced * 0.5)] ?? null,
        p99Ms: times[Math.min(synced - 1, Math.floor(synced * 0.99))] ?? null,
        synced,
        failed: clients.length - synced,
        timedOut,
        createdMs
      }
    }
  }
}

// (4)/(5) stream: each writer pushes `n` edits as fast as its peer receives them
// (at most `window` in flight), or at `rate` per second when given.
function stream (p) {
  const pairs = []
  return {
    hold: p.hold === true,
    async setup () {
      for (let w = 0; w < p.writers; w++) {
        const docName = p.writers === 1 ? p.docName : `${p.docName}-${p.firstWriter + w}`
        const pair = { docName, lastAt: 0 }
        pair.peer = new BenchClient({
          url: p.url,
          docName,
          dialect: p.dialect,
          id: 99_999,
          onMark: (_t, _w, c) => { if (c.received === p.n) pair.lastAt = wallMs() }
        })
        pair.writer = new BenchClient({ url: p.url, docName, dialect: p.dialect, id: 1 + p.firstWriter + w })
        pairs.push(pair)
      }
      await until(() => pairs.every((x) => x.peer.synced && x.writer.synced), 20_000, 'stream clients sync')
      return {}
    },
    async go (t0) {
      await waitUntilWall(t0)
      const start = wallMs()
      const deadline = start + p.timeoutMs
      await Promise.all(pairs.map((pair) => new Promise((resolve) => {
        const { writer, peer } = pair
        const pump = () => {
          if (wallMs() > deadline || writer.closed) { resolve(); return }
          if (peer.received >= p.n) { resolve(); return }
          let burst = 0
          while (writer.sent < p.n && writer.sent - peer.received < p.window &&
            writer.buffered < 1 << 20 && burst < 256) {
            writer.write()
            burst++
          }
          if (burst === 0 || writer.sent >= p.n) setTimeout(pump, 1)
          else setImmediate(pump)
        }
        pump()
      })))
      const received = pairs.reduce((n, x) => n + x.peer.received, 0)
      const lastAt = Math.max(...pairs.map((x) => x.lastAt))
      const complete = pairs.every((x) => x.peer.received >= p.n)
      if (!p.hold) for (const x of pairs) { x.peer.close(); x.writer.close() }
      return { start, lastAt: complete ? lastAt : null, received, sent: pairs.reduce((n, x) => n + x.writer.sent, 0), complete }
    }
  }
}

// (5) kill: a writer at `rate`/s; the peer sends SIGKILL to the server the moment
// it receives the last of `n` edits.
function kill (p) {
  let writer, peer
  let killedAt = 0
  return {
    async setup () {
      peer = new BenchClient({
        url: p.url,
        docName: p.docName,
        dialect: p.dialect,
        id: 99_999,
        onMark: (_t, _w, c) => {
          if (c.received === p.n && killedAt === 0) {
            try { process.kill(p.serverPid, 'SIGKILL') } catch {}
            killedAt = wallMs()
          }
        }
      })
      writer = new BenchClient({ url: p.url, docName: p.docName, dialect: p.dialect, id: 1 })
      await until(() => peer.synced && writer.synced, 20_000, 'kill clients sync')
      return {}
    },
    async go (t0) {
      await waitUntilWall(t0)
      const start = wallMs()
      const deadline = start + p.timeoutMs
      await new Promise((resolve) => {
        const tick = () => {
          const now = wallMs()
          if (killedAt !== 0 || now > deadline || writer.closed) { resolve(); return }
          const due = Math.min(p.n, Math.floor(((now - start) / 1000) * p.rate))
          while (writer.sent < due && writer.open) writer.write()
          setTimeout(tick, 1)
        }
        tick()
      })
      if (killedAt === 0) { try { process.kill(p.serverPid, 'SIGKILL') } catch {} }
      const result = { seen: peer.received, sent: writer.sent, killed: killedAt !== 0, sendMs: (killedAt || wallMs()) - start }
      writer.close(); peer.close()
      return result
    }
  }
}

// (4)/(5) count: open one client and count the edits the server serves, in the
// first sync step 2 and in updates that follow it (a server that answers
// before its load finished sends the rest as updates).
function count (p) {
  return {
    async setup () { return {} },
    async go (t0) {
      await waitUntilWall(t0)
      const start = wallMs()
      let firstMarks = -1
      let lastChange = start
      const c = new BenchClient({
        url: p.url,
        docName: p.docName,
        dialect: p.dialect,
        id: 99_998,
        onSynced: (_c, marks) => { firstMarks = marks; lastChange = wallMs() },
        onMark: () => { lastChange = wallMs() }
      })
      let completeAt = null
      const deadline = start + p.timeoutMs
      while (wallMs() < deadline && !c.closed) {
        const total = Math.max(0, firstMarks) + c.received
        if (c.synced && p.expected > 0 && total >= p.expected) { completeAt = lastChange; break }
        if (c.synced && wallMs() - lastChange > p.quietMs) break
        await sleep(2)
      }
      const result = {
        firstSyncMs: c.synced ? c.syncedAt - start : null,
        firstMarks: Math.max(0, firstMarks),
        total: Math.max(0, firstMarks) + c.received,
        completeMs: completeAt !== null ? completeAt - start : null
      }
      c.close()
      return result
    }
  }
}

// (7) build: `writers` clients insert marked edits at random positions of
// their text in one document, `n` in all, at most `window` in flight; one
// peer receives everything and records latency and the longest silence.
function build (p) {
  const writers = []
  let peer
  const hist = createHistogram()
  let lastAt = 0
  let prevAt = 0
  let maxGapMs = 0
  return {
    async setup () {
      peer = new BenchClient({
        url: p.url,
        docName: p.docName,
        dialect: p.dialect,
        id: 99_999,
        onMark: (sent, _w, c) => {
          const now = wallMs()
          record(hist, now * 1000 - sent)
          if (prevAt !== 0) maxGapMs = Math.max(maxGapMs, now - prevAt)
          prevAt = now
          if (c.received === p.n) lastAt = now
        }
      })
      for (let w = 0; w < p.writers; w++) writers.push(new BenchClient({ url: p.url, docName: p.docName, dialect: p.dialect, id: 1 + w, random: true }))
      await until(() => peer.synced && writers.every((x) => x.synced), 20_000, 'build clients sync')
      return {}
    },
    async go (t0) {
      await waitUntilWall(t0)
      const start = wallMs()
      prevAt = start
      const deadline = start + p.timeoutMs
      let sent = 0
      let next = 0
      await new Promise((resolve) => {
        const pump = () => {
          if (wallMs() > deadline || peer.closed || peer.received >= p.n || writers.some((w) => w.closed)) { resolve(); return }
          let burst = 0
          while (sent < p.n && sent - peer.received < p.window && burst < 256) {
            const w = writers[next++ % writers.length]
            if (w.buffered > 1 << 20) break
            w.write()
            sent++
            burst++
          }
          if (burst === 0 || sent >= p.n) setTimeout(pump, 1)
          else setImmediate(pump)
        }
        pump()
      })
      const complete = peer.received >= p.n
      if (!complete && (peer.closed || writers.some((w) => w.closed))) throw new Error(`the server closed a build client after ${peer.received} of ${p.n} deliveries`)
      for (const w of writers) w.close()
      peer.close()
      return { start, lastAt: complete ? lastAt : null, received: peer.received, sent, complete, hist: Array.from(hist), maxGapMs }
    }
  }
}

// (8) seed: send one stored update (a whole document) and keep the socket
// open until a fresh client is served all of it (at least `expectedBytes`).
function seed (p) {
  let writer
  return {
    hold: true,
    async setup () {
      writer = new BenchClient({ url: p.url, docName: p.docName, dialect: p.dialect, id: 1 })
      await until(() => writer.synced, 20_000, 'seed client sync')
      return {}
    },
    async go () {
      writer.ws.send(encodeSync(p.dialect, p.docName, SYNC_UPDATE, readFileSync(p.file)))
      const deadline = wallMs() + p.timeoutMs
      for (let attempt = 0; attempt < 200 && wallMs() < deadline; attempt++) {
        let bytes = 0
        const checker = new BenchClient({ url: p.url, docName: p.docName, dialect: p.dialect, id: 2, onSyncBytes: (_c, n) => { bytes += n } })
        try { await until(() => bytes >= p.expectedBytes, 2000, 'seeded document', 20) } catch {}
        checker.close()
        if (bytes >= p.expectedBytes) return { served: bytes }
        await sleep(200)
      }
      throw new Error(`the seeded document was not served whole within ${p.timeoutMs} ms`)
    }
  }
}

// (9) crowd: `clients` open one document in the same tick; each counts when
// it has received at least `expectedBytes` of sync payload (a whole first
// reply, or an empty reply and the content as updates). With `holder`, one
// client keeps the document open beforehand.
function crowd (p) {
  let holder = null
  return {
    async setup () {
      if (p.holder) {
        let bytes = 0
        holder = new BenchClient({ url: p.url, docName: p.docName, dialect: p.dialect, id: 99_997, onSyncBytes: (_c, n) => { bytes += n } })
        await until(() => bytes >= p.expectedBytes, 30_000, 'holder served the document', 10)
      }
      return {}
    },
    async go (t0) {
      await waitUntilWall(t0)
      const start = t0
      const clients = []
      const doneAt = new Array(p.clients).fill(0)
      const bytes = new Array(p.clients).fill(0)
      for (let i = 0; i < p.clients; i++) {
        clients.push(new BenchClient({
          url: p.url,
          docName: p.docName,
          dialect: p.dialect,
          id: (p.firstClient ?? 0) + i + 10,
          onSyncBytes: (_c, n) => {
            bytes[i] += n
            if (doneAt[i] === 0 && bytes[i] >= p.expectedBytes) doneAt[i] = wallMs()
          }
        }))
      }
      let timedOut = false
      try {
        await until(() => clients.every((c, i) => doneAt[i] !== 0 || c.closed), p.timeoutMs, 'crowd served', 5)
      } catch { timedOut = true }
      const times = doneAt.filter((t) => t !== 0).map((t) => t - start).sort((a, b) => a - b)
      for (const c of clients) c.close()
      if (holder !== null) holder.close()
      return { times, failed: p.clients - times.length, timedOut, bytes: bytes.reduce((a, b) => a + b, 0) }
    }
  }
}
