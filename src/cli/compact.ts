import type { Persistence } from '../../persistence/types.js'
import { isStored } from './delete.js'
import { countStored, storedNames } from './names.js'
import type { Progress } from './progress.js'

/**
 * `tandem compact`: merges each document's stored updates into one, for the
 * named documents or, without names, for every stored document. Resolves
 * with the names that were not stored.
 */
export async function compactDocuments (storage: Persistence, names: string[], progress: Progress): Promise<{ missing: string[] }> {
  const missing: string[] = []
  if (names.length === 0) {
    progress.start(await countStored(storage))
    for await (const name of storedNames(storage)) {
      await storage.compact(name)
      progress.advance(0)
    }
    return { missing }
  }
  progress.start(names.length)
  for (const name of names) {
    if (!(await isStored(storage, name))) {
      missing.push(name)
      continue
    }
    await storage.compact(name)
    progress.advance(0)
  }
  return { missing }
}
