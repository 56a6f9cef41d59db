import { StorageError, type AddVersionResult, type NewVersion, type Persistence, type VersionInfo, type VersionPolicy, type VersionStore } from './types.js'
import { KeyedSerial } from './serial.js'
import { chainFor, materialize, parseVersionId, planAdd, planDelete, versionInfo, type ChainOp, type VersionBody, type VersionRow } from './version-chain.js'

interface DocVersions {
  rows: VersionRow[]
  bodies: Map<number, VersionBody>
  /** Recorded by addAuthors, taken by the next version. */
  authors: Set<string>
}

/**
 * Ephemeral storage for tests and demos. It keeps the same contract as the
 * durable adapters (including compaction by reference), so the conformance
 * suite runs against it too.
 */
export class MemoryPersistence implements Persistence, VersionStore {
  readonly name = 'memory'
  readonly shared: boolean = false
  private readonly docs = new Map<string, Uint8Array[]>()
  private readonly versions = new Map<string, DocVersions>()
  /** Version writes per document, one after the other (plans await between reads). */
  private readonly versionLocks = new KeyedSerial()
  private nextSeq = 1
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

  async compact (docName: string): Promise<number | undefined> {
    this.assertOpen()
    const list = this.docs.get(docName)
    if (list === undefined || list.length < 2) return undefined
    const { mergeUpdates } = await import('yjs')
    const merged = list.slice()
    const row = mergeUpdates(merged)
    // Replace exactly the rows that were merged; rows stored meanwhile stay.
    list.splice(0, merged.length, row)
    return row.byteLength
  }

  async delete (docName: string): Promise<void> {
    this.assertOpen()
    this.docs.delete(docName)
    await this.serially(docName, async () => { this.versions.delete(docName) })
  }

  addVersion (docName: string, version: NewVersion, policy: VersionPolicy): Promise<AddVersionResult> {
    return this.serially(docName, async () => {
      this.assertOpen()
      const doc = this.versionsOf(docName)
      const plan = await planAdd(doc.rows, this.reader(doc), version, policy, [...doc.authors])
      if ('result' in plan) return plan.result
      this.assertOpen()
      const seq = this.apply(doc, plan.ops)
      doc.authors.clear()
      return { added: versionInfo({ ...plan.row, seq }) }
    })
  }

  async listVersions (docName: string, options: { after?: string; limit?: number } = {}): Promise<VersionInfo[]> {
    this.assertOpen()
    const before = options.after === undefined ? Infinity : parseVersionId(options.after) ?? 0
    const rows = this.versions.get(docName)?.rows ?? []
    return rows.filter((r) => r.seq < before).reverse().slice(0, options.limit ?? 100).map(versionInfo)
  }

  async getVersion (docName: string, id: string): Promise<{ version: VersionInfo; update: Uint8Array } | null> {
    this.assertOpen()
    const seq = parseVersionId(id)
    const doc = this.versions.get(docName)
    if (seq === undefined || doc === undefined) return null
    const chain = chainFor(doc.rows, seq)
    if (chain.length === 0) return null
    return { version: versionInfo(chain[chain.length - 1]), update: materialize(chain.map((r) => doc.bodies.get(r.seq)!.data)) }
  }

  deleteVersion (docName: string, id: string): Promise<boolean> {
    return this.serially(docName, async () => {
      this.assertOpen()
      const seq = parseVersionId(id)
      const doc = this.versions.get(docName)
      if (seq === undefined || doc === undefined) return false
      const ops = await planDelete(doc.rows, this.reader(doc), seq)
      if (ops === null) return false
      this.assertOpen()
      this.apply(doc, ops)
      return true
    })
  }

  async addAuthors (docName: string, authors: string[]): Promise<void> {
    this.assertOpen()
    const doc = this.versionsOf(docName)
    for (const author of authors) doc.authors.add(author)
  }

  private versionsOf (docName: string): DocVersions {
    this.assertOpen()
    let doc = this.versions.get(docName)
    if (doc === undefined) this.versions.set(docName, (doc = { rows: [], bodies: new Map(), authors: new Set() }))
    return doc
  }

  private reader (doc: DocVersions): (seq: number) => Promise<VersionBody> {
    return async (seq) => doc.bodies.get(seq)!
  }

  /** Applies a plan's operations; returns the seq of the inserted row (0 when none). */
  private apply (doc: DocVersions, ops: ChainOp[]): number {
    let inserted = 0
    for (const op of ops) {
      if (op.op === 'delete') {
        doc.rows = doc.rows.filter((r) => r.seq !== op.seq)
        doc.bodies.delete(op.seq)
      } else if (op.op === 'rewrite') {
        doc.rows = doc.rows.map((r) => r.seq === op.row.seq ? op.row : r)
        doc.bodies.set(op.row.seq, op.body)
      } else {
        inserted = this.nextSeq++
        doc.rows.push({ ...op.row, seq: inserted })
        doc.bodies.set(inserted, op.body)
      }
    }
    return inserted
  }

  /** Runs `fn` after every earlier version write of the document. */
  private serially<T> (docName: string, fn: () => Promise<T>): Promise<T> {
    return this.versionLocks.run(docName, fn)
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
