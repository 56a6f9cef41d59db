/**
 * The errors JSON Patch answers with. Each code has the HTTP status a route
 * should map it to (RFC 5789 §2.2: a patch that cannot be applied to this
 * document is 422; a failed `test` means the document is not in the state the
 * client expected, 409).
 */
export const JsonPatchErrorCodes = {
  PATCH_INVALID: { status: 422, meaning: 'an operation, path or value is invalid for this document, or the patch exceeds a limit; nothing was changed' },
  PATCH_TEST_FAILED: { status: 409, meaning: 'a test operation did not match the document; nothing was changed' }
} as const

export type JsonPatchErrorCode = keyof typeof JsonPatchErrorCodes

/**
 * A patch that was not applied. `index` is the position of the failing
 * operation in the list, or null when the list as a whole is at fault (not an
 * array, too many operations). The message starts with `operation N:` when
 * there is an index.
 */
export class JsonPatchError extends Error {
  readonly status: number
  constructor (readonly code: JsonPatchErrorCode, readonly index: number | null, message: string) {
    super(message)
    this.name = 'JsonPatchError'
    this.status = JsonPatchErrorCodes[code].status
  }
}

/**
 * Thrown by the steps of one operation, which do not know its index; the loop
 * over the operations turns it into a JsonPatchError naming the operation.
 */
export class OperationFault extends Error {
  constructor (readonly code: JsonPatchErrorCode, message: string) {
    super(message)
    this.name = 'OperationFault'
  }
}

export function invalid (message: string): OperationFault {
  return new OperationFault('PATCH_INVALID', message)
}
