import { JsonPatchError, OperationFault, invalid } from './error.js'
import { hasLoneSurrogate, hasOwn, isPlainObject, copyJson, type Json } from './values.js'
import { parsePointer } from './pointer.js'

/** One RFC 6902 operation as a client sends it. */
export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string }

/** An operation whose shape, pointers and value have been checked; pointers are split into tokens. */
export type ParsedOperation =
  | { index: number; op: 'add' | 'replace' | 'test'; path: string[]; pathText: string; value: Json; depth: number }
  | { index: number; op: 'remove'; path: string[]; pathText: string }
  | { index: number; op: 'move' | 'copy'; path: string[]; pathText: string; from: string[]; fromText: string }

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test'])

/**
 * Checks the whole list before anything is applied, so a malformed operation
 * is reported even when an earlier `test` would fail. Members an operation
 * does not use are ignored (RFC 6902 §4).
 */
export function parseOperations (input: unknown, limits: { maxOperations: number; maxValueDepth: number }): ParsedOperation[] {
  if (!Array.isArray(input)) throw new JsonPatchError('PATCH_INVALID', null, 'a JSON Patch is an array of operations')
  if (input.length > limits.maxOperations) {
    throw new JsonPatchError('PATCH_INVALID', null, `the patch has ${input.length} operations; at most ${limits.maxOperations} are allowed (maxOperations)`)
  }
  const out: ParsedOperation[] = []
  for (let index = 0; index < input.length; index++) {
    try {
      out.push(parseOperation(input[index], index, limits.maxValueDepth))
    } catch (err) {
      if (err instanceof OperationFault) throw new JsonPatchError(err.code, index, `operation ${index}: ${err.message}`)
      throw err
    }
  }
  return out
}

function parseOperation (raw: unknown, index: number, maxValueDepth: number): ParsedOperation {
  if (!isPlainObject(raw)) throw invalid('an operation is an object with "op" and "path"')
  const op = raw.op
  if (typeof op !== 'string' || !OPS.has(op)) throw invalid(`op ${JSON.stringify(op) ?? 'undefined'} is not one of add, remove, replace, move, copy, test`)
  const pathText = pointerText(raw, 'path')
  const path = tokens(pathText, 'path')
  if (op === 'remove') return { index, op, path, pathText }
  if (op === 'move' || op === 'copy') {
    const fromText = pointerText(raw, 'from')
    return { index, op, path, pathText, from: tokens(fromText, 'from'), fromText }
  }
  if (!hasOwn(raw, 'value') || raw.value === undefined) throw invalid(`${op} needs a "value"`)
  const copy = copyJson(raw.value, { maxDepth: maxValueDepth, strict: true })
  if (!copy.ok) throw invalid(`value${copy.at === '' ? '' : ` at ${copy.at}`} ${copy.reason}`)
  return { index, op: op as 'add' | 'replace' | 'test', path, pathText, value: copy.value, depth: copy.depth }
}

function pointerText (raw: Record<string, unknown>, field: 'path' | 'from'): string {
  const text = raw[field]
  if (typeof text !== 'string') throw invalid(`"${field}" must be a string`)
  return text
}

function tokens (text: string, field: string): string[] {
  const parsed = parsePointer(text, field)
  for (const token of parsed) {
    // The JSON view builds plain objects, where this key would set the prototype instead of a member.
    if (token === '__proto__') throw invalid(`${field} ${text}: the key __proto__ is not supported`)
    if (hasLoneSurrogate(token)) throw invalid(`${field} ${text} has an unpaired surrogate`)
  }
  return parsed
}
