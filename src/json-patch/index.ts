import * as Y from 'yjs'
import { TandemError } from '../errors.js'
import { JsonPatchError, OperationFault, invalid } from './error.js'
import { parseOperations, type ParsedOperation } from './parse.js'
import { isProperPrefix, samePointer } from './pointer.js'
import { DraftDoc, applyEdits } from './draft.js'
import { DOC_NODE, readJson, readTarget, resolve, type Node, type Target } from './target.js'
import { addValue, removeValue, replaceValue, setDocument, type EditContext } from './write.js'
import { deepEqual, type Json } from './values.js'

export { JsonPatchError, JsonPatchErrorCodes, type JsonPatchErrorCode } from './error.js'
export type { JsonPatchOperation } from './parse.js'

/**
 * RFC 6902 JSON Patch applied to a Y.Doc, through the JSON view that
 * `GET /docs/:name?format=json` shows (`doc-json.ts`).
 *
 * All or nothing: a Yjs transaction cannot be rolled back, so the operations
 * are worked out on a draft of the document (`json-patch-draft.ts`) that reads
 * `doc` and records the Yjs edits each operation makes. Only when every
 * operation succeeded are the edits made on `doc`, in one transaction with
 * the caller's origin; a failure leaves `doc` untouched and emits nothing.
 * The cost is that of the parts the patch touches, not of the whole document.
 */

export interface JsonPatchOptions {
  /**
   * Transaction origin of the change on `doc`, so the room can decide to store and relay it.
   * @default null
   */
  origin?: unknown
  /**
   * Most operations in one patch. Bounds the work one request can ask for.
   * @default 1000
   */
  maxOperations?: number
  /**
   * Deepest nesting of a plain value a patch stores (a scalar is 0, `[]` is 1),
   * counted from the Y.Map entry or Y.Array element that holds it. Yjs encodes
   * and decodes plain values recursively: a deeper one could make the stored
   * document fail to load.
   * @default 64
   */
  maxValueDepth?: number
  /**
   * Most JSON values one patch may read or copy out of the document (`test`,
   * `copy`, `move`, comparisons while replacing, copies of plain values being
   * edited). Bounds the CPU and memory of one patch, e.g. a chain of `copy`
   * operations that doubles a value each time.
   * @default 1000000
   */
  maxReadValues?: number
}

export interface JsonPatchResult {
  /** Whether `doc` changed (its `update` event fired once, with `origin`). */
  changed: boolean
}

interface Limits {
  maxOperations: number
  maxValueDepth: number
  maxReadValues: number
}

export const JSON_PATCH_DEFAULTS: Readonly<Limits> = Object.freeze({
  maxOperations: 1000,
  maxValueDepth: 64,
  maxReadValues: 1_000_000
})

/**
 * Applies `operations` (an RFC 6902 patch, already parsed from JSON) to `doc`.
 * Throws JsonPatchError (`PATCH_TEST_FAILED`, `PATCH_INVALID`) without
 * changing `doc`, and TandemError `CONFIG_INVALID` for bad options.
 */
export function applyJsonPatch (doc: Y.Doc, operations: unknown, options: JsonPatchOptions = {}): JsonPatchResult {
  const limits = resolveLimits(options)
  const parsed = parseOperations(operations, limits)
  let used = 0
  const spend = (units: number): void => {
    used += units
    if (used > limits.maxReadValues) throw invalid(`the patch reads or copies more than ${limits.maxReadValues} values (maxReadValues)`)
  }
  const ctx: EditContext = { draft: new DraftDoc(doc, spend), maxValueDepth: limits.maxValueDepth, spend }
  for (const operation of parsed) run(ctx, operation)
  const edits = ctx.draft.edits
  if (edits.length === 0) return { changed: false }
  // Everything was checked on the draft: these edits cannot fail halfway.
  doc.transact(() => applyEdits(doc, edits), options.origin ?? null)
  return { changed: true }
}

function resolveLimits (options: JsonPatchOptions): Limits {
  const limits: Limits = { ...JSON_PATCH_DEFAULTS }
  for (const name of ['maxOperations', 'maxValueDepth', 'maxReadValues'] as const) {
    const value = options[name]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 1) throw new TandemError('CONFIG_INVALID', `${name} must be a positive integer, not ${String(value)}`)
    limits[name] = value
  }
  return limits
}

function run (ctx: EditContext, operation: ParsedOperation): void {
  try {
    apply(ctx, operation)
  } catch (err) {
    if (err instanceof OperationFault) throw new JsonPatchError(err.code, operation.index, `operation ${operation.index}: ${err.message}`)
    throw err
  }
}

function apply (ctx: EditContext, operation: ParsedOperation): void {
  switch (operation.op) {
    case 'test': {
      const node = lookup(ctx, operation.path, operation.pathText, 'path')
      if (node === undefined) throw new OperationFault('PATCH_TEST_FAILED', `test failed: path ${operation.pathText} does not exist`)
      const json = readJson(ctx.draft, node, { maxDepth: Number.MAX_SAFE_INTEGER, spend: ctx.spend })
      if (!json.ok || !deepEqual(json.value, operation.value, ctx.spend)) {
        throw new OperationFault('PATCH_TEST_FAILED', `test failed: path ${operation.pathText} does not hold the given value`)
      }
      return
    }
    case 'add':
      return add(ctx, operation.path, operation.pathText, operation.value, operation.depth)
    case 'replace':
      if (operation.path.length === 0) return setDocument(ctx, wholeDocument(operation.pathText, 'path'), operation.value)
      return replaceValue(ctx, resolve(ctx.draft, operation.path, operation.pathText, 'path'), operation.value, operation.depth)
    case 'remove':
      return remove(ctx, operation.path, operation.pathText)
    case 'copy':
    case 'move': {
      const source = lookup(ctx, operation.from, operation.fromText, 'from')
      if (source === undefined) throw invalid(`from ${operation.fromText} does not exist`)
      // RFC 6902 §4.4: moving a value onto itself changes nothing.
      if (operation.op === 'move' && samePointer(operation.from, operation.path)) return
      if (operation.op === 'move' && isProperPrefix(operation.from, operation.path)) {
        throw invalid(`from ${operation.fromText} contains path ${operation.pathText}: a value cannot be moved into itself`)
      }
      const json = readJson(ctx.draft, source, { maxDepth: ctx.maxValueDepth, spend: ctx.spend })
      if (!json.ok) throw invalid(`from ${operation.fromText}${json.at === '' ? '' : ` at ${json.at}`} ${json.reason}`)
      if (operation.op === 'move') remove(ctx, operation.from, operation.fromText, 'from')
      return add(ctx, operation.path, operation.pathText, json.value, json.depth)
    }
  }
}

function lookup (ctx: EditContext, tokens: string[], text: string, field: 'path' | 'from'): Node | undefined {
  if (tokens.length === 0) return DOC_NODE
  return readTarget(ctx.draft, resolve(ctx.draft, tokens, text, field))
}

function add (ctx: EditContext, tokens: string[], text: string, value: Json, depth: number): void {
  if (tokens.length === 0) return setDocument(ctx, wholeDocument(text, 'path'), value)
  addValue(ctx, resolve(ctx.draft, tokens, text, 'path'), value, depth)
}

function remove (ctx: EditContext, tokens: string[], text: string, field: 'path' | 'from' = 'path'): void {
  if (tokens.length === 0) throw invalid(`${field} "" is the whole document, which cannot be removed`)
  removeValue(ctx, resolve(ctx.draft, tokens, text, field))
}

function wholeDocument (text: string, field: 'path' | 'from'): Target {
  return { parent: DOC_NODE, token: '', tokens: [], text, field }
}
