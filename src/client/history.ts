/**
 * `client.history`: the document's versions over tandem's HTTP API, with
 * the client's token. Browsers and Node 18+ (global `fetch`).
 */
import * as Y from 'yjs'

/** A version as the server lists it. */
export interface Version {
  /** Opaque, unique within the document. */
  id: string
  /** ISO 8601. */
  createdAt: string
  label: string | null
  kind: 'auto' | 'named' | 'backup'
  /** Users whose changes went in since the version before (empty without auth). */
  authors: string[]
  /** Size of the whole document as of this version, in bytes. */
  bytes: number
}

export interface HistoryClient {
  /** Versions, newest first; pass `next` as `after` for the following page (null: none). */
  list(options?: { limit?: number; after?: string }): Promise<{ versions: Version[]; next: string | null }>
  /** A named version of the document as the server holds it now. */
  create(label?: string | null): Promise<Version>
  /** The whole document as of a version, as one Yjs update. */
  get(id: string): Promise<Uint8Array>
  /** A fresh Y.Doc holding the document as of a version (for a preview); destroy it when done. */
  doc(id: string): Promise<Y.Doc>
  /** The document as of a version as JSON (its top-level shared types). */
  json(id: string): Promise<Record<string, unknown>>
  /**
   * Makes the document equal to the version for everyone (the change syncs
   * to this client like any other); the state before is saved as the
   * returned `backup`, which restores it.
   */
  restore(id: string): Promise<{ restored: string; backup: Version }>
  delete(id: string): Promise<void>
}

/** A refused or failed history request: the server's error code and HTTP status. */
export class HistoryError extends Error {
  constructor (readonly code: string, readonly status: number, message: string) {
    super(message)
    this.name = 'HistoryError'
  }
}

export interface HistoryClientOptions {
  /** The server's HTTP base URL, e.g. `http://localhost:1234`. */
  baseUrl: string
  doc: string
  /** The current token (read at each request, so a refreshed token is used). */
  token: () => string | undefined
  fetch?: typeof globalThis.fetch
}

export function createHistoryClient (options: HistoryClientOptions): HistoryClient {
  const root = `${options.baseUrl.replace(/\/+$/, '')}/docs/${encodeURIComponent(options.doc)}/versions`
  const request = async (method: string, path: string, body?: string): Promise<Response> => {
    const fetchImpl = options.fetch ?? globalThis.fetch
    const token = options.token()
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetchImpl(`${root}${path}`, { method, headers, body })
    if (!res.ok) {
      let code = 'HTTP_ERROR'
      let message = `${method} ${root}${path} answered ${res.status}`
      try {
        const error = (await res.json() as { error?: { code?: string; message?: string } }).error
        code = error?.code ?? code
        message = error?.message ?? message
      } catch {
        // Not JSON (a proxy's page, say): the status says enough.
      }
      throw new HistoryError(code, res.status, message)
    }
    return res
  }
  const id = (value: string): string => `/${encodeURIComponent(value)}`
  const get = async (versionId: string): Promise<Uint8Array> => new Uint8Array(await (await request('GET', id(versionId))).arrayBuffer())

  return {
    async list (query = {}) {
      const params = new URLSearchParams()
      if (query.limit !== undefined) params.set('limit', String(query.limit))
      if (query.after !== undefined) params.set('after', query.after)
      const search = params.toString()
      return await (await request('GET', search === '' ? '' : `?${search}`)).json()
    },
    async create (label) {
      return await (await request('POST', '', JSON.stringify(label === undefined ? {} : { label }))).json()
    },
    get,
    async doc (versionId) {
      const doc = new Y.Doc()
      Y.applyUpdate(doc, await get(versionId))
      return doc
    },
    async json (versionId) {
      return await (await request('GET', `${id(versionId)}?format=json`)).json()
    },
    async restore (versionId) {
      return await (await request('POST', `${id(versionId)}/restore`)).json()
    },
    async delete (versionId) {
      await request('DELETE', id(versionId))
    }
  }
}

/** The HTTP base URL of a WebSocket URL: same host and port, http(s) for ws(s). */
export function httpUrlOf (wsUrl: string): string {
  const url = new URL(wsUrl)
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol
  url.search = ''
  url.hash = ''
  return url.toString().replace(/\/+$/, '')
}
