import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { Persistence } from '../persistence/types.js'
import type { Authorizer, Permit } from './authorize.js'
import { CloseCode } from './close-codes.js'
import { updateToJson } from './doc-json.js'
import type { Fanout } from './fanout/types.js'
import type { Metrics } from './metrics.js'
import type { Room } from './room.js'
import type { RoomRegistry } from './rooms.js'
import { TandemError, type ErrorCode, ErrorCodes } from './errors.js'
import { applyJsonPatch, JsonPatchError } from './json-patch/index.js'
import type { Origin } from './origin.js'
import { safeUrl } from './logger.js'
import { DocNameError, decodeDocName } from './request.js'
import { handleCors } from './cors.js'
import { versionRoutes, type VersionRouteDeps } from './http-versions.js'

/** What the routes need once storage is open. */
export interface HttpServices {
  persistence: Pick<Persistence, 'check' | 'delete' | 'list'>
  fanout: Pick<Fanout, 'check' | 'instanceId'>
  rooms: Pick<RoomRegistry, 'acquire' | 'release' | 'peek' | 'evict' | 'rooms' | 'size'>
}

/** What the HTTP routes need from the server. */
export interface HttpDeps extends VersionRouteDeps {
  /** Browser origins allowed to call the API (CORS); unset allows all. */
  allowedOrigins?: string[]
  /** Called before a document is deleted, so nothing more is recorded for it (history). */
  forgetDoc?: (docName: string) => Promise<void>
  /** Largest request body accepted. */
  maxMessageBytes: number
  /** Most operations in one JSON Patch. */
  maxPatchOperations: number
  /** Longest a write waits for storage before it is answered 503 (it is kept and stored later, but not acknowledged). */
  storageWaitMs: number
  /** Counts a request of `bytes` body bytes against its identity's rate limit; returns the refusal reason, or null. */
  admitRequest: (req: IncomingMessage, userId: string | undefined, bytes: number) => string | null
  /** Whether the request's identity may make the server encode `costBytes` of document state now. */
  allowWork: (req: IncomingMessage, userId: string | undefined, costBytes: number) => boolean
  logger: Logger
  metrics: Metrics
  authorize: Authorizer
  /** Storage, fan-out and rooms; resolves once storage is open, rejects if it failed to open. */
  services: Promise<HttpServices>
  startedAt: number
  isShuttingDown: () => boolean
  connectionCount: () => number
  /** Closes every connection to `docName`; returns how many were closed. */
  closeDocConnections: (docName: string, code: number, reason: string) => number
}

type Handler = (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string) => Promise<void>

/** The deps with the open services, as the handlers see them. */
type Context = HttpDeps & HttpServices

interface Route {
  method: string
  /** Matched against the raw (still percent-encoded) path, so `%2F` in a name never splits it. */
  pattern: RegExp
  handler: Handler
}

const DOC = '([^?]+?)'

/** The HTTP API: one table, matched in order. */
const routes: Route[] = [
  { method: 'GET', pattern: /^\/healthz$/, handler: healthz },
  { method: 'GET', pattern: /^\/metrics$/, handler: metricsRoute },
  { method: 'GET', pattern: /^\/docs\/?$/, handler: listDocs },
  { method: 'POST', pattern: new RegExp(`^/docs/${DOC}/update$`), handler: postUpdate },
  { method: 'PATCH', pattern: new RegExp(`^/docs/${DOC}$`), handler: patchDoc },
  { method: 'GET', pattern: new RegExp(`^/docs/${DOC}/presence$`), handler: presence },
  // Before GET and DELETE /docs/:name, which would take `…/versions` as part of a name.
  ...versionRoutes<HttpDeps>({ grantFor, admit, sendJson, readBody, jsonView }),
  { method: 'GET', pattern: new RegExp(`^/docs/${DOC}$`), handler: getDoc },
  { method: 'DELETE', pattern: new RegExp(`^/docs/${DOC}$`), handler: deleteDoc }
]

/** The paths tandem answers (any method): everything else belongs to a host server. */
const OWN_PATH = /^\/(healthz|metrics|docs)(\/|$)/

/** Whether a request is for one of tandem's routes (a host server handles the rest). */
export function isTandemPath (url: string | undefined): boolean {
  return OWN_PATH.test((url ?? '/').split('?')[0])
}

/** How long `/healthz` waits for storage to open before answering 503. */
const STARTING_WAIT_MS = 500

/** Serves one request on a tandem route; answers 404 for any other path. */
export async function handleHttp (deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  if (handleCors(req, res, deps.allowedOrigins)) return
  try {
    const matching = routes.filter((r) => r.pattern.test(path))
    if (matching.length === 0) throw new TandemError('NOT_FOUND', `no route for ${path}`)
    const route = matching.find((r) => r.method === req.method || (req.method === 'HEAD' && r.method === 'GET'))
    if (route === undefined) {
      res.setHeader('Allow', matching.map((r) => r.method).join(', '))
      throw new TandemError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${path}`)
    }
    const raw = route.pattern.exec(path)?.[1]
    let docName = ''
    if (raw !== undefined) {
      try {
        docName = decodeDocName(raw)
      } catch (err) {
        if (err instanceof DocNameError) throw new TandemError('DOC_NAME_INVALID', err.message)
        throw err
      }
    }
    await route.handler(deps, req, res, docName)
  } catch (err) {
    const error = err instanceof TandemError
      ? err
      : (err as { code?: string }).code === 'STORAGE_FAILED'
          ? new TandemError('STORAGE_FAILED', (err as Error).message)
          : new TandemError('INTERNAL', 'internal error')
    if (error.code === 'INTERNAL') deps.logger.error({ err, url: safeUrl(req.url) }, 'HTTP request failed')
    sendError(res, error.code, error.message, error.details)
  }
}

/** The deps with the open services (storage, fan-out, rooms), for routes that need them. */
async function open (deps: HttpDeps): Promise<Context> {
  try {
    return { ...deps, ...await deps.services }
  } catch (err) {
    throw new TandemError('STORAGE_FAILED', `storage is not available: ${(err as Error).message}`)
  }
}

/** The services if they open within `ms`; null while they are still opening. Rejects if they failed to open. */
async function servicesWithin (deps: HttpDeps, ms: number): Promise<HttpServices | null> {
  let timer: NodeJS.Timeout | undefined
  const waited = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ms) })
  try {
    return await Promise.race([deps.services, waited])
  } finally {
    clearTimeout(timer)
  }
}

export function sendError (res: ServerResponse, code: ErrorCode, message: string, details?: Record<string, unknown>): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, ErrorCodes[code].status, { error: { code, message, ...details } })
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

/** Counts the request against its identity's rate limit; throws `RATE_LIMITED` over it. */
function admit (deps: HttpDeps, req: IncomingMessage, permit: Permit, bytes: number): void {
  const refusal = deps.admitRequest(req, permit.userId, bytes)
  if (refusal !== null) {
    deps.metrics.refused.inc({ code: 'RATE_LIMITED' })
    throw new TandemError('RATE_LIMITED', refusal)
  }
}

/** Identity and admin grant (a `"*"` grant, nothing narrower) of a request on an admin route. */
async function adminGrant (ctx: HttpDeps, req: IncomingMessage, needed: 'read' | 'write'): Promise<Permit> {
  const grant = await ctx.authorize.admin(req)
  if ('error' in grant) {
    ctx.metrics.authFailures.inc({ reason: grant.error.code })
    if (grant.detail !== undefined) ctx.logger.info({ code: grant.error.code, detail: grant.detail, url: safeUrl(req.url) }, 'request refused')
    throw new TandemError(grant.error.code, grant.error.message)
  }
  if (needed === 'write' && grant.access !== 'write') throw new TandemError('FORBIDDEN', 'read-only admin access')
  admit(ctx, req, grant, 0)
  return grant
}

/** Identity, grant and rate limit of a request on `docName` (body bytes are counted later by `admit`). */
async function grantFor (ctx: HttpDeps, req: IncomingMessage, docName: string, needed: 'read' | 'write'): Promise<Permit> {
  const grant = await ctx.authorize.http(req, docName)
  if ('error' in grant) {
    ctx.metrics.authFailures.inc({ reason: grant.error.code })
    if (grant.detail !== undefined) ctx.logger.info({ code: grant.error.code, detail: grant.detail, url: safeUrl(req.url) }, 'request refused')
    throw new TandemError(grant.error.code, grant.error.message)
  }
  if (needed === 'write' && grant.access !== 'write') throw new TandemError('FORBIDDEN', `read-only access to ${docName}`)
  if (req.method !== 'POST' && req.method !== 'PATCH' && req.method !== 'PUT') admit(ctx, req, grant, 0)
  return grant
}

async function healthz (deps: HttpDeps, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const base = { version: VERSION, uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000) }
  if (deps.isShuttingDown()) {
    sendJson(res, 503, { status: 'shutting-down', ...base })
    return
  }
  let services: HttpServices | null
  try {
    services = await servicesWithin(deps, STARTING_WAIT_MS)
  } catch (err) {
    sendJson(res, 503, { status: 'degraded', reason: `storage: ${(err as Error).message}`, ...base })
    return
  }
  if (services === null) {
    sendJson(res, 503, { status: 'starting', ...base })
    return
  }
  // Both checks bound their own time (well under a second); run together, /healthz answers within one bound.
  const [storage, fanout] = await Promise.allSettled([services.persistence.check(), services.fanout.check()])
  if (storage.status === 'rejected') {
    sendJson(res, 503, { status: 'degraded', reason: `storage: ${(storage.reason as Error).message}`, ...base })
    return
  }
  if (fanout.status === 'rejected') {
    sendJson(res, 503, { status: 'degraded', reason: `fanout: ${(fanout.reason as Error).message}`, ...base })
    return
  }
  sendJson(res, 200, { status: 'ok', ...base, connections: deps.connectionCount(), rooms: services.rooms.size })
}

async function metricsRoute (deps: HttpDeps, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ctx = await open(deps)
  let awareness = 0
  for (const room of ctx.rooms.rooms()) awareness += room.awarenessCount()
  ctx.metrics.awarenessStates.set(awareness)
  const text = await ctx.metrics.registry.metrics()
  res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType })
  res.end(text)
}

/** Runs `fn` with a hold on the loaded room, so it cannot unload meanwhile. */
async function withRoom<T> (ctx: Context, docName: string, fn: (room: Room) => Promise<T>): Promise<T> {
  if (ctx.isShuttingDown()) throw new TandemError('SHUTTING_DOWN', 'the server is shutting down')
  const room = await ctx.rooms.acquire(docName).catch((err) => {
    throw new TandemError('STORAGE_FAILED', `the document did not load: ${(err as Error).message}`)
  })
  try {
    return await fn(room)
  } finally {
    ctx.rooms.release(room)
  }
}

async function getDoc (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
  const permit = await grantFor(deps, req, docName, 'read')
  const ctx = await open(deps)
  const format = new URL(req.url ?? '/', 'http://localhost').searchParams.get('format')
  if (format !== null && format !== 'json' && format !== 'binary') {
    throw new TandemError('BAD_REQUEST', 'format must be json or binary')
  }
  const result = await withRoom(ctx, docName, async (room) => {
    // A document with no structs was never written (deleting content leaves structs).
    if (room.doc.store.clients.size === 0) return null
    // The JSON view is built afresh for each request: it costs a pass over the document.
    if (format === 'json' && !ctx.allowWork(req, permit.userId, room.bytes)) throw new TandemError('RATE_LIMITED', 'too many document reads')
    const update = await withinMs(room.snapshot(), ctx.storageWaitMs, 'storage did not answer in time').catch((err) => {
      throw new TandemError('STORAGE_FAILED', `the document is not stored yet: ${(err as Error).message}`)
    })
    return { update, json: format === 'json' ? jsonView(update) : undefined }
  })
  if (result === null) throw new TandemError('NOT_FOUND', `no document named ${JSON.stringify(docName)}`)
  if (result.json !== undefined) {
    sendJson(res, 200, result.json)
    return
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': result.update.byteLength })
  res.end(result.update)
}

async function deleteDoc (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
  await adminGrant(deps, req, 'write')
  const ctx = await open(deps)
  if (ctx.isShuttingDown()) throw new TandemError('SHUTTING_DOWN', 'the server is shutting down')
  await ctx.forgetDoc?.(docName)
  const closed = ctx.closeDocConnections(docName, CloseCode.DOC_DELETED, 'document deleted')
  await ctx.rooms.evict(docName)
  await ctx.persistence.delete(docName)
  ctx.logger.info({ doc: docName, closed }, 'document deleted')
  sendJson(res, 200, { deleted: docName, closedConnections: closed })
}

async function listDocs (deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await adminGrant(deps, req, 'read')
  const ctx = await open(deps)
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams
  const limit = Number(params.get('limit') ?? 100)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TandemError('BAD_REQUEST', 'limit must be an integer from 1 to 1000')
  const after = params.get('after') ?? undefined
  // One more than asked tells whether there is a next page.
  const names = await ctx.persistence.list({ after, limit: limit + 1 })
  const docs = names.slice(0, limit)
  sendJson(res, 200, { docs, next: names.length > limit ? docs[docs.length - 1] : null })
}

async function postUpdate (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
  const permit = await grantFor(deps, req, docName, 'write')
  const ctx = await open(deps)
  const body = await readBody(req, ctx.maxMessageBytes)
  admit(ctx, req, permit, body.byteLength)
  if (body.byteLength === 0) throw new TandemError('UPDATE_INVALID', 'the body is empty; send a binary Yjs update')
  await withRoom(ctx, docName, async (room) => {
    // Checked before anything is applied: a body that does not decode, changes nothing, nests too deep or lacks dependencies changes nothing.
    room.applyUpdate(body, { kind: 'http', userId: permit.userId } satisfies Origin, { allowWork: (cost: number) => ctx.allowWork(req, permit.userId, cost) }, { refuseEmpty: true })
    await withinMs(room.whenStored(), ctx.storageWaitMs, 'storage did not answer in time').catch((err) => {
      throw new TandemError('STORAGE_FAILED', `the update was not stored: ${(err as Error).message}`)
    })
  })
  sendJson(res, 200, { stored: true, doc: docName })
}

/**
 * `PATCH /docs/:name`: an RFC 6902 JSON Patch against the JSON view, applied
 * in one transaction or not at all (`json-patch/`), then stored and relayed
 * like any client's change before it is answered.
 */
async function patchDoc (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
  const permit = await grantFor(deps, req, docName, 'write')
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/json-patch+json') {
    req.resume()
    throw new TandemError('UNSUPPORTED_MEDIA_TYPE', 'send a JSON Patch with Content-Type: application/json-patch+json')
  }
  const ctx = await open(deps)
  const body = await readBody(req, ctx.maxMessageBytes)
  admit(ctx, req, permit, body.byteLength)
  let operations: unknown
  try {
    operations = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch (err) {
    throw new TandemError('BAD_REQUEST', `the body is not JSON: ${(err as Error).message}`)
  }
  await withRoom(ctx, docName, async (room) => {
    const origin: Origin = { kind: 'http', userId: permit.userId }
    try {
      // A patch adds at most what its body carries (copies are bounded by the patch's own read limit).
      room.change((doc) => applyJsonPatch(doc, operations, { origin, maxOperations: ctx.maxPatchOperations }), {
        growthBytes: body.byteLength,
        budget: { allowWork: (cost: number) => ctx.allowWork(req, permit.userId, cost) }
      })
    } catch (err) {
      if (err instanceof JsonPatchError) throw new TandemError(err.code, err.message, { index: err.index })
      throw err
    }
    await withinMs(room.whenStored(), ctx.storageWaitMs, 'storage did not answer in time').catch((err) => {
      throw new TandemError('STORAGE_FAILED', `the change was not stored: ${(err as Error).message}`)
    })
  })
  sendJson(res, 200, { stored: true, doc: docName })
}

async function presence (deps: HttpDeps, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
  await grantFor(deps, req, docName, 'read')
  const ctx = await open(deps)
  const list = (room: Room) => [...room.presence.states()].map(([clientId, state]) => ({ clientId, state }))
  const loaded = ctx.rooms.peek(docName)
  if (loaded !== undefined || ctx.fanout.instanceId === 'local') {
    sendJson(res, 200, loaded === undefined ? [] : list(loaded))
    return
  }
  // In a cluster the document may be open elsewhere: load it (which asks the
  // other instances for their awareness) and give the answers a moment.
  const states = await withRoom(ctx, docName, async (room) => {
    await waitFor(() => room.awarenessCount() > 0, PRESENCE_WAIT_MS)
    return list(room)
  })
  sendJson(res, 200, states)
}

function readBody (req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(new TandemError('BODY_TOO_LARGE', `the body is larger than ${maxBytes} bytes`))
      req.resume()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength
      if (size > maxBytes) {
        reject(new TandemError('BODY_TOO_LARGE', `the body is larger than ${maxBytes} bytes`))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      const buf = Buffer.concat(chunks)
      resolve(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    })
    req.on('error', reject)
  })
}

/** The JSON view of a document; one nested deeper than the view can recurse is a clear error, not a 500. */
function jsonView (update: Uint8Array): Record<string, unknown> {
  try {
    return updateToJson(update)
  } catch (err) {
    if (err instanceof RangeError) throw new TandemError('DOC_TOO_DEEP', 'the document nests too deep for its JSON view; read it as a Yjs update (without ?format=json)')
    throw err
  }
}

/** Resolves as `promise` does, or rejects with `message` after `ms`. */
async function withinMs<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** How long a cluster presence read waits for other instances to answer. */
const PRESENCE_WAIT_MS = 250

function waitFor (condition: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + ms
    const check = (): void => {
      if (condition() || Date.now() >= deadline) resolve()
      else setTimeout(check, 10)
    }
    check()
  })
}

/** The package version: package.json sits two levels up from dist/src, one from src. */
const VERSION: string = (() => {
  for (const path of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'))
      if (pkg.name === 'tandem') return pkg.version as string
    } catch {
      // try the next location
    }
  }
  return 'unknown'
})()
