/**
 * Random patches on random documents must do what a plain RFC 6902
 * implementation does to the JSON view: same result when it succeeds, same
 * error code and operation index when it fails (and then no change at all).
 * The one allowed difference is documented: roots are Yjs shared types, so a
 * root cannot be removed, cannot change kind, and holds only an object, an
 * array or a string; a patch that would need that fails at that operation.
 */
import fc from 'fast-check'
import jsonpatch from 'fast-json-patch'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { updateToJson } from '../src/doc-json.js'
import { applyJsonPatch, JsonPatchError } from '../src/json-patch/index.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** How a document is built: shared types down to plain values. */
type Spec =
  | { t: 'map'; entries: Array<[string, Spec]> }
  | { t: 'array'; items: Spec[] }
  | { t: 'text'; s: string }
  | { t: 'plain'; v: Json }

interface DocSpec {
  roots: Array<{ name: string; spec: Spec; clear: boolean }>
}

const KEYS = ['a', 'b', 'c', 'x~y', 'p/q', '-', '0', '1']
const ROOT_NAMES = ['r', 's', 'u']
const STRINGS = ['', 'hi', 'héllo', 'a😀b', '😃', 'The quick brown fox', 'fox']

const key = fc.constantFrom(...KEYS)
const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -5, max: 100 }),
  fc.constantFrom(1.5, -0.25),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...STRINGS)
)
const { json } = fc.letrec<{ json: Json }>(tie => ({
  json: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'json' },
    scalar,
    fc.array(tie('json'), { maxLength: 3 }),
    fc.dictionary(key, tie('json'), { maxKeys: 3, noNullPrototype: true })
  )
}))

function sharedSpec (depth: number): fc.Arbitrary<Spec> {
  const text = fc.constantFrom(...STRINGS).map(s => ({ t: 'text' as const, s }))
  const child: fc.Arbitrary<Spec> = depth <= 0
    ? fc.oneof(json.map(v => ({ t: 'plain' as const, v })), text)
    : fc.oneof({ weight: 3, arbitrary: json.map(v => ({ t: 'plain' as const, v })) }, { weight: 1, arbitrary: sharedSpec(depth - 1) })
  return fc.oneof(
    fc.uniqueArray(fc.tuple(key, child), { maxLength: 4, selector: ([k]) => k }).map(entries => ({ t: 'map' as const, entries })),
    fc.array(child, { maxLength: 4 }).map(items => ({ t: 'array' as const, items })),
    text
  )
}

const docSpec: fc.Arbitrary<DocSpec> = fc.uniqueArray(
  // A few roots are emptied after they were filled: the view shows them as null or {}.
  fc.record({ name: fc.constantFrom(...ROOT_NAMES), spec: sharedSpec(1), clear: fc.integer({ min: 0, max: 9 }).map(n => n < 2) }),
  { minLength: 1, maxLength: 3, selector: r => r.name }
).map(roots => ({ roots }))

function fill (target: Y.Map<unknown> | Y.Array<unknown> | Y.Text, spec: Spec): void {
  if (target instanceof Y.Text) {
    if (spec.t === 'text') target.insert(0, spec.s)
  } else if (target instanceof Y.Map && spec.t === 'map') {
    for (const [k, child] of spec.entries) {
      if (child.t === 'plain') target.set(k, child.v)
      else fill(target.set(k, fresh(child)), child)
    }
  } else if (target instanceof Y.Array && spec.t === 'array') {
    spec.items.forEach((child, i) => {
      if (child.t === 'plain') target.insert(i, [child.v])
      else {
        target.insert(i, [fresh(child)])
        fill(target.get(i) as Y.Map<unknown>, child)
      }
    })
  }
}

function fresh (spec: Spec): Y.Map<unknown> | Y.Array<unknown> | Y.Text {
  return spec.t === 'map' ? new Y.Map() : spec.t === 'array' ? new Y.Array() : new Y.Text()
}

/** Built by a client, loaded by the server from an update, as a room's doc is. */
function build (spec: DocSpec): Y.Doc {
  const client = new Y.Doc()
  for (const { name, spec: root, clear } of spec.roots) {
    const type = root.t === 'map' ? client.getMap(name) : root.t === 'array' ? client.getArray(name) : client.getText(name)
    fill(type, root)
    if (clear) {
      if (type instanceof Y.Map) for (const k of Array.from(type.keys())) type.delete(k)
      else type.delete(0, type.length)
    }
  }
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(client))
  client.destroy()
  return doc
}

function view (doc: Y.Doc): Record<string, unknown> {
  return updateToJson(Y.encodeStateAsUpdate(doc))
}

const escape = (t: string): string => t.replace(/~/g, '~0').replace(/\//g, '~1')
const pointer = (tokens: string[]): string => tokens.map(t => '/' + escape(t)).join('')

/** Every pointer in `value`, with what it points at. */
function pointers (value: unknown): Array<[string[], unknown]> {
  const out: Array<[string[], unknown]> = []
  const stack: Array<[string[], unknown]> = [[[], value]]
  while (stack.length > 0) {
    const [tokens, v] = stack.pop()!
    out.push([tokens, v])
    if (Array.isArray(v)) v.forEach((c, i) => stack.push([[...tokens, String(i)], c]))
    else if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) stack.push([[...tokens, k], c])
  }
  return out
}

function operations (before: Record<string, unknown>): fc.Arbitrary<unknown[]> {
  const existing = pointers(before)
  const members = existing.filter(([t]) => t.length > 0).map(([t]) => t)
  const containers = existing.filter(([, v]) => v !== null && typeof v === 'object').map(([t]) => t)
  const childToken = fc.oneof(key, fc.constantFrom(...ROOT_NAMES, 'n'), fc.integer({ min: 0, max: 5 }).map(String), fc.constant('-'))
  const path: fc.Arbitrary<string> = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(members.length > 0 ? members : [['r']])).map(pointer) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...containers), childToken).map(([t, c]) => pointer([...t, c])) },
    { weight: 1, arbitrary: fc.constantFrom('', '/zz/0', '/r/zz/a', '/n') }
  )
  const rootValue = fc.oneof(json, fc.dictionary(key, json, { maxKeys: 3, noNullPrototype: true }), fc.array(json, { maxLength: 3 }), fc.constantFrom(...STRINGS))
  const value = fc.oneof({ weight: 3, arbitrary: json }, { weight: 1, arbitrary: rootValue })
  const op = fc.oneof(
    fc.record({ op: fc.constant('add'), path, value }),
    fc.record({ op: fc.constant('remove'), path }),
    fc.record({ op: fc.constant('replace'), path, value }),
    fc.record({ op: fc.constant('move'), from: path, path }),
    fc.record({ op: fc.constant('copy'), from: path, path }),
    fc.record({ op: fc.constant('test'), path, value }),
    // A test that holds at the start, so later operations get their turn.
    fc.constantFrom(...existing).map(([t, v]) => ({ op: 'test', path: pointer(t), value: structuredClone(v) })),
    // A replace with a close variant of what is there, as a client sending back an edited value does.
    fc.constantFrom(...existing).chain(([t, v]) => variant(v, 2).map(value => ({ op: 'replace', path: pointer(t), value })))
  )
  return fc.array(op, { minLength: 1, maxLength: 4 })
}

/** `value` with some members or elements changed, arrays keeping their length. */
function variant (value: unknown, depth: number): fc.Arbitrary<Json> {
  const keep = (v: unknown): fc.Arbitrary<Json> => depth > 0 ? fc.oneof(fc.constant(structuredClone(v) as Json), variant(v, depth - 1)) : fc.constant(structuredClone(v) as Json)
  if (Array.isArray(value)) return fc.tuple(...value.map(e => fc.oneof({ weight: 2, arbitrary: keep(e) }, { weight: 1, arbitrary: json }))).map(a => a as Json[])
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => fc.tuple(fc.constant(k), fc.oneof({ weight: 2, arbitrary: keep(v) }, { weight: 1, arbitrary: json })))
    return fc.tuple(...entries).map(pairs => {
      const out: Record<string, Json> = {}
      for (const [k, v] of pairs) out[k] = v
      return out
    })
  }
  if (typeof value === 'string') return fc.constantFrom(value + '!', '!' + value, Array.from(value).slice(1).join(''), ...STRINGS)
  return json
}

type Outcome = { ok: true; doc: unknown } | { ok: false; code: string; index: number }

type Kind = 'map' | 'array' | 'text'
const kindOf = (v: unknown): Kind | undefined =>
  typeof v === 'string' ? 'text' : Array.isArray(v) ? 'array' : v !== null && typeof v === 'object' ? 'map' : undefined

/**
 * RFC 6902 by fast-json-patch, operation by operation. `move` and `copy` are
 * spelled out as the RFC defines them (remove, then add) so every step is
 * validated. Also returns the first operation that breaks the root rules.
 */
function oracle (before: Record<string, unknown>, ops: unknown[], defined: Map<string, Kind>): { outcome: Outcome; rootViolation?: number } {
  let doc: unknown = structuredClone(before)
  const kinds = new Map<string, Kind | undefined>(Object.entries(before).map(([k, v]) => [k, kindOf(v) ?? defined.get(k)]))
  const active = new Set(Object.keys(before).filter(k => before[k] !== null))
  for (let index = 0; index < ops.length; index++) {
    const op = structuredClone(ops[index]) as { op: string; path: string; from?: string; value?: unknown }
    const present = new Set(Object.keys(doc as object))
    try {
      if (op.op === 'move' || op.op === 'copy') {
        const from = op.from!
        const value = strictGet(doc, from)
        if (op.op === 'move' && from !== op.path) {
          if (op.path.startsWith(from + '/') || from === '') throw new Error('move into itself')
          doc = jsonpatch.applyOperation(doc, { op: 'remove', path: from }, true, true, true, index).newDocument
        }
        if (op.op === 'copy' || from !== op.path) {
          doc = jsonpatch.applyOperation(doc, { op: 'add', path: op.path, value: structuredClone(value) }, true, true, true, index).newDocument
        }
      } else {
        doc = jsonpatch.applyOperation(doc, op as never, true, true, true, index).newDocument
      }
    } catch (err) {
      const code = (err as { name?: string }).name === 'TEST_OPERATION_FAILED' ? 'PATCH_TEST_FAILED' : 'PATCH_INVALID'
      return { outcome: { ok: false, code, index } }
    }
    if (breaksRootRules(doc, present, kinds, active)) return { outcome: { ok: true, doc }, rootViolation: index }
  }
  return { outcome: { ok: true, doc } }
}

/** RFC 6901 evaluation for `from`: the parent must be a container that has the member. */
function strictGet (doc: unknown, from: string): unknown {
  if (from === '') return doc
  const slash = from.lastIndexOf('/')
  const parent = jsonpatch.getValueByPointer(doc, from.slice(0, slash))
  const token = from.slice(slash + 1).replace(/~1/g, '/').replace(/~0/g, '~')
  if (Array.isArray(parent)) {
    if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= parent.length) throw new Error('no such element')
    return parent[Number(token)]
  }
  if (parent === null || typeof parent !== 'object' || !Object.prototype.hasOwnProperty.call(parent, token)) throw new Error('no such member')
  return (parent as Record<string, unknown>)[token]
}

/**
 * The root rules: roots stay; a root holds an object, an array or a string and
 * keeps that kind once it has one (from its content, from the type the server
 * defined for it, or from a write in this patch). An emptied root (null) that
 * nobody wrote to may stay null.
 */
function breaksRootRules (doc: unknown, present: Set<string>, kinds: Map<string, Kind | undefined>, active: Set<string>): boolean {
  if (kindOf(doc) !== 'map') return true
  const roots = doc as Record<string, unknown>
  for (const name of present) if (!Object.prototype.hasOwnProperty.call(roots, name)) return true
  for (const [name, value] of Object.entries(roots)) {
    if (value === null && kinds.has(name) && !active.has(name)) continue
    const kind = kindOf(value)
    if (kind === undefined) return true
    const fixed = kinds.get(name)
    if (fixed !== undefined && fixed !== kind) return true
    kinds.set(name, kind)
    active.add(name)
  }
  return false
}

/** Roots without content: the view cannot tell an empty root from a missing one. */
function withoutEmptyRoots (doc: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    const empty = value === null || value === '' || (Array.isArray(value) && value.length === 0) ||
      (typeof value === 'object' && value !== null && Object.keys(value).length === 0)
    if (!empty) out[name] = value
  }
  return out
}

/**
 * The types the server's doc has defined for its roots. A patch defines a
 * root's type when it writes to it; an emptied root keeps that type.
 */
function definedKinds (doc: Y.Doc): Map<string, Kind> {
  const out = new Map<string, Kind>()
  for (const [name, type] of doc.share) {
    if (type instanceof Y.Map) out.set(name, 'map')
    else if (type instanceof Y.Array) out.set(name, 'array')
    else if (type instanceof Y.Text) out.set(name, 'text')
  }
  return out
}

type Seen = Record<'applied' | 'testFailed' | 'invalid' | 'rootRule', number>

/** Applies `ops` to `doc` and to its JSON view by the oracle, and checks they agree. */
function checkPatch (doc: Y.Doc, ops: unknown[], seen: Seen): void {
  const before = view(doc)
  const context = `${JSON.stringify(before)} ${JSON.stringify(ops)}`
  const replicaDoc = new Y.Doc()
  Y.applyUpdate(replicaDoc, Y.encodeStateAsUpdate(doc))
  const bytesBefore = Y.encodeStateAsUpdate(doc)
  let updates = 0
  const relay = (u: Uint8Array): void => { updates++; Y.applyUpdate(replicaDoc, u) }
  doc.on('update', relay)

  const { outcome, rootViolation } = oracle(before, ops, definedKinds(doc))
  let result: { changed: boolean } | undefined
  let error: unknown
  try {
    result = applyJsonPatch(doc, ops, { origin: 'test' })
  } catch (err) {
    error = err
  } finally {
    doc.off('update', relay)
  }

  if (rootViolation !== undefined || !outcome.ok) {
    const expected = rootViolation !== undefined ? { code: 'PATCH_INVALID', index: rootViolation } : outcome as { code: string; index: number }
    if (rootViolation !== undefined) seen.rootRule++
    else if (expected.code === 'PATCH_TEST_FAILED') seen.testFailed++
    else seen.invalid++
    expect(error, context).toBeInstanceOf(JsonPatchError)
    expect({ code: (error as JsonPatchError).code, index: (error as JsonPatchError).index }, context).toEqual({ code: expected.code, index: expected.index })
    expect(updates).toBe(0)
    expect(Y.encodeStateAsUpdate(doc)).toEqual(bytesBefore)
    return
  }
  seen.applied++
  expect(error, context).toBeUndefined()
  const after = view(doc)
  expect(withoutEmptyRoots(after), context).toEqual(withoutEmptyRoots(outcome.doc))
  expect(updates).toBe(result!.changed ? 1 : 0)
  // What the room would relay reproduces the change on another replica.
  expect(view(replicaDoc)).toEqual(after)
}

describe('applyJsonPatch against an RFC 6902 oracle', () => {
  it('matches fast-json-patch on the JSON view for random documents and two patches in a row', () => {
    const seen: Seen = { applied: 0, testFailed: 0, invalid: 0, rootRule: 0 }
    const scenario = docSpec.chain(spec => {
      const before = view(build(spec))
      return fc.tuple(fc.constant(spec), operations(before), operations(before))
    })
    fc.assert(fc.property(scenario, ([spec, first, second]) => {
      const doc = build(spec)
      checkPatch(doc, first, seen)
      // The second patch meets roots the first one may have given a type.
      checkPatch(doc, second, seen)
    }), { numRuns: 300, interruptAfterTimeLimit: 60_000 })
    // The property is only as good as its mix of outcomes.
    expect(seen.applied).toBeGreaterThan(60)
    expect(seen.testFailed).toBeGreaterThan(20)
    expect(seen.invalid).toBeGreaterThan(60)
    expect(seen.rootRule).toBeGreaterThan(10)
  }, 90_000)
})
