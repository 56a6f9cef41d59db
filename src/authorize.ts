import type { IncomingMessage } from 'node:http'
import type { Access, AuthResult, Config } from './config.js'
import type { ErrorCode } from './errors.js'

export interface Grant {
  userId?: string
  access: Exclude<Access, 'none'>
  expiresAtMs?: number
}

export type UpgradeDecision =
  | { docName: string; ip: string; auth: Grant }
  | { error: { code: ErrorCode; message: string } }

export interface Authorizer {
  /** Everything decided before a WebSocket exists: name, origin, identity, grant. */
  upgrade(request: IncomingMessage): Promise<UpgradeDecision>
  /** Identity and grant for an HTTP request on `docName` (`'*'` for admin routes). */
  http(request: IncomingMessage, docName: string): Promise<Grant | { error: { code: ErrorCode; message: string } }>
  /** A fresh per-connection admission check (rate limits); returns a close reason or null. */
  admitter(): ((bytes: number) => string | null) | undefined
}

/** Decodes the document name from a request path: percent-decoded, without the leading slash. */
export function docNameFromPath (pathname: string): string {
  return decodeURIComponent(pathname.startsWith('/') ? pathname.slice(1) : pathname)
}

export function createAuthorizer (config: Config): Authorizer {
  const decide = async (request: IncomingMessage, docName: string): Promise<Grant | { error: { code: ErrorCode; message: string } }> => {
    if (config.hooks.authenticate !== undefined) {
      const result: AuthResult = await config.hooks.authenticate(request, docName)
      if ('reject' in result) {
        return { error: { code: result.reject === 401 ? 'TOKEN_INVALID' : 'FORBIDDEN', message: result.message ?? 'rejected by the authenticate hook' } }
      }
      if (result.access === 'none') return { error: { code: 'FORBIDDEN', message: `no access to ${docName}` } }
      return { userId: result.userId, access: result.access, expiresAtMs: result.expiresAtMs }
    }
    return { access: 'write' }
  }

  return {
    async upgrade (request) {
      let docName: string
      try {
        docName = docNameFromPath(new URL(request.url ?? '/', 'http://localhost').pathname)
      } catch {
        return { error: { code: 'DOC_NAME_INVALID', message: 'malformed percent-encoding in the document name' } }
      }
      const ip = request.socket.remoteAddress ?? 'unknown'
      const grant = await decide(request, docName)
      if ('error' in grant) return grant
      return { docName, ip, auth: grant }
    },
    http: decide,
    admitter: () => undefined
  }
}
