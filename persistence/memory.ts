import { StorageError, type Persistence } from './types.js'

/**
 * Ephemeral storage for tests and demos. It keeps the same contract as the
 * durable adapters (including compaction by reference), so the conformance
 * suite runs against it too.
 */
export class MemoryPersistence implements Persistence {
  readonly name = 'memory'
  readonly shared: boolean = false
  private readonly docs = new Map<string, Uint8Array[]>()
  private closed = false

  async load (docName: string): Promise<Uint8Array[]> {
    this.assertOpen()
    return [...(this.docs.get(docName) ?? [])]
  }

  async store (docName: string, update: Uint8Array): Promise<void> {
    this.assertOpen()
    let list = this.docs.get(docName)
    if (list === undefined) this.docs.set(docName, (list = []))
    list.push(update)
  }

  async compact (docName: string): Promise<void> {
    this.assertOpen()
    const list = this.docs.get(docName)
    if (list === undefined || list.length < 2) return
    const { mergeUpdates } = await import('yjs')
    const merged = list.slice()
    // Replace exactly the rows that were merged; rows stored meanwhile stay.
    list.splice(0, merged.length, mergeUpdates(merged))
  }

  async delete (docName: string): Promise<void> {
    this.assertOpen()
    this.docs.delete(docName)
  }

  async list (options: { after?: string; limit?: number } = {}): Promise<string[]> {
    this.assertOpen()
    const after = options.after ?? ''
    const names = [...this.docs.keys()].filter((n) => n > after).sort()
    return names.slice(0, options.limit ?? names.length)
  }

  async check (): Promise<void> {
    this.assertOpen()
  }

  async close (): Promise<void> {
    this.closed = true
  }

  private assertOpen (): void {
    if (this.closed) throw new StorageError('memory storage is closed')
  }
}
