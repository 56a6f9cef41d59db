import type { Writable } from 'node:stream'
import type { Persistence } from '../../persistence/types.js'
import { escapeName, storedNames } from './names.js'
import { write } from './output.js'

/** `tandem list`: every stored name, one per line (escaped, see `escapeName`). Returns how many. */
export async function listDocuments (storage: Persistence, out: Writable | NodeJS.WritableStream): Promise<number> {
  let n = 0
  for await (const name of storedNames(storage)) {
    await write(out, escapeName(name) + '\n')
    n++
  }
  return n
}
