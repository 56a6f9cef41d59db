import { CloseCode } from './close-codes.js'

/**
 * Stable error codes, each with the HTTP status it maps to and, for what a
 * WebSocket client can trip, the close code its connection gets. HTTP error
 * bodies are `{ "error": { "code", "message" } }`; the README lists the same
 * table.
 */
export const ErrorCodes = {
  CONFIG_INVALID: { status: 500, meaning: 'an option is missing, malformed or contradicts another' },
  DOC_NAME_INVALID: { status: 400, meaning: 'the document name is empty, too long, malformed or has control characters' },
  UPDATE_INVALID: { status: 400, close: CloseCode.INVALID_DATA, meaning: 'the body is not a Yjs update (V1 encoding), or it does not apply' },
  UPDATE_EMPTY: { status: 400, meaning: 'the update changes nothing (no structs, no deletions)' },
  UPDATE_TOO_DEEP: { status: 400, close: CloseCode.INVALID_DATA, meaning: 'the update nests shared types deeper than maxNestingDepth' },
  UPDATE_INCOMPLETE: { status: 400, close: CloseCode.INVALID_DATA, meaning: 'the update depends on changes the server does not have' },
  DOC_TOO_DEEP: { status: 422, meaning: 'the document nests too deep for its JSON view or a restore (it was stored before nesting was limited); read it as a Yjs update' },
  DOC_TOO_LARGE: { status: 413, close: CloseCode.MESSAGE_TOO_BIG, meaning: 'the update would grow the document past maxDocumentBytes' },
  AWARENESS_INVALID: { status: 400, close: CloseCode.INVALID_DATA, meaning: 'an awareness update does not decode or a state is not JSON' },
  AWARENESS_TOO_LARGE: { status: 413, close: CloseCode.POLICY_VIOLATION, meaning: 'an awareness state, the client ids of one connection or the presence of a document is over its limit' },
  RATE_LIMITED: { status: 429, close: CloseCode.POLICY_VIOLATION, meaning: 'this connection or identity sends (or asks for) more than its rate limit' },
  PATCH_INVALID: { status: 422, meaning: 'a JSON Patch operation, path or value is invalid for this document (the error names the operation\'s index); nothing was changed' },
  PATCH_TEST_FAILED: { status: 409, meaning: 'a JSON Patch test operation did not match the document; nothing was changed' },
  BODY_TOO_LARGE: { status: 413, meaning: 'the body is larger than maxMessageBytes' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'the body has a content type this route does not accept' },
  TOKEN_MISSING: { status: 401, meaning: 'no token in ?token= or Authorization: Bearer' },
  TOKEN_INVALID: { status: 401, meaning: 'the token does not verify' },
  TOKEN_EXPIRED: { status: 401, meaning: 'the token has expired' },
  CLAIMS_INVALID: { status: 401, meaning: 'the token lacks a valid sub or docs claim' },
  FORBIDDEN: { status: 403, meaning: 'the token grants no (or not enough) access to this document' },
  ORIGIN_FORBIDDEN: { status: 403, meaning: 'the Origin header is not in the allow-list' },
  TOO_MANY_CONNECTIONS: { status: 429, meaning: 'this client address has too many connections' },
  BAD_REQUEST: { status: 400, meaning: 'a query parameter is malformed' },
  BODY_INVALID: { status: 400, meaning: 'the body is not the JSON the route expects' },
  LABEL_TOO_LONG: { status: 400, meaning: 'a version label is longer than historyMaxLabelChars characters' },
  VERSION_LIMIT: { status: 409, meaning: 'the document has historyMaxNamedVersions named and backup versions; delete some before making more (or restoring, which makes a backup)' },
  HISTORY_UNAVAILABLE: { status: 501, meaning: 'the storage adapter (a custom one) does not keep versions' },
  NOT_FOUND: { status: 404, meaning: 'no such route, document or version' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'the route does not accept this method' },
  STORAGE_FAILED: { status: 503, close: CloseCode.INTERNAL_ERROR, meaning: 'the storage failed or is unreachable; nothing was acknowledged' },
  SHUTTING_DOWN: { status: 503, meaning: 'the server is shutting down' },
  INTERNAL: { status: 500, meaning: 'an unexpected error' }
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class TandemError extends Error {
  readonly status: number
  /** Fields an HTTP error body carries beside `code` and `message` (e.g. the failing operation's `index`). */
  readonly details: Record<string, unknown> | undefined
  constructor (readonly code: ErrorCode, message: string, options?: { cause?: unknown; index?: number | null }) {
    super(message, options)
    this.name = 'TandemError'
    this.status = ErrorCodes[code].status
    this.details = options?.index !== undefined ? { index: options.index } : undefined
  }

  /** The WebSocket close code for this error (1008 when the table names none). */
  get closeCode (): number {
    const entry = ErrorCodes[this.code]
    return 'close' in entry ? entry.close : CloseCode.POLICY_VIOLATION
  }
}
