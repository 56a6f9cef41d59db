import { invalid } from './error.js'

/**
 * RFC 6901 JSON Pointers: `""` is the whole document, `/a/b` walks member `a`
 * then `b`; `~1` stands for `/` and `~0` for `~` inside a token.
 */

/** The reference tokens of `pointer`; `field` (`path`, `from`) names it in errors. */
export function parsePointer (pointer: string, field: string): string[] {
  if (pointer === '') return []
  if (pointer[0] !== '/') throw invalid(`${field} ${JSON.stringify(pointer)} must be empty or start with "/"`)
  const tokens: string[] = []
  let token = ''
  for (let i = 1; i < pointer.length; i++) {
    const c = pointer[i]
    if (c === '/') {
      tokens.push(token)
      token = ''
    } else if (c === '~') {
      // Scanning left to right decodes "~01" as "~1", which is what RFC 6901 §4 asks for.
      const next = pointer[i + 1]
      if (next !== '0' && next !== '1') throw invalid(`${field} ${pointer}: "~" must be followed by 0 or 1`)
      token += next === '0' ? '~' : '/'
      i++
    } else {
      token += c
    }
  }
  tokens.push(token)
  return tokens
}

/** `tokens` as a pointer again, for messages. */
export function formatPointer (tokens: readonly string[]): string {
  let out = ''
  for (const token of tokens) out += '/' + token.replace(/~/g, '~0').replace(/\//g, '~1')
  return out
}

/** `-`: the position after the last element (RFC 6901 §4), where `add` appends. */
export const END = -1

/**
 * The array index a token stands for: digits without leading zeros, or `-`
 * (END). Anything else is not an index, and undefined says so.
 */
export function arrayIndex (token: string): number | undefined {
  if (token === '-') return END
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined
  const index = Number(token)
  return Number.isSafeInteger(index) ? index : undefined
}

/** Whether `prefix` is a proper prefix of `tokens` (RFC 6902 §4.4: no moving a value into itself). */
export function isProperPrefix (prefix: readonly string[], tokens: readonly string[]): boolean {
  if (prefix.length >= tokens.length) return false
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== tokens[i]) return false
  return true
}

export function samePointer (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((token, i) => token === b[i])
}
