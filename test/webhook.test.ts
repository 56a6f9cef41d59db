import { spawn } from 'node:child_process'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { transform } from 'esbuild'
import { afterEach, describe, expect, it } from 'vitest'
import { createWebhook, type Webhook, type WebhookLogger } from '../src/webhook.js'
import { until } from './helpers.js'

interface Received {
  raw: string
  body: { doc: string; updatedAt: string }
  headers: IncomingHttpHeaders
  /** Wall-clock arrival time. */
  at: number
}

type Reply = number | 'hang' | ((res: ServerResponse) => void)

interface Receiver {
  url: string
  received: Received[]
  close: () => Promise<void>
}

/** A real HTTP endpoint on loopback; `reply` picks the answer to the n-th request (0-based). */
async function receiver (reply: (n: number) => Reply = () => 200): Promise<Receiver> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const n = received.length
      received.push({ raw, body: JSON.parse(raw), headers: req.headers, at: Date.now() })
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
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

function delay (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function recordingLogger (): WebhookLogger & { lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, warn: at('warn'), info: at('info'), debug: at('debug') }
}

function timeouts (): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
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

describe('debounce', () => {
  it('sends exactly one POST per document for a burst, after each document goes quiet', async () => {
    const rx = await setup()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 80 }))
    let lastChange = 0
    for (let i = 0; i < 5; i++) {
      hook.notify('alpha')
      hook.notify('beta')
      lastChange = Date.now()
      await delay(10)
    }
    await until(() => rx.received.length >= 2, 'both notifications')
    // Anything still pending would go out now; nothing does.
    await hook.flush()
    expect(rx.received).toHaveLength(2)

    const byDoc = [...rx.received].sort((a, b) => a.body.doc.localeCompare(b.body.doc))
    expect(byDoc.map((r) => r.body.doc)).toEqual(['alpha', 'beta'])
    for (const r of byDoc) {
      expect(Object.keys(r.body).sort()).toEqual(['doc', 'updatedAt'])
      expect(r.body.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      // updatedAt is the last change of the burst, not the first.
      expect(Date.parse(r.body.updatedAt)).toBeGreaterThanOrEqual(lastChange - 5)
      expect(Date.parse(r.body.updatedAt)).toBeLessThanOrEqual(lastChange)
      // Sent only after the quiet time (allowing for the timer's 1 ms granularity).
      expect(r.at).toBeGreaterThanOrEqual(lastChange + 80 - 2)
      expect(r.headers['content-type']).toBe('application/json')
      expect(r.headers['user-agent']).toBe('tandem-webhook')
      expect(r.headers['x-tandem-signature']).toBeUndefined()
      expect(Number(r.headers['x-tandem-timestamp'])).toBeGreaterThan(0)
    }
  })

  it('debounces per document: a busy document does not hold back a quiet one', async () => {
    const rx = await setup()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 200 }))
    hook.notify('quiet')
    const stopAt = performance.now() + 700
    while (performance.now() < stopAt) {
      hook.notify('busy')
      await delay(20)
    }
    const busyStopped = Date.now()
    // With one global debouncer `quiet` would wait for `busy` to stop.
    expect(rx.received.map((r) => r.body.doc)).toEqual(['quiet'])
    expect(rx.received[0]!.at).toBeLessThan(busyStopped)
    await until(() => rx.received.length >= 2, 'the busy document once it is quiet')
    await hook.flush()
    expect(rx.received.map((r) => r.body.doc)).toEqual(['quiet', 'busy'])
  })

  it('a document edited non-stop still notifies every maxWaitMs', async () => {
    const rx = await setup()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 100, maxWaitMs: 250 }))
    const started = Date.now()
    const stopAt = performance.now() + 900
    while (performance.now() < stopAt) {
      hook.notify('live')
      await delay(15)
    }
    const stopped = Date.now()
    const duringEdits = rx.received.filter((r) => r.at < stopped)
    // Edits never pause for 100 ms, so only maxWait can have sent these.
    expect(duringEdits.length).toBeGreaterThanOrEqual(2)
    expect(duringEdits.length).toBeLessThanOrEqual(4)
    expect(duringEdits[0]!.at - started).toBeLessThan(250 + 150)
    await hook.flush()
    const times = rx.received.map((r) => Date.parse(r.body.updatedAt))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(new Set(rx.received.map((r) => r.body.doc))).toEqual(new Set(['live']))
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
    const hook = track(createWebhook({ url: rx.url, debounceMs: 10, retries: 3, retryBaseMs: 40, logger }))
    hook.notify('flaky')
    await until(() => rx.received.length === 1, 'the first attempt')
    await hook.flush()
    expect(rx.received).toHaveLength(3)
    expect(new Set(rx.received.map((r) => r.raw)).size).toBe(1)
    // Backoff with jitter: at least half of 40 ms, then half of 80 ms.
    expect(rx.received[1]!.at - rx.received[0]!.at).toBeGreaterThanOrEqual(20 - 2)
    expect(rx.received[2]!.at - rx.received[1]!.at).toBeGreaterThanOrEqual(40 - 2)
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([])
    expect(logger.lines.find((l) => l.msg === 'webhook delivered')?.obj).toMatchObject({ doc: 'flaky', attempts: 3, status: 204 })
  })

  it('gives up after `retries` retries and logs it', async () => {
    const rx = await setup(() => 503)
    const logger = recordingLogger()
    const hook = track(createWebhook({ url: rx.url, debounceMs: 10, retries: 2, retryBaseMs: 10, logger }))
    hook.notify('down')
    await until(() => rx.received.length === 1, 'the first attempt')
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
    const hook = track(createWebhook({ url: rx.url, debounceMs: 10, timeoutMs: 150, retries: 1, retryBaseMs: 10, logger }))
    hook.notify('stuck')
    await until(() => rx.received.length === 1, 'the first attempt')
    const started = performance.now()
    await hook.flush()
    const took = performance.now() - started
    expect(rx.received).toHaveLength(2)
    expect(took).toBeGreaterThanOrEqual(150)
    expect(took).toBeLessThan(3000)
    const warns = logger.lines.filter((l) => l.level === 'warn')
    expect(warns.map((l) => l.obj)).toMatchObject([{ doc: 'stuck', attempts: 2, error: 'timed out after 150 ms' }])
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
    const before = timeouts()
    const hook = createWebhook({ url: rx.url, debounceMs: 60_000, maxWaitMs: 60_000 })
    hook.notify('x')
    hook.notify('y')
    expect(timeouts()).toBe(before + 2) // one timer per document
    await hook.close()
    expect(rx.received.map((r) => r.body.doc).sort()).toEqual(['x', 'y'])
    await hook.close()
    hook.notify('z')
    await hook.flush()
    expect(rx.received).toHaveLength(2)
    expect(timeouts()).toBe(before)
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
