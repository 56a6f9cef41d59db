import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Permit } from './authorize.js'
import { TandemError } from './errors.js'
import type { Charge, HistoryApi } from './history/service.js'

/**
 * The version-history routes, for the route table in `http.ts`:
 *
 * | route | grant |
 * |---|---|
 * | `GET /docs/:name/versions` (`?limit=`, `?after=`) | read |
 * | `POST /docs/:name/versions` (`{"label": "…"}`) | write |
 * | `GET /docs/:name/versions/:id` (`?format=json`) | read |
 * | `DELETE /docs/:name/versions/:id` | write |
 * | `POST /docs/:name/versions/:id/restore` | write |
 *
 * Names may contain slashes, so these routes match the `/versions…` suffix
 * and come before `GET /docs/:name` in the table: `/docs/a/b/versions` lists
 * the versions of `a/b`. A document whose name ends in `/versions` (or
 * `/versions/<id>`) is reached with its slashes percent-encoded, as every
 * name may be: `GET /docs/x%2Fversions` reads the document `x/versions`.
 *
 * The helpers come from `http.ts` as arguments (it imports this file, not
 * the other way round).
 */
export interface VersionRouteDeps {
  history: HistoryApi
  /** Largest body of `POST /versions`: a label and JSON around it. */
  maxVersionBodyBytes: number
  allowWork: (req: IncomingMessage, userId: string | undefined, costBytes: number) => boolean
  /** Whether the identity may make one more version write now (`historyWritesPerMinute`). */
  allowHistoryWrite: (req: IncomingMessage, userId: string | undefined) => boolean
  isShuttingDown: () => boolean
}

export interface VersionRouteKit<D> {
  grantFor: (deps: D, req: IncomingMessage, docName: string, needed: 'read' | 'write') => Promise<Permit>
  admit: (deps: D, req: IncomingMessage, permit: Permit, bytes: number) => void
  sendJson: (res: ServerResponse, status: number, body: unknown) => void
  readBody: (req: IncomingMessage, maxBytes: number) => Promise<Uint8Array>
  /** The JSON view of a document, as `GET /docs/:name?format=json` answers it. */
  jsonView: (update: Uint8Array) => Record<string, unknown>
}

export interface VersionRoute<D> {
  method: string
  pattern: RegExp
  handler: (deps: D, req: IncomingMessage, res: ServerResponse, docName: string) => Promise<void>
}

const DOC = '([^?]+?)'
const ID = '([^/?]+)'
const LIST = new RegExp(`^/docs/${DOC}/versions$`)
const ONE = new RegExp(`^/docs/${DOC}/versions/${ID}$`)
const RESTORE = new RegExp(`^/docs/${DOC}/versions/${ID}/restore$`)

export function versionRoutes<D extends VersionRouteDeps> (kit: VersionRouteKit<D>): Array<VersionRoute<D>> {
  const { grantFor, admit, sendJson, readBody, jsonView } = kit

  const charge = (deps: D, req: IncomingMessage, permit: Permit): Charge => (cost) => deps.allowWork(req, permit.userId, cost)

  /** Counts a version write against the identity's budget. */
  const writeAllowed = (deps: D, req: IncomingMessage, permit: Permit): void => {
    if (deps.isShuttingDown()) throw new TandemError('SHUTTING_DOWN', 'the server is shutting down')
    if (!deps.allowHistoryWrite(req, permit.userId)) throw new TandemError('RATE_LIMITED', 'too many version writes for this user')
  }

  async function list (deps: D, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
    const permit = await grantFor(deps, req, docName, 'read')
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams
    const limit = Number(params.get('limit') ?? 100)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TandemError('BAD_REQUEST', 'limit must be an integer from 1 to 1000')
    const after = params.get('after') ?? undefined
    sendJson(res, 200, await deps.history.list(docName, { limit, after, charge: charge(deps, req, permit) }))
  }

  async function create (deps: D, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
    const permit = await grantFor(deps, req, docName, 'write')
    const body = await readBody(req, deps.maxVersionBodyBytes)
    admit(deps, req, permit, body.byteLength)
    const label = labelOf(body)
    writeAllowed(deps, req, permit)
    const version = await deps.history.create(docName, { label, userId: permit.userId, charge: charge(deps, req, permit) })
    sendJson(res, 201, version)
  }

  async function get (deps: D, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
    const permit = await grantFor(deps, req, docName, 'read')
    const id = idOf(req, ONE)
    const format = new URL(req.url ?? '/', 'http://localhost').searchParams.get('format')
    if (format !== null && format !== 'json' && format !== 'binary') throw new TandemError('BAD_REQUEST', 'format must be json or binary')
    const { update } = await deps.history.get(docName, id, { charge: charge(deps, req, permit) })
    if (format === 'json') {
      sendJson(res, 200, jsonView(update))
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': update.byteLength })
    res.end(update)
  }

  async function remove (deps: D, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
    const permit = await grantFor(deps, req, docName, 'write')
    const id = idOf(req, ONE)
    writeAllowed(deps, req, permit)
    await deps.history.delete(docName, id)
    sendJson(res, 200, { deleted: id })
  }

  async function restore (deps: D, req: IncomingMessage, res: ServerResponse, docName: string): Promise<void> {
    const permit = await grantFor(deps, req, docName, 'write')
    // No body is expected; whatever comes is read (within bounds) and counted.
    const body = await readBody(req, deps.maxVersionBodyBytes)
    admit(deps, req, permit, body.byteLength)
    const id = idOf(req, RESTORE)
    writeAllowed(deps, req, permit)
    sendJson(res, 200, await deps.history.restore(docName, id, { userId: permit.userId, charge: charge(deps, req, permit) }))
  }

  return [
    { method: 'GET', pattern: LIST, handler: list },
    { method: 'POST', pattern: LIST, handler: create },
    { method: 'GET', pattern: ONE, handler: get },
    { method: 'DELETE', pattern: ONE, handler: remove },
    { method: 'POST', pattern: RESTORE, handler: restore }
  ]
}

/** The version id in the path, percent-decoded. */
function idOf (req: IncomingMessage, pattern: RegExp): string {
  const raw = pattern.exec((req.url ?? '/').split('?')[0])?.[2] ?? ''
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new TandemError('NOT_FOUND', 'no such version')
  }
}

/** The label of a `POST /versions` body: empty, or a JSON object with an optional `label`. */
function labelOf (body: Uint8Array): string | null | undefined {
  if (body.byteLength === 0) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch {
    throw new TandemError('BODY_INVALID', 'the body is not JSON; send {"label": "…"} or nothing')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TandemError('BODY_INVALID', 'the body must be a JSON object such as {"label": "…"}')
  const label = (parsed as { label?: unknown }).label
  if (label !== undefined && label !== null && typeof label !== 'string') throw new TandemError('BODY_INVALID', 'label must be a string or null')
  return label as string | null | undefined
}
