import { spawn } from 'node:child_process'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { transform } from 'esbuild'
import { afterEach, describe, expect, it } from 'vitest'
import { createWebhook, type Webhook, type WebhookClock, type WebhookLogger, type WebhookOptions } from '../src/webhook.js'
import { until, within } from './helpers.js'

interface Received {
  raw: string
  body: { doc: string; updatedAt: string }
  headers: IncomingHttpHeaders
}

type Reply = number | 'hang' | ((res: ServerResponse) => void)

interface Receiver {
  url: string
  received: Received[]
  /** Requests whose connection closed before they were answered. */
  abandoned: () => number
  close: () => Promise<void>
}

/** A real HTTP endpoint on loopback; `reply` picks the answer to the n-th request (0-based). */
async function receiver (reply: (n: number) => Reply = () => 200): Promise<Receiver> {
  const received: Received[] = []
  let abandoned = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    res.on('close', () => { if (!res.writableFinished) abandoned++ })
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const n = received.length
      received.push({ raw, body: JSON.parse(raw), headers: req.headers })
      const answer = reply(n)
      if (answer === 'hang') return
      if (typeof answer === 'function') return answer(res)
      res.writeHead(answer).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/tandem`,
    received,
    abandoned: () => abandoned,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

/**
 * Time that moves only when the test says so. Holds the webhook's timers and
 * fires them, in order and each at its own due time, as the test advances.
 */
class ManualClock implements WebhookClock {
  /** Wall-clock time at monotonic 0; late in a second, so a change and a send 100 ms later fall in different seconds. */
  static readonly EPOCH = Date.UTC(2030, 0, 2, 3, 4, 5, 950)
  /** Every timer ever set, in order: when, for how long, and when it falls due. */
  readonly scheduled: Array<{ at: number; ms: number; due: number }> = []
  private time = 0
  private nextId = 1
  private readonly timers = new Map<number, { due: number; ms: number; fn: () => void }>()

  now (): number { return this.time }
  wallNow (): number { return ManualClock.EPOCH + this.time }

  setTimeout (fn: () => void, ms: number): unknown {
    const id = this.nextId++
    const due = this.time + Math.max(0, ms)
    this.timers.set(id, { due, ms, fn })
    this.scheduled.push({ at: this.time, ms, due })
    return id
  }

  clearTimeout (handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** Timers not yet fired nor cleared, soonest first. */
  pending (): Array<{ ms: number; due: number }> {
    return [...this.timers.values()].map(({ ms, due }) => ({ ms, due })).sort((a, b) => a.due - b.due)
  }

  /**
   * Moves time to `target`, firing every timer due by then (ties in the order
   * they were set). After each one it lets pending promise callbacks run, as
   * real time would, so a timer that resolves a promise (the backoff) has its
   * effect before the next timer fires or the test looks.
   */
  async advanceTo (target: number): Promise<void> {
    if (target < this.time) throw new Error(`the clock does not go back (at ${this.time}, asked for ${target})`)
    // Bounded: a timer that keeps re-arming itself at zero delay is a bug to report, not to spin on.
    for (let fired = 0; ; fired++) {
      if (fired > 10_000) throw new Error('more than 10000 timers fired in one advance')
      let nextId: number | undefined
      let next: { due: number; fn: () => void } | undefined
      for (const [id, timer] of this.timers) {
        if (timer.due <= target && (next === undefined || timer.due < next.due)) { nextId = id; next = timer }
      }
      if (next === undefined || nextId === undefined) break
      this.timers.delete(nextId)
      this.time = next.due
      next.fn()
      await settle()
    }
    this.time = target
    await settle()
  }

  advance (ms: number): Promise<void> {
    return this.advanceTo(this.time + ms)
  }
}

/** Resolves after every promise callback queued so far has run. */
function settle (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

interface Call {
  doc: string
  /** Clock time the request started. */
  at: number
  /** Clock time its signal aborted, if it did. */
  abortedAt?: number
}

/** The real `fetch`, noting when (in clock time) each request starts and is aborted. */
function watchedFetch (clock: WebhookClock): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = []
  const watched: typeof fetch = (input, init) => {
    const call: Call = { doc: JSON.parse(String(init?.body)).doc, at: clock.now() }
    calls.push(call)
    init?.signal?.addEventListener('abort', () => { call.abortedAt = clock.now() }, { once: true })
    return fetch(input, init)
  }
  return { fetch: watched, calls }
}

function recordingLogger (): WebhookLogger & { lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, warn: at('warn'), info: at('info'), debug: at('debug') }
}

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  // Webhooks before receivers, so no close() waits on a request to a server already gone.
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function setup (reply?: (n: number) => Reply): Promise<Receiver> {
  const rx = await receiver(reply)
  cleanup.push(rx.close)
  return rx
}

function track (hook: Webhook): Webhook {
  cleanup.push(() => hook.close())
  return hook
}

/**
 * A webhook on a manual clock, closed after the test. A test that failed
 * half-way may leave a retry parked on the clock, so closing moves time on
 * (bounded) until close() settles.
 */
function manual (options: Omit<WebhookOptions, 'clock' | 'fetch'>): { hook: Webhook; clock: ManualClock; calls: Call[] } {
  const clock = new ManualClock()
  const { fetch, calls } = watchedFetch(clock)
  const hook = createWebhook({ ...options, clock, fetch })
  cleanup.push(async () => {
    let settled = false
    const closing = hook.close().finally(() => { settled = true })
    for (let i = 0; i < 100 && !settled; i++) {
      await clock.advance(60_000)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await within(closing, 'the webhook to close')
  })
  return { hook, clock, calls }
}

const iso = (wall: number): string => new Date(wall).toISOString()

describe('debounce', () => {
  it('sends exactly one POST per document for a burst, after each document goes quiet', async () => {
    const rx = await setup()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 80 })
    for (let t = 0; t <= 40; t += 10) {
      await clock.advanceTo(t)
      hook.notify('alpha')
      hook.notify('beta')
    }
    // One timer per document, however many changes.
    expect(clock.pending()).toHaveLength(2)
    // The last change was at 40: nothing is sent before 40 + 80.
    await clock.advanceTo(119)
    expect(calls).toEqual([])
    await clock.advanceTo(120)
    expect(calls).toEqual([{ doc: 'alpha', at: 120 }, { doc: 'beta', at: 120 }])
    await until(() => rx.received.length === 2, 'both notifications')
    // Nothing else is pending, now or later.
    await within(hook.flush(), 'flush')
    await clock.advance(60_000)
    expect(calls).toHaveLength(2)
    expect(rx.received).toHaveLength(2)

    const byDoc = [...rx.received].sort((a, b) => a.body.doc.localeCompare(b.body.doc))
    expect(byDoc.map((r) => r.body.doc)).toEqual(['alpha', 'beta'])
    for (const r of byDoc) {
      expect(Object.keys(r.body).sort()).toEqual(['doc', 'updatedAt'])
      // updatedAt is the last change of the burst, not the first, in the clock's wall time.
      expect(r.body.updatedAt).toBe(iso(ManualClock.EPOCH + 40))
      expect(r.headers['content-type']).toBe('application/json')
      expect(r.headers['user-agent']).toBe('tandem-webhook')
      expect(r.headers['x-tandem-signature']).toBeUndefined()
      // The timestamp is the send time (in the next second), not the change time.
      expect(r.headers['x-tandem-timestamp']).toBe(String(Math.floor((ManualClock.EPOCH + 120) / 1000)))
      expect(r.headers['x-tandem-timestamp']).not.toBe(String(Math.floor((ManualClock.EPOCH + 40) / 1000)))
    }
  })

  it('debounces per document: a busy document does not hold back a quiet one', async () => {
    const rx = await setup()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 200 })
    hook.notify('quiet')
    for (let t = 0; t <= 700; t += 20) {
      await clock.advanceTo(t)
      hook.notify('busy')
    }
    // With one global debouncer `quiet` would wait for `busy` to stop.
    expect(calls).toEqual([{ doc: 'quiet', at: 200 }])
    await until(() => rx.received.length === 1, 'the quiet document')
    expect(rx.received[0]!.body.doc).toBe('quiet')
    // `busy` goes quiet at 700 and is sent 200 later, not before.
    await clock.advanceTo(899)
    expect(calls).toHaveLength(1)
    await clock.advanceTo(900)
    expect(calls).toEqual([{ doc: 'quiet', at: 200 }, { doc: 'busy', at: 900 }])
    await until(() => rx.received.length === 2, 'the busy document once it is quiet')
    await within(hook.flush(), 'flush')
    expect(rx.received.map((r) => r.body.doc)).toEqual(['quiet', 'busy'])
    expect(rx.received[1]!.body.updatedAt).toBe(iso(ManualClock.EPOCH + 700))
  })

  it('a document edited non-stop still notifies every maxWaitMs', async () => {
    const rx = await setup()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 100, maxWaitMs: 250 })
    // A change every 15 ms from 0 to 900: never 100 ms of quiet.
    for (let t = 0; t <= 900; t += 15) {
      await clock.advanceTo(t)
      hook.notify('live')
    }
    // Only maxWait can have sent these: 250 after the first change (0), then
    // 250 after the first change each one missed (255, 510).
    expect(calls.map((c) => c.at)).toEqual([250, 505, 760])
    // The rest goes once the edits stop: quiet from 900, within maxWait of 765.
    await clock.advanceTo(999)
    expect(calls).toHaveLength(3)
    await clock.advanceTo(1000)
    expect(calls.map((c) => c.at)).toEqual([250, 505, 760, 1000])
    await until(() => rx.received.length === 4, 'every notification')
    await within(hook.flush(), 'flush')
    expect(rx.received).toHaveLength(4)
    expect(new Set(rx.received.map((r) => r.body.doc))).toEqual(new Set(['live']))
    // Each carries the last change before it was sent. (Requests sent in
    // the same tick may arrive in any order, so compare them sorted.)
    expect(rx.received.map((r) => r.body.updatedAt).sort()).toEqual([240, 495, 750, 900].map((t) => iso(ManualClock.EPOCH + t)))
  })
})

describe('signature', () => {
  it('signs the raw body with HMAC-SHA256 when a secret is set', async () => {
    const rx = await setup()
    const secret = 'correct horse battery staple'
    const hook = track(createWebhook({ url: rx.url, secret, debounceMs: 10 }))
    hook.notify('signed')
    await until(() => rx.received.length === 1, 'the signed notification')
    const { raw, headers } = rx.received[0]!

    const header = headers['x-tandem-signature']
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/)
    const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'))
    const got = Buffer.from(String(header).slice('sha256='.length))
    expect(got.length === expected.length && timingSafeEqual(got, expected)).toBe(true)
    // A different secret does not verify.
    expect(String(header)).not.toBe(`sha256=${createHmac('sha256', 'other').update(raw).digest('hex')}`)

    const timestamp = Number(headers['x-tandem-timestamp'])
    expect(Number.isInteger(timestamp)).toBe(true)
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(10)
  })
})

describe('retries', () => {
  it('retries after a 500 and a 429, then succeeds, with backoff', async () => {
    const rx = await setup((n) => [500, 429][n] ?? 204)
    const logger = recordingLogger()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 10, retries: 3, retryBaseMs: 1000, timeoutMs: 5000, logger })
    hook.notify('flaky')
    await clock.advanceTo(10)
    expect(calls).toEqual([{ doc: 'flaky', at: 10 }])
    // Timers in order: the debounce, then per attempt its timeout, then the backoff before the next one.
    const backoffs: number[] = []
    for (let retry = 1; retry <= 2; retry++) {
      await until(() => clock.scheduled.length === 2 * retry + 1, `the backoff before retry ${retry}`)
      const backoff = clock.scheduled[2 * retry]!
      backoffs.push(backoff.ms)
      // Nothing is sent during the backoff, and the next attempt goes the moment it ends.
      await clock.advanceTo(backoff.due - 1)
      expect(calls).toHaveLength(retry)
      await clock.advanceTo(backoff.due)
      expect(calls).toHaveLength(retry + 1)
      expect(calls[retry]!.at).toBe(backoff.due)
    }
    await until(() => rx.received.length === 3, 'the third attempt')
    await within(hook.flush(), 'flush')
    expect(clock.scheduled.map((s) => s.ms)).toEqual([10, 5000, backoffs[0], 5000, backoffs[1], 5000])
    // Jittered within half to all of 1000, then of 2000.
    expect(backoffs[0]).toBeGreaterThanOrEqual(500)
    expect(backoffs[0]).toBeLessThanOrEqual(1000)
    expect(backoffs[1]).toBeGreaterThanOrEqual(1000)
    expect(backoffs[1]).toBeLessThanOrEqual(2000)
    expect(rx.received).toHaveLength(3)
    expect(new Set(rx.received.map((r) => r.raw)).size).toBe(1)
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([])
    expect(logger.lines.find((l) => l.msg === 'webhook delivered')?.obj).toMatchObject({ doc: 'flaky', attempts: 3, status: 204 })
    expect(clock.pending()).toEqual([])
  })

  it('backoff doubles with each retry, jittered between half and all of it, capped at 60 s', async () => {
    const rx = await setup(() => 503)
    const logger = recordingLogger()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 10, retries: 4, retryBaseMs: 20_000, logger })
    hook.notify('down')
    await clock.advanceTo(10)
    const backoffs: number[] = []
    for (let retry = 1; retry <= 4; retry++) {
      await until(() => clock.scheduled.length === 2 * retry + 1, `the backoff before retry ${retry}`)
      const backoff = clock.scheduled[2 * retry]!
      backoffs.push(backoff.ms)
      await clock.advanceTo(backoff.due)
      expect(calls).toHaveLength(retry + 1)
    }
    await until(() => rx.received.length === 5, 'the last attempt')
    await within(hook.flush(), 'flush')
    // 20 s, 40 s, then 80 s and 160 s capped at 60 s.
    const ceilings = [20_000, 40_000, 60_000, 60_000]
    backoffs.forEach((ms, i) => {
      expect(ms, `retry ${i + 1}`).toBeGreaterThanOrEqual(ceilings[i]! / 2)
      expect(ms, `retry ${i + 1}`).toBeLessThanOrEqual(ceilings[i]!)
    })
    // No sixth attempt: `retries` retries after the first, then one line.
    expect(rx.received).toHaveLength(5)
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.obj)).toMatchObject([{ doc: 'down', attempts: 5, status: 503 }])
    expect(clock.pending()).toEqual([])
  })

  it('gives up after `retries` retries and logs it', async () => {
    const rx = await setup(() => 503)
    const logger = recordingLogger()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 10, retries: 2, retryBaseMs: 10, logger }))
    hook.notify('down')
    // At least: the retries follow within milliseconds, so a poll may never see exactly one.
    await until(() => rx.received.length >= 1, 'the first attempt')
    await hook.flush()
    expect(rx.received).toHaveLength(3)
    const warns = logger.lines.filter((l) => l.level === 'warn')
    expect(warns).toHaveLength(1)
    expect(warns[0]!.msg).toMatch(/giving up/)
    expect(warns[0]!.obj).toMatchObject({ doc: 'down', attempts: 3, status: 503, url: rx.url })
  })

  it('does not retry other 4xx answers', async () => {
    const rx = await setup(() => 410)
    const logger = recordingLogger()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 10, retries: 3, retryBaseMs: 10, logger }))
    hook.notify('gone')
    await until(() => rx.received.length === 1, 'the attempt')
    await hook.flush()
    expect(rx.received).toHaveLength(1)
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.obj)).toMatchObject([{ doc: 'gone', attempts: 1, status: 410 }])
  })

  it('times out on a server that never answers, retries, then gives up', async () => {
    const rx = await setup(() => 'hang')
    const logger = recordingLogger()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 10, timeoutMs: 150, retries: 1, retryBaseMs: 10, logger })
    hook.notify('stuck')
    await clock.advanceTo(10)
    await until(() => rx.received.length === 1, 'the first attempt')
    // The request is held open; only the clock decides when it is given up.
    expect(clock.pending()).toEqual([{ ms: 150, due: 160 }])
    await clock.advanceTo(159)
    expect(calls[0]!.abortedAt).toBeUndefined()
    await clock.advanceTo(160)
    expect(calls[0]!.abortedAt).toBe(160)

    await until(() => clock.scheduled.length === 3, 'the backoff before the retry')
    await clock.advanceTo(clock.scheduled[2]!.due)
    expect(calls).toHaveLength(2)
    await until(() => rx.received.length === 2, 'the retry')
    await clock.advance(150)
    expect(calls[1]!.abortedAt).toBe(calls[1]!.at + 150)

    await within(hook.flush(), 'flush')
    expect(rx.received).toHaveLength(2)
    // The endpoint saw both requests abandoned, not answered.
    await until(() => rx.abandoned() === 2, 'the endpoint to see both requests closed')
    const warns = logger.lines.filter((l) => l.level === 'warn')
    expect(warns.map((l) => l.obj)).toMatchObject([{ doc: 'stuck', attempts: 2, error: 'timed out after 150 ms' }])
    expect(clock.pending()).toEqual([])
  })

  it('retries network errors and never throws into the caller', async () => {
    // A port that was just listening and now refuses connections.
    const gone = await receiver()
    await gone.close()
    const logger = recordingLogger()
    const hook = track(createWebhook({ url: gone.url, debounceMs: 10, retries: 1, retryBaseMs: 10, logger }))
    expect(() => hook.notify('nowhere')).not.toThrow()
    await hook.flush()
    const warns = logger.lines.filter((l) => l.level === 'warn')
    expect(warns).toHaveLength(1)
    expect(warns[0]!.obj).toMatchObject({ doc: 'nowhere', attempts: 2 })
    expect(String(warns[0]!.obj.error)).toMatch(/ECONNREFUSED/)
  })
})

describe('bounds', () => {
  it('over maxPendingDocs notifies the oldest early, and drops the oldest queued one with a log when the endpoint lags', async () => {
    const held: ServerResponse[] = []
    let open = false
    const rx = await setup(() => (res) => { if (open) res.writeHead(200).end(); else held.push(res) })
    const logger = recordingLogger()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 60_000, maxWaitMs: 60_000, maxPendingDocs: 2, concurrency: 1, logger }))

    hook.notify('a')
    hook.notify('b')
    hook.notify('c') // over the bound: `a` goes now, not in a minute
    await until(() => rx.received.length === 1, 'the oldest document sent early')
    expect(rx.received[0]!.body.doc).toBe('a')
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([])

    // Over the bound again: `b` is due, but the only slot still holds `a`,
    // so `b` would wait beside `c` and `d`; the oldest queued one is dropped.
    hook.notify('d')
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.obj)).toMatchObject([{ doc: 'b', maxPendingDocs: 2 }])

    open = true
    for (const res of held.splice(0)) res.writeHead(200).end()
    await hook.flush()
    expect(rx.received.map((r) => r.body.doc)).toEqual(['a', 'c', 'd'])
    expect(logger.lines.find((l) => l.level === 'info')?.obj).toMatchObject({ dropped: 1 })
  })

  it('rejects contradictory or unbounded options', () => {
    const url = 'http://127.0.0.1:1/'
    expect(() => createWebhook({ url: 'not a url' })).toThrow(TypeError)
    expect(() => createWebhook({ url: 'ftp://127.0.0.1/' })).toThrow(TypeError)
    expect(() => createWebhook({ url, secret: '' })).toThrow(TypeError)
    expect(() => createWebhook({ url, debounceMs: 5000, maxWaitMs: 1000 })).toThrow(RangeError)
    expect(() => createWebhook({ url, retries: 1.5 })).toThrow(RangeError)
    expect(() => createWebhook({ url, maxPendingDocs: 0 })).toThrow(RangeError)
    expect(() => createWebhook({ url, timeoutMs: Infinity })).toThrow(RangeError)
  })
})

describe('close', () => {
  it('flushes what is pending, is safe twice, ignores later changes and leaves no timer', async () => {
    const rx = await setup()
    const { hook, clock, calls } = manual({ url: rx.url, debounceMs: 60_000, maxWaitMs: 60_000 })
    hook.notify('x')
    hook.notify('y')
    expect(clock.pending()).toEqual([{ ms: 60_000, due: 60_000 }, { ms: 60_000, due: 60_000 }]) // one timer per document
    await within(hook.close(), 'close')
    // Sent at once, not a minute later.
    expect(calls).toEqual([{ doc: 'x', at: 0 }, { doc: 'y', at: 0 }])
    expect(rx.received.map((r) => r.body.doc).sort()).toEqual(['x', 'y'])
    // Debounce timers cleared, request timeouts cleared.
    expect(clock.pending()).toEqual([])
    await within(hook.close(), 'close again')
    hook.notify('z')
    await within(hook.flush(), 'flush')
    await clock.advance(120_000)
    expect(rx.received).toHaveLength(2)
    expect(calls).toHaveLength(2)
    expect(clock.pending()).toEqual([])
  })

  it('a process that closes its webhook exits on its own', async () => {
    const rx = await setup()
    const dir = await mkdtemp(join(tmpdir(), 'tandem-webhook-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    // src/webhook.ts imports only node: modules, so one file transpiled alone runs as is.
    const source = await readFile(new URL('../src/webhook.ts', import.meta.url), 'utf8')
    const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node20' })
    await writeFile(join(dir, 'webhook.mjs'), code)
    await writeFile(join(dir, 'main.mjs'), [
      "import { createWebhook } from './webhook.mjs'",
      'const hook = createWebhook({ url: process.env.WEBHOOK_URL, debounceMs: 60000, maxWaitMs: 60000 })',
      "hook.notify('child-doc')",
      'await hook.close()'
    ].join('\n'))

    const child = spawn(process.execPath, [join(dir, 'main.mjs')], { env: { ...process.env, WEBHOOK_URL: rx.url }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    // A debounce timer left behind would keep the child alive for a minute.
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'still running'>((resolve) => { timer = setTimeout(() => resolve('still running'), 10_000) })
    const outcome = await Promise.race([exited, deadline])
    clearTimeout(timer)
    if (outcome === 'still running') child.kill('SIGKILL')
    expect(outcome, stderr).toBe(0)
    expect(rx.received.map((r) => r.body.doc)).toEqual(['child-doc'])
  })
})
