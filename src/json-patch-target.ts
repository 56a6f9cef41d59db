import * as Y from 'yjs'
import { rootKind, type RootKind } from './doc-json.js'
import { invalid } from './json-patch-error.js'
import { END, arrayIndex, formatPointer } from './json-pointer.js'
import { copyJson, hasOwn, isPlainObject, setMember, type CopyResult, type Spend } from './json-values.js'

/**
 * Finding what a JSON Pointer names in a Y.Doc, and reading it as JSON. The
 * document is walked the way the JSON view (`doc-json.ts`) shows it: roots,
 * then Y.Map keys and Y.Array indexes, then members of the plain JSON values
 * stored in them.
 */

/** A plain JSON value stored whole: a Y.Map entry or a Y.Array element. */
export type Slot = { map: Y.Map<unknown>; key: string } | { array: Y.Array<unknown>; index: number }

/** What a pointer reached. */
export type Node =
  | { kind: 'doc' }
  | { kind: 'map'; type: Y.Map<unknown> }
  | { kind: 'array'; type: Y.Array<unknown> }
  | { kind: 'text'; type: Y.Text }
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

export function isMapType (value: unknown): value is Y.Map<unknown> {
  return value instanceof Y.Map && !(value instanceof Y.XmlHook)
}

export function isTextType (value: unknown): value is Y.Text {
  return value instanceof Y.Text && !(value instanceof Y.XmlText)
}

/**
 * The kind of an existing root. A root typed in this document keeps its type;
 * one only decoded from updates is judged by its content, as the JSON view does.
 */
export function rootState (type: Y.AbstractType<any>): RootKind {
  if (type instanceof Y.XmlFragment || type instanceof Y.XmlText || type instanceof Y.XmlHook) return 'xml'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.Text) return 'text'
  return rootKind(type)
}

/** The root `name` as the shared type `kind` says, defining its type if it is not defined yet. */
export function typedRoot (doc: Y.Doc, name: string, kind: 'map' | 'array' | 'text'): Y.Map<unknown> | Y.Array<unknown> | Y.Text {
  if (kind === 'map') return doc.getMap(name)
  if (kind === 'array') return doc.getArray(name)
  return doc.getText(name)
}

function rootNode (doc: Y.Doc, name: string, type: Y.AbstractType<any>): Node {
  const kind = rootState(type)
  if (kind === 'empty') return { kind: 'leaf', value: null }
  if (kind === 'xml') return { kind: 'leaf', value: type.constructor === Y.AbstractType ? doc.getXmlFragment(name) : type }
  return nodeOf(typedRoot(doc, name, kind), null)
}

function nodeOf (value: unknown, slot: Slot | null): Node {
  if (isMapType(value)) return { kind: 'map', type: value }
  if (value instanceof Y.Array) return { kind: 'array', type: value }
  if (isTextType(value)) return { kind: 'text', type: value }
  if (value instanceof Y.AbstractType || slot === null) return { kind: 'leaf', value }
  return { kind: 'plain', slot, root: value, inner: [], value }
}

type Step = Node | 'missing' | 'not-container' | 'not-index'

/** One token down from `node`. */
function step (doc: Y.Doc, node: Node, token: string): Step {
  switch (node.kind) {
    case 'doc': {
      const type = doc.share.get(token)
      return type === undefined ? 'missing' : rootNode(doc, token, type)
    }
    case 'map': {
      // An entry holding undefined is absent from the JSON view, so it is absent here.
      const value = node.type.get(token)
      return value === undefined ? 'missing' : nodeOf(value, { map: node.type, key: token })
    }
    case 'array': {
      const index = arrayIndex(token)
      if (index === undefined) return 'not-index'
      if (index === END || index >= node.type.length) return 'missing'
      return nodeOf(node.type.get(index), { array: node.type, index })
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
export function resolve (doc: Y.Doc, tokens: string[], text: string, field: 'path' | 'from'): Target {
  let node: Node = DOC_NODE
  for (let i = 0; i < tokens.length - 1; i++) {
    const next = step(doc, node, tokens[i])
    if (typeof next === 'string') throw stepFault(next, tokens, i, text, field)
    node = next
  }
  return { parent: node, token: tokens[tokens.length - 1], tokens, text, field }
}

/** What the target names, or undefined when its parent has no such member. */
export function readTarget (doc: Y.Doc, target: Target): Node | undefined {
  const next = step(doc, target.parent, target.token)
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
export function readJson (doc: Y.Doc, node: Node, options: { maxDepth: number; spend: Spend }): CopyResult {
  return copyJson(rawValue(doc, node), { ...options, expand: expandShared })
}

function rawValue (doc: Y.Doc, node: Node): unknown {
  switch (node.kind) {
    case 'doc': {
      const roots: Record<string, unknown> = {}
      for (const [name, type] of doc.share) setMember(roots, name, rawValue(doc, rootNode(doc, name, type)))
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

/** Shared types one level at a time, as their toJSON() shows them, so copyJson can walk them without recursion. */
function expandShared (value: object): unknown {
  if (value instanceof Y.XmlFragment || value instanceof Y.XmlText || value instanceof Y.XmlHook) return value.toJSON()
  if (value instanceof Y.Map) {
    const out: Record<string, unknown> = {}
    for (const [key, entry] of value.entries()) if (entry !== undefined) setMember(out, key, entry)
    return out
  }
  if (value instanceof Y.Array) return value.toArray()
  if (value instanceof Y.Text) return value.toString()
  return undefined
}
