/**
 * Change notifications over HTTP: after a document changes, POST
 * `{ "doc": name, "updatedAt": ISO-8601 }` to one URL so a host can index or
 * snapshot the document. A webhook says "this document changed", never what
 * changed: the receiver reads the document itself (`GET /docs/:name`), so a
 * lost or coalesced notification costs freshness, never data.
 *
 * Each document has its own debounce timer, so a document edited non-stop
 * neither delays nor hides the others, and `maxWaitMs` makes sure that one
 * still notifies. Every bound (pending documents, concurrent requests,
 * per-request time, retries) is finite, so an endpoint that is slow or down
 * cannot grow this process's memory or keep `close()` waiting forever.
 */
import { createHmac } from 'node:crypto'
import { performance } from 'node:perf_hooks'

export interface WebhookLogger {
  warn(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  debug?(obj: object, msg?: string): void
}

/**
 * Where the webhook reads time and parks its timers. Injected so tests can
 * drive the debounce, `maxWaitMs`, the retry backoff and the request timeout
 * by advancing time instead of sleeping.
 */
export interface WebhookClock {
  /** Milliseconds from a monotonic clock; measures quiet time and `maxWaitMs`. */
  now(): number
  /** Milliseconds since the epoch; becomes `updatedAt` and `X-Tandem-Timestamp`. */
  wallNow(): number
  /** Runs `fn` after `ms` milliseconds of this clock's time; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown
  /** Cancels a timer from `setTimeout`; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: unknown): void
}

/** `performance.now`, `Date.now` and the global timers. */
const realClock: WebhookClock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void => { clearTimeout(handle as NodeJS.Timeout) }
})

export interface WebhookOptions {
  /** Where notifications are POSTed; `http:` or `https:`. */
  url: string
  /**
   * HMAC-SHA256 secret; when set, every request carries
   * `X-Tandem-Signature: sha256=<hex of HMAC(body)>` and `X-Tandem-Timestamp`.
   * @default undefined (requests are not signed)
   */
  secret?: string
  /**
   * Quiet time per document before a notification is sent. Turns a burst of
   * keystrokes into one request.
   * @default 2000
   */
  debounceMs?: number
  /**
   * Longest a notification may wait after the first change it covers, so a
   * document edited non-stop still notifies. Must be at least `debounceMs`.
   * @default 10000
   */
  maxWaitMs?: number
  /**
   * Per-request timeout (connect, headers and body). Bounds how long one
   * unresponsive endpoint can hold a request slot.
   * @default 5000
   */
  timeoutMs?: number
  /**
   * Retries after the first attempt on network errors, timeouts, 5xx and 429,
   * with exponential backoff. Other responses are final.
   * @default 3
   */
  retries?: number
  /**
   * Delay before the first retry; it doubles with each retry, up to 60 s.
   * Each delay is jittered so documents failing together do not retry in
   * lockstep: retry n waits a random time between half and all of
   * `min(retryBaseMs × 2^(n-1), 60000)`.
   * @default 1000
   */
  retryBaseMs?: number
  /**
   * Bound on documents waiting to be notified, in their quiet time or queued
   * for a request slot. Over it the oldest document in its quiet time is
   * notified at once; when the endpoint lags so that it cannot be sent yet,
   * the oldest queued notification is dropped with a log. Bounds memory when
   * many documents change while the endpoint is slow or down.
   * @default 10000
   */
  maxPendingDocs?: number
  /**
   * Requests in flight at once. Bounds the sockets and memory one webhook
   * endpoint can take, and the load a burst of documents puts on it.
   * @default 4
   */
  concurrency?: number
  /** @default a logger that discards everything */
  logger?: WebhookLogger
  /** @default globalThis.fetch */
  fetch?: typeof fetch
  /**
   * Time and timers for the debounce, `maxWaitMs`, the retry backoff and the
   * request timeout. Tests pass a manual clock; nothing else should.
   * @default realClock (`performance.now`, `Date.now`, the global timers)
   */
  clock?: WebhookClock
}

export interface Webhook {
  /** Records a change to `docName`; the notification follows after the quiet time. Never throws. */
  notify(docName: string): void
  /** Sends every pending notification now and resolves when all requests (with their retries) are done. */
  flush(): Promise<void>
  /** Stops accepting changes, flushes once and clears every timer. Safe to call twice. */
  close(): Promise<void>
}

export const WEBHOOK_DEFAULTS = Object.freeze({
  debounceMs: 2000,
  maxWaitMs: 10_000,
  timeoutMs: 5000,
  retries: 3,
  retryBaseMs: 1000,
  maxPendingDocs: 10_000,
  concurrency: 4
})

/** Caps the exponential backoff so a large `retries` cannot park a request for hours. */
const MAX_RETRY_DELAY_MS = 60_000

const silentLogger: WebhookLogger = { warn () {}, info () {} }

interface Waiting {
  /** Monotonic time of the first change not yet notified (for `maxWaitMs`). */
  firstAt: number
  /** Monotonic time of the latest change (for `debounceMs`). */
  lastAt: number
  /** Wall-clock time of the latest change, sent as `updatedAt`. */
  updatedAt: number
  /** Handle from `clock.setTimeout`. */
  timer: unknown
}

type Attempt =
  | { ok: true, status: number }
  | { ok: false, retryable: boolean, status?: number, error?: string }

/**
 * Creates a webhook notifier. Validates its options and throws on a bad one;
 * after that nothing it does throws into the caller: failed deliveries are
 * logged.
 */
export function createWebhook (options: WebhookOptions): Webhook {
  const config = resolveOptions(options)
  const { url, secret, debounceMs, maxWaitMs, timeoutMs, retries, retryBaseMs, maxPendingDocs, concurrency } = config
  const logger = options.logger ?? silentLogger
  const fetchFn = options.fetch ?? globalThis.fetch
  const clock = options.clock ?? realClock
  // The URL may carry credentials or a token in its query; logs get neither.
  const target = (() => { const u = new URL(url); return u.origin + u.pathname })()

  /** Documents inside their quiet time, in order of their first change (Map order). */
  const waiting = new Map<string, Waiting>()
  /** Documents due, waiting for a request slot: name → wall-clock `updatedAt`. */
  const queue = new Map<string, number>()
  /** Deliveries in flight, each settling only after its last retry. */
  const active = new Set<Promise<void>>()
  let closed = false
  let closing: Promise<void> | undefined
  /** Notifications dropped since the queue last drained. */
  let dropped = 0

  function notify (docName: string): void {
    if (closed) {
      logger.debug?.({ doc: docName }, 'webhook closed; change not notified')
      return
    }
    const now = clock.now()
    const wall = clock.wallNow()
    // Already due: the request has not started, so it can carry this change too.
    if (queue.has(docName)) {
      queue.set(docName, wall)
      return
    }
    const entry = waiting.get(docName)
    if (entry !== undefined) {
      // The timer is not moved on every keystroke: when it fires it works
      // out the real due time and sleeps again if the quiet time is not over.
      entry.lastAt = now
      entry.updatedAt = wall
      return
    }
    if (waiting.size + queue.size >= maxPendingDocs) makeRoom()
    // Not unref'd on purpose: a pending notification is work not yet done, and
    // letting the process exit would lose it silently. `close()` clears it.
    const timer = clock.setTimeout(() => onTimer(docName), debounceMs)
    waiting.set(docName, { firstAt: now, lastAt: now, updatedAt: wall, timer })
  }

  function onTimer (docName: string): void {
    const entry = waiting.get(docName)
    if (entry === undefined) return
    const due = Math.min(entry.lastAt + debounceMs, entry.firstAt + maxWaitMs)
    const left = due - clock.now()
    if (left >= 1) {
      entry.timer = clock.setTimeout(() => onTimer(docName), left)
      return
    }
    release(docName)
  }

  /** Frees one place for a new document (see `maxPendingDocs`). */
  function makeRoom (): void {
    // Notifying early costs the receiver an extra request at worst; try that first.
    if (waiting.size > 0) release(waiting.keys().next().value as string)
    // Still full: every slot is busy and documents queue behind a lagging endpoint.
    if (waiting.size + queue.size >= maxPendingDocs && queue.size > 0) {
      const oldest = queue.keys().next().value as string
      queue.delete(oldest)
      dropped++
      // One line when shedding starts and one when it ends, not one per document.
      if (dropped === 1) {
        logger.warn({ doc: oldest, url: target, maxPendingDocs }, 'webhook: too many documents waiting for the endpoint; dropping the oldest notifications')
      }
    }
  }

  /** Moves a document from its quiet time to the send queue. */
  function release (docName: string): void {
    const entry = waiting.get(docName)
    if (entry === undefined) return
    clock.clearTimeout(entry.timer)
    waiting.delete(docName)
    queue.set(docName, entry.updatedAt)
    pump()
  }

  /** Starts deliveries while there are free slots. */
  function pump (): void {
    while (active.size < concurrency && queue.size > 0) {
      const [docName, updatedAt] = queue.entries().next().value as [string, number]
      queue.delete(docName)
      const delivery: Promise<void> = deliver(docName, updatedAt)
        .catch((err: unknown) => {
          logger.warn({ doc: docName, url: target, error: describeError(err) }, 'webhook: delivery failed unexpectedly')
        })
        .finally(() => {
          active.delete(delivery)
          pump()
        })
      active.add(delivery)
    }
    if (queue.size === 0 && dropped > 0) {
      logger.info({ dropped, url: target }, 'webhook: backlog drained; notifications were dropped while it was full')
      dropped = 0
    }
  }

  async function deliver (docName: string, updatedAt: number): Promise<void> {
    const body = JSON.stringify({ doc: docName, updatedAt: new Date(updatedAt).toISOString() })
    const signature = secret === undefined ? undefined : `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
    for (let attempt = 1; ; attempt++) {
      const result = await send(body, signature)
      if (result.ok) {
        logger.debug?.({ doc: docName, url: target, status: result.status, attempts: attempt }, 'webhook delivered')
        return
      }
      const detail = { doc: docName, url: target, attempts: attempt, status: result.status, error: result.error }
      if (!result.retryable) {
        logger.warn(detail, 'webhook: endpoint refused the notification; not retried')
        return
      }
      if (attempt > retries) {
        logger.warn(detail, 'webhook: giving up after the last retry')
        return
      }
      await new Promise<void>((resolve) => { clock.setTimeout(resolve, backoffMs(attempt)) })
    }
  }

  /** One request, bounded by `timeoutMs`; never throws. */
  async function send (body: string, signature: string | undefined): Promise<Attempt> {
    const controller = new AbortController()
    const timer = clock.setTimeout(() => controller.abort(), timeoutMs)
    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'tandem-webhook',
        'x-tandem-timestamp': String(Math.floor(clock.wallNow() / 1000))
      }
      if (signature !== undefined) headers['x-tandem-signature'] = signature
      // Redirects are not followed: a signed notification goes to the
      // configured URL only, and a redirected POST may silently become a GET.
      const response = await fetchFn(url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' })
      // The reply body is unused, but must be released for the connection to be reused.
      await response.body?.cancel().catch(() => {})
      if (response.ok) return { ok: true, status: response.status }
      return { ok: false, retryable: response.status >= 500 || response.status === 429, status: response.status }
    } catch (err) {
      if (controller.signal.aborted) return { ok: false, retryable: true, error: `timed out after ${timeoutMs} ms` }
      return { ok: false, retryable: true, error: describeError(err) }
    } finally {
      clock.clearTimeout(timer)
    }
  }

  function backoffMs (retry: number): number {
    const ceiling = Math.min(retryBaseMs * 2 ** (retry - 1), MAX_RETRY_DELAY_MS)
    return ceiling / 2 + Math.random() * ceiling / 2
  }

  async function flush (): Promise<void> {
    for (const docName of [...waiting.keys()]) release(docName)
    // A finished delivery starts the next queued one before it settles, so
    // `active` is empty only when the queue is too.
    while (active.size > 0) await Promise.all(active)
  }

  function close (): Promise<void> {
    closing ??= (async () => {
      closed = true
      await flush()
      // flush() released every waiting document and notify() now refuses new
      // ones, so this finds nothing; it stays as the guarantee that no timer
      // outlives the webhook.
      for (const entry of waiting.values()) clock.clearTimeout(entry.timer)
      waiting.clear()
    })()
    return closing
  }

  return { notify, flush, close }
}

function resolveOptions (options: WebhookOptions): Required<Omit<WebhookOptions, 'secret' | 'logger' | 'fetch' | 'clock'>> & { secret: string | undefined } {
  let parsed: URL
  try {
    parsed = new URL(options.url)
  } catch {
    throw new TypeError('webhook url must be an absolute URL')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('webhook url must be http: or https:')
  if (options.secret !== undefined && options.secret.length === 0) throw new TypeError('webhook secret must not be empty')
  const resolved = {
    url: options.url,
    secret: options.secret,
    debounceMs: options.debounceMs ?? WEBHOOK_DEFAULTS.debounceMs,
    maxWaitMs: options.maxWaitMs ?? WEBHOOK_DEFAULTS.maxWaitMs,
    timeoutMs: options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs,
    retries: options.retries ?? WEBHOOK_DEFAULTS.retries,
    retryBaseMs: options.retryBaseMs ?? WEBHOOK_DEFAULTS.retryBaseMs,
    maxPendingDocs: options.maxPendingDocs ?? WEBHOOK_DEFAULTS.maxPendingDocs,
    concurrency: options.concurrency ?? WEBHOOK_DEFAULTS.concurrency
  }
  const atLeast = (name: keyof typeof resolved, min: number, integer = false): void => {
    const value = resolved[name] as number
    if (!(Number.isFinite(value) && value >= min) || (integer && !Number.isInteger(value))) {
      throw new RangeError(`webhook ${name} must be a finite ${integer ? 'integer' : 'number'} >= ${min}`)
    }
  }
  atLeast('debounceMs', 0)
  atLeast('maxWaitMs', 0)
  atLeast('timeoutMs', 1)
  atLeast('retries', 0, true)
  atLeast('retryBaseMs', 0)
  atLeast('maxPendingDocs', 1, true)
  atLeast('concurrency', 1, true)
  if (resolved.maxWaitMs < resolved.debounceMs) throw new RangeError('webhook maxWaitMs must be at least debounceMs')
  return resolved
}

/** A short reason for a log line; fetch hides the socket error in `cause`. */
function describeError (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = (err as { cause?: unknown }).cause
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return `${err.message}: ${typeof code === 'string' ? code : cause.message}`
  }
  return err.message
}
