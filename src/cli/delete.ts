import type { Persistence } from '../../persistence/types.js'

/**
 * `tandem delete`: removes each named document. Resolves with the names that
 * were not stored (reported by the caller; the others are deleted anyway).
 */
export async function deleteDocuments (storage: Persistence, names: string[]): Promise<{ deleted: string[]; missing: string[] }> {
  const deleted: string[] = []
  const missing: string[] = []
  for (const name of names) {
    if (!(await isStored(storage, name))) {
      missing.push(name)
      continue
    }
    await storage.delete(name)
    deleted.push(name)
  }
  return { deleted, missing }
}

/** Whether the storage holds `name` (the interface has no cheaper question than a load). */
export async function isStored (storage: Persistence, name: string): Promise<boolean> {
  return (await storage.load(name)).length > 0
}
