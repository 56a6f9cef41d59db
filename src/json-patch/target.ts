import { invalid } from './error.js'
import { DraftArray, DraftMap, DraftText, type DraftDoc } from './draft.js'
import { END, arrayIndex, formatPointer } from './pointer.js'
import { copyJson, hasOwn, isPlainObject, setMember, type CopyResult, type Spend } from './values.js'

/**
 * Finding what a JSON Pointer names in a draft of the document, and reading it
 * as JSON. The document is walked the way the JSON view (`doc-json.ts`) shows
 * it: roots, then Y.Map keys and Y.Array indexes, then members of the plain
 * JSON values stored in them.
 */

/** A plain JSON value stored whole: a Y.Map entry or a Y.Array element. */
export type Slot = { map: DraftMap; key: string } | { array: DraftArray; index: number }

/** What a pointer reached. */
export type Node =
  | { kind: 'doc' }
  | { kind: 'map'; type: DraftMap }
  | { kind: 'array'; type: DraftArray }
  | { kind: 'text'; type: DraftText }
  /** A whole value JSON Patch reads but never enters: XML, an emptied root (null). */
  | { kind: 'leaf'; value: unknown }
  /** Inside a plain value: `root` is the slot's whole value, `inner` the tokens from it to `value`. */
  | { kind: 'plain'; slot: Slot; root: unknown; inner: string[]; value: unknown }

/** The parent of a pointer's last token, with what is needed to name it in errors. */
export interface Target {
  parent: Node
  token: string
  tokens: string[]
  /** The pointer as the client wrote it. */
  text: string
  field: 'path' | 'from'
}

export const DOC_NODE: Node = { kind: 'doc' }

function rootNode (draft: DraftDoc, name: string): Node | undefined {
  const root = draft.root(name)
  if (root === undefined) return undefined
  if (root.kind === 'shared') return nodeOf(draft, root.draft, null)
  return { kind: 'leaf', value: root.kind === 'xml' ? root.value : null }
}

function nodeOf (draft: DraftDoc, value: unknown, slot: Slot | null): Node {
  const shared = draft.shared(value)
  if (shared instanceof DraftMap) return { kind: 'map', type: shared }
  if (shared instanceof DraftArray) return { kind: 'array', type: shared }
  if (shared instanceof DraftText) return { kind: 'text', type: shared }
  if (slot === null || (value !== null && typeof value === 'object' && !Array.isArray(value) && !isPlainObject(value))) {
    // XML types, binary, subdocuments: whole values only.
    return { kind: 'leaf', value }
  }
  return { kind: 'plain', slot, root: value, inner: [], value }
}

type Step = Node | 'missing' | 'not-container' | 'not-index'

/** One token down from `node`. */
function step (draft: DraftDoc, node: Node, token: string): Step {
  switch (node.kind) {
    case 'doc':
      return rootNode(draft, token) ?? 'missing'
    case 'map': {
      // An entry holding undefined is absent from the JSON view, so it is absent here.
      const value = node.type.get(token)
      return value === undefined ? 'missing' : nodeOf(draft, value, { map: node.type, key: token })
    }
    case 'array': {
      const index = arrayIndex(token)
      if (index === undefined) return 'not-index'
      if (index === END || index >= node.type.length) return 'missing'
      return nodeOf(draft, node.type.get(index), { array: node.type, index })
    }
    case 'plain': {
      const value = node.value
      let next: unknown
      if (Array.isArray(value)) {
        const index = arrayIndex(token)
        if (index === undefined) return 'not-index'
        if (index === END || index >= value.length) return 'missing'
        next = value[index]
      } else if (isPlainObject(value)) {
        if (!hasOwn(value, token)) return 'missing'
        next = value[token]
      } else {
        return 'not-container'
      }
      return { kind: 'plain', slot: node.slot, root: node.root, inner: [...node.inner, token], value: next }
    }
    default:
      return 'not-container'
  }
}

/** Walks to the parent of the last token; every step before it must exist. */
export function resolve (draft: DraftDoc, tokens: string[], text: string, field: 'path' | 'from'): Target {
  let node: Node = DOC_NODE
  for (let i = 0; i < tokens.length - 1; i++) {
    const next = step(draft, node, tokens[i])
    if (typeof next === 'string') throw stepFault(next, tokens, i, text, field)
    node = next
  }
  return { parent: node, token: tokens[tokens.length - 1], tokens, text, field }
}

/** What the target names, or undefined when its parent has no such member. */
export function readTarget (draft: DraftDoc, target: Target): Node | undefined {
  const next = step(draft, target.parent, target.token)
  if (next === 'missing') return undefined
  if (typeof next === 'string') throw stepFault(next, target.tokens, target.tokens.length - 1, target.text, target.field)
  return next
}

function stepFault (kind: 'missing' | 'not-container' | 'not-index', tokens: string[], i: number, text: string, field: string): Error {
  if (kind === 'missing') return invalid(`${field} ${text} does not exist`)
  if (kind === 'not-index') return invalid(`${field} ${text}: ${JSON.stringify(tokens[i])} is not an array index`)
  return invalid(`${field} ${text}: ${formatPointer(tokens.slice(0, i)) || 'the document'} is not an object or an array`)
}

/** The node's value as fresh JSON, with its depth. */
export function readJson (draft: DraftDoc, node: Node, options: { maxDepth: number; spend: Spend }): CopyResult {
  return copyJson(rawValue(draft, node), { ...options, expand: draft.expand })
}

/** A value (draft, shared type or plain) as fresh JSON. */
export function valueJson (draft: DraftDoc, value: unknown, options: { maxDepth: number; spend: Spend }): CopyResult {
  return copyJson(value, { ...options, expand: draft.expand })
}

function rawValue (draft: DraftDoc, node: Node): unknown {
  switch (node.kind) {
    case 'doc': {
      const roots: Record<string, unknown> = {}
      for (const name of draft.rootNames()) {
        const root = rootNode(draft, name)
        if (root !== undefined) setMember(roots, name, rawValue(draft, root))
      }
      return roots
    }
    case 'map':
    case 'array':
    case 'text':
      return node.type
    default:
      return node.value
  }
}
