/**
 * Stable error codes, each with the HTTP status it maps to. HTTP error bodies
 * are `{ "error": { "code", "message" } }`; the README lists the same table.
 */
export const ErrorCodes = {
  CONFIG_INVALID: { status: 500, meaning: 'an option is missing, malformed or contradicts another' },
  DOC_NAME_INVALID: { status: 400, meaning: 'the document name is empty, too long, malformed or has control characters' },
  UPDATE_INVALID: { status: 400, meaning: 'the body is not a Yjs update' },
  BODY_TOO_LARGE: { status: 413, meaning: 'the body is larger than maxMessageBytes' },
  TOKEN_MISSING: { status: 401, meaning: 'no token in ?token= or Authorization: Bearer' },
  TOKEN_INVALID: { status: 401, meaning: 'the token does not verify' },
  TOKEN_EXPIRED: { status: 401, meaning: 'the token has expired' },
  CLAIMS_INVALID: { status: 401, meaning: 'the token lacks a valid sub or docs claim' },
  FORBIDDEN: { status: 403, meaning: 'the token grants no (or not enough) access to this document' },
  ORIGIN_FORBIDDEN: { status: 403, meaning: 'the Origin header is not in the allow-list' },
  TOO_MANY_CONNECTIONS: { status: 429, meaning: 'this client address has too many connections' },
  BAD_REQUEST: { status: 400, meaning: 'a query parameter is malformed' },
  NOT_FOUND: { status: 404, meaning: 'no such route or document' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'the route does not accept this method' },
  STORAGE_FAILED: { status: 503, meaning: 'the storage failed or is unreachable; nothing was acknowledged' },
  SHUTTING_DOWN: { status: 503, meaning: 'the server is shutting down' },
  INTERNAL: { status: 500, meaning: 'an unexpected error' }
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class TandemError extends Error {
  readonly status: number
  constructor (readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TandemError'
    this.status = ErrorCodes[code].status
  }
}
