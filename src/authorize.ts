import type { IncomingMessage } from 'node:http'
import { AuthError, accessFor, adminAccess, createVerifier, type Access, type AuthErrorCode, type Verifier } from './auth.js'
import type { AuthResult, Config } from './config.js'
import type { ErrorCode } from './errors.js'
import { DocNameError, RESERVED_NAME, clientIp, docNameFromPath, isOriginAllowed, tokenFromRequest, validateDocName } from './request.js'

/** Who a request is and what it may do with the document it asked for. */
export interface Permit {
  userId?: string
  access: Exclude<Access, 'none'>
  expiresAtMs?: number
}

/** A refused request: the code and message it is answered with, and for the log only, why. */
export type Denial = { error: { code: ErrorCode; message: string }; detail?: string }

const PUBLIC_AUTH_MESSAGES: Record<AuthErrorCode, string> = {
  TOKEN_MISSING: 'a token is required',
  TOKEN_INVALID: 'the token is not valid',
  TOKEN_EXPIRED: 'the token has expired',
  CLAIMS_INVALID: 'the token is not valid'
}

export type UpgradeDecision = { docName: string; ip: string; permit: Permit } | Denial

/**
 * The name admin routes pass to an authenticate hook; a JWT must hold a
 * `"*"` grant itself (a pattern such as `"**"` does not cover it). No
 * document can have this name.
 */
export const ADMIN_SCOPE = RESERVED_NAME

export interface Authorizer {
  /**
   * Everything decided before a WebSocket exists: name, origin, identity,
   * grant. Decided at once (no promise) when nothing needs to be awaited:
   * a refusal by name or origin, or no authentication configured.
   */
  upgrade(request: IncomingMessage): UpgradeDecision | Promise<UpgradeDecision>
  /** Identity and grant for an HTTP request on `docName`. */
  http(request: IncomingMessage, docName: string): Promise<Permit | Denial>
  /** Identity and admin grant for an HTTP request on an admin route (listing, deleting documents). */
  admin(request: IncomingMessage): Promise<Permit | Denial>
}

const deny = (code: ErrorCode, message: string): Denial => ({ error: { code, message } })

/**
 * Authentication and authorization, decided at the HTTP upgrade (and for
 * each HTTP request) so a refused client never gets a WebSocket.
 * Order: document name (400) → origin (403) → identity (401) → grant (403).
 */
export function createAuthorizer (config: Config): Authorizer {
  const verifier: Verifier | undefined = config.authSecret !== undefined || config.authPublicKey !== undefined
    ? createVerifier({ secret: config.authSecret, publicKeyPem: config.authPublicKey })
    : undefined

  /** Who the request is and what it may do with `docName` (`ADMIN_SCOPE`: the admin routes). */
  const identify = async (request: IncomingMessage, docName: string): Promise<Permit | Denial> => {
    if (config.hooks.authenticate !== undefined) {
      let result: AuthResult
      try {
        result = await config.hooks.authenticate(request, docName)
      } catch (err) {
        return deny('TOKEN_INVALID', `authentication failed: ${(err as Error).message}`)
      }
      if ('reject' in result) {
        return deny(result.reject === 401 ? 'TOKEN_INVALID' : 'FORBIDDEN', result.message ?? 'rejected by the authenticate hook')
      }
      if (result.access === 'none') return deny('FORBIDDEN', 'no grant for this document')
      return { userId: result.userId, access: result.access, expiresAtMs: result.expiresAtMs }
    }
    if (verifier === undefined) return { access: 'write' }
    try {
      const token = await verifier.verify(tokenFromRequest(request))
      const access = docName === ADMIN_SCOPE ? adminAccess(token.docs) : accessFor(token.docs, docName)
      if (access === 'none') return deny('FORBIDDEN', docName === ADMIN_SCOPE ? 'the token grants no admin access' : 'the token grants no access to this document')
      return { userId: token.userId, access, expiresAtMs: token.expiresAtMs }
    } catch (err) {
      // The code says what kind of failure; why a token failed stays in the server's own log, never in the answer.
      if (err instanceof AuthError) return { ...deny(err.code, PUBLIC_AUTH_MESSAGES[err.code]), detail: err.message }
      throw err
    }
  }

  /** The permit when nothing authenticates: everyone may write. */
  const OPEN: Permit = Object.freeze({ access: 'write' })

  return {
    upgrade (request) {
      let docName: string
      try {
        docName = docNameFromPath(request.url ?? '/')
      } catch (err) {
        if (err instanceof DocNameError) return deny('DOC_NAME_INVALID', err.message)
        throw err
      }
      const valid = validateDocName(docName, config.maxDocNameBytes)
      if (!valid.ok) return deny('DOC_NAME_INVALID', valid.reason)
      if (!isOriginAllowed(request.headers.origin, config.allowedOrigins)) {
        return deny('ORIGIN_FORBIDDEN', 'this Origin may not open connections')
      }
      if (config.hooks.authenticate === undefined && verifier === undefined) {
        return { docName, ip: clientIp(request, config.trustProxy), permit: OPEN }
      }
      return identify(request, docName).then((permit) => {
        if ('error' in permit) return permit
        return { docName, ip: clientIp(request, config.trustProxy), permit }
      })
    },

    async http (request, docName) {
      const valid = validateDocName(docName, config.maxDocNameBytes)
      if (!valid.ok) return deny('DOC_NAME_INVALID', valid.reason)
      return identify(request, docName)
    },

    async admin (request) {
      return identify(request, ADMIN_SCOPE)
    }
  }
}
