import { formatPointer } from './pointer.js'

/**
 * Plain JSON values: checking, copying and comparing them without recursion,
 * so a deeply nested value costs heap, not stack.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Charges work to the caller's budget; throws when it runs out. */
export type Spend = (units: number) => void

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function hasOwn (object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key)
}

/** Sets an own member even when the key is `__proto__`, which plain assignment would treat as the prototype. */
export function setMember (object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
  else object[key] = value
}

/** A string Yjs cannot store as given: its UTF-8 encoding turns an unpaired surrogate into U+FFFD. */
export function hasLoneSurrogate (text: string): boolean {
  return /\p{Cs}/u.test(text)
}

export interface CopyOptions {
  /** Containers nested deeper than this make the copy fail. */
  maxDepth: number
  /** Work per value copied (a string of n KiB counts n more). */
  spend?: Spend
  /**
   * Presents an object that is neither an array nor a plain object (a Yjs
   * shared type) as a string, an array or a plain object of its raw children;
   * undefined when it has no JSON form.
   */
  expand?: (value: object) => unknown
  /**
   * For values a client sent, which are about to be stored: refuse the key
   * `__proto__` (the JSON view could not show it) and unpaired surrogates.
   */
  strict?: boolean
}

export type CopyResult =
  | { ok: true; value: Json; depth: number }
  | { ok: false; reason: string; at: string }

interface Frame {
  src: unknown
  out: Record<string, unknown> | unknown[]
  key: string | number
  level: number
  up: Frame | null
}

/**
 * A fresh copy of `value` made of plain objects, arrays and JSON scalars, and
 * its depth (a scalar is 0, `[]` is 1, `[[1]]` is 2). Fails on anything JSON
 * cannot hold (undefined, NaN, Infinity, functions, binary, class instances)
 * and on nesting deeper than `maxDepth`, naming where.
 */
export function copyJson (value: unknown, options: CopyOptions): CopyResult {
  const holder: unknown[] = [undefined]
  const stack: Frame[] = [{ src: value, out: holder, key: 0, level: 0, up: null }]
  let depth = 0
  const fail = (frame: Frame, reason: string): CopyResult => ({ ok: false, reason, at: framePointer(frame) })
  while (stack.length > 0) {
    const frame = stack.pop()!
    options.spend?.(1)
    let src = frame.src
    if (options.expand !== undefined && src !== null && typeof src === 'object' && !Array.isArray(src) && !isPlainObject(src)) {
      src = options.expand(src)
      if (src === undefined) return fail(frame, 'has no JSON form')
    }
    let out: unknown
    if (src === null || typeof src === 'boolean') {
      out = src
    } else if (typeof src === 'number') {
      if (!Number.isFinite(src)) return fail(frame, `is ${src}, which JSON cannot hold`)
      out = src
    } else if (typeof src === 'string') {
      if (options.strict === true && hasLoneSurrogate(src)) return fail(frame, 'has an unpaired surrogate')
      options.spend?.(src.length >> 10)
      out = src
    } else if (Array.isArray(src) || isPlainObject(src)) {
      const level = frame.level + 1
      if (level > options.maxDepth) return fail(frame, `is nested deeper than ${options.maxDepth} levels (maxValueDepth)`)
      if (level > depth) depth = level
      if (Array.isArray(src)) {
        const array: unknown[] = new Array(src.length)
        for (let i = src.length - 1; i >= 0; i--) stack.push({ src: src[i], out: array, key: i, level, up: frame })
        out = array
      } else {
        const object: Record<string, unknown> = {}
        for (const key of Object.keys(src)) {
          if (options.strict === true && key === '__proto__') return fail(frame, 'has the member __proto__, which is not supported')
          if (options.strict === true && hasLoneSurrogate(key)) return fail(frame, 'has a member name with an unpaired surrogate')
          stack.push({ src: src[key], out: object, key, level, up: frame })
        }
        out = object
      }
    } else {
      return fail(frame, `is ${describe(src)}, which JSON cannot hold`)
    }
    if (Array.isArray(frame.out)) frame.out[frame.key as number] = out
    else setMember(frame.out, frame.key as string, out)
  }
  return { ok: true, value: holder[0] as Json, depth }
}

function framePointer (frame: Frame): string {
  const tokens: string[] = []
  for (let f: Frame | null = frame; f !== null && f.up !== null; f = f.up) tokens.push(String(f.key))
  return formatPointer(tokens.reverse())
}

function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'prototype-less'} object`
  return `a ${typeof value}`
}

/**
 * RFC 6902 §4.6 equality: same type; numbers by value; objects with the same
 * members in any order; arrays element by element. Values that are not JSON
 * equal nothing but themselves.
 */
export function deepEqual (a: unknown, b: unknown, spend?: Spend): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]]
  while (stack.length > 0) {
    const [x, y] = stack.pop()!
    spend?.(1)
    if (x === y) continue
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return false
    if (Array.isArray(x) || Array.isArray(y)) {
      if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false
      for (let i = 0; i < x.length; i++) stack.push([x[i], y[i]])
    } else {
      if (!isPlainObject(x) || !isPlainObject(y)) return false
      const keys = Object.keys(x)
      if (keys.length !== Object.keys(y).length) return false
      for (const key of keys) {
        if (!hasOwn(y, key)) return false
        stack.push([x[key], y[key]])
      }
    }
  }
  return true
}
