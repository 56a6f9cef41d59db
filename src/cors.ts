import type { IncomingMessage, ServerResponse } from 'node:http'
import { isOriginAllowed } from './request.js'

/**
 * CORS for the HTTP API, so a page served from another origin (the
 * examples, an app on its own port) can call it with `fetch`, for instance
 * `tandem/client`'s history. The same allow-list as WebSockets decides
 * (`allowedOrigins`, all when unset). No credentials are allowed: tokens
 * travel in `Authorization` or `?token=`, never in cookies, so a page can
 * only do what the token it holds allows.
 *
 * Returns true when it answered the request (a preflight).
 */
export function handleCors (req: IncomingMessage, res: ServerResponse, allowedOrigins: string[] | undefined): boolean {
  const origin = req.headers.origin
  if (origin === undefined || !isOriginAllowed(origin, allowedOrigins)) return false
  res.setHeader('Access-Control-Allow-Origin', origin)
  res.setHeader('Vary', 'Origin')
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false
  res.writeHead(204, {
    'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Max-Age': '600'
  })
  res.end()
  return true
}
