import type { Persistence } from '../../persistence/types.js'

/** Names per `list` call: one page in memory at a time, whatever the number of documents. */
export const PAGE_SIZE = 500

/** Every stored document name, in storage order, one page at a time. */
export async function * storedNames (storage: Persistence, pageSize = PAGE_SIZE): AsyncGenerator<string> {
  let after: string | undefined
  for (;;) {
    const page = await storage.list({ after, limit: pageSize })
    for (const name of page) yield name
    if (page.length < pageSize) return
    const last = page[page.length - 1]
    // Pages must move forward; an adapter that repeats itself would loop forever.
    if (after !== undefined && last <= after) throw new Error(`storage listed "${last}" after "${after}"`)
    after = last
  }
}

/** How many documents are stored (one pass over the names). */
export async function countStored (storage: Persistence): Promise<number> {
  let n = 0
  for await (const _ of storedNames(storage)) n++
  return n
}

/**
 * A name as one line of `tandem list`: a backslash becomes `\\`, newline
 * `\n`, carriage return `\r`, tab `\t`, any other control character
 * (U+0000–U+001F, U+007F–U+009F) `\xHH`. Everything else, slashes, spaces and
 * all of Unicode, is printed as it is.
 */
export function escapeName (name: string): string {
  return name.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\'
      case '\n': return '\\n'
      case '\r': return '\\r'
      case '\t': return '\\t'
      default: return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
    }
  })
}
