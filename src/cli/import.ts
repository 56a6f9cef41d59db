/**
 * `tandem import`: merges an export into the storage.
 *
 * A document is merged the way Yjs merges: when the storage already holds it,
 * the imported update is stored as one more row, and a load applies all rows.
 * An update that adds nothing to what is stored is not stored at all, so
 * importing the same export twice changes nothing.
 *
 * From a file, every line is checked before the first write, so a damaged
 * file imports nothing. Standard input cannot be read twice: documents are
 * merged as they arrive and a damaged line stops the import there.
 */
import { open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import * as Y from 'yjs'
import type { Persistence } from '../../persistence/types.js'
import { CliError, systemReason } from './errors.js'
import { FormatError, readExport, type ExportedDocument } from './export-format.js'
import { DOCUMENTS_IN_FLIGHT, TaskPool } from './pool.js'
import type { Progress } from './progress.js'

export type MergeOutcome = 'created' | 'merged' | 'unchanged'

export interface ImportCounts {
  created: number
  merged: number
  unchanged: number
}

/** Imports the export in `file`: checks the whole file, then merges every document. */
export async function importFile (storage: Persistence, file: string, check: Progress, progress: Progress): Promise<ImportCounts> {
  check.start()
  let documents = 0
  for await (const doc of readExport(await linesOfFile(file))) {
    checkUpdate(doc)
    documents++
    check.advance(doc.lineBytes)
  }
  check.stop()
  progress.start(documents)
  return mergeAll(storage, readExport(await linesOfFile(file)), progress, false)
}

/** Imports an export read from a stream, merging each document as it arrives. */
export async function importStream (storage: Persistence, input: Readable, progress: Progress): Promise<ImportCounts> {
  progress.start()
  return mergeAll(storage, readExport(lines(input, false)), progress, true)
}

async function mergeAll (storage: Persistence, docs: AsyncIterable<ExportedDocument>, progress: Progress, check: boolean): Promise<ImportCounts> {
  const counts: ImportCounts = { created: 0, merged: 0, unchanged: 0 }
  const pool = new TaskPool(DOCUMENTS_IN_FLIGHT)
  try {
    for await (const doc of docs) {
      if (check) checkUpdate(doc)
      await pool.run(doc.name, async () => {
        let outcome: MergeOutcome
        try {
          outcome = await mergeDocument(storage, doc.name, doc.update)
        } catch (err) {
          if (err instanceof CliError) throw err
          throw new CliError(`line ${doc.line}: document ${JSON.stringify(doc.name)} was not imported: ${(err as Error).message}`, 1, { cause: err })
        }
        counts[outcome]++
        progress.advance(doc.update.byteLength)
      })
    }
    await pool.drain()
  } catch (err) {
    // Everything before the failing line finishes (or fails) before it is reported.
    await pool.settle()
    throw err
  }
  return counts
}

/**
 * Merges one document into the storage: stores `update` as one more row of
 * the document unless it adds nothing to what is stored.
 */
export async function mergeDocument (storage: Persistence, name: string, update: Uint8Array): Promise<MergeOutcome> {
  const rows = await storage.load(name)
  if (rows.length === 0) {
    await storage.store(name, update)
    return 'created'
  }
  const doc = new Y.Doc()
  try {
    try {
      doc.transact(() => { for (const row of rows) Y.applyUpdate(doc, row) })
    } catch (err) {
      throw new CliError(`document ${JSON.stringify(name)}: its stored updates do not load (${(err as Error).message}); nothing was imported into it`)
    }
    const pending = (): boolean => doc.store.pendingStructs !== null || doc.store.pendingDs !== null
    // Content waiting for missing updates is not compared here; store to be safe.
    const pendingBefore = pending()
    let changed = false
    doc.on('update', () => { changed = true })
    Y.applyUpdate(doc, update)
    if (!changed && !pendingBefore && !pending()) return 'unchanged'
  } finally {
    doc.destroy()
  }
  await storage.store(name, update)
  return 'merged'
}

/** A document line whose update is not a Yjs update is a damaged line. */
function checkUpdate (doc: ExportedDocument): void {
  const probe = new Y.Doc()
  try {
    Y.applyUpdate(probe, doc.update)
  } catch (err) {
    throw new FormatError(doc.line, `document ${JSON.stringify(doc.name)}: "update" is not a Yjs update (${(err as Error).message})`)
  } finally {
    probe.destroy()
  }
}

async function linesOfFile (file: string): Promise<AsyncIterable<string>> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${systemReason(err)}`, 1, { cause: err })
  }
  return lines(handle.createReadStream(), true)
}

/** Lines of a stream (`\n` or `\r\n`), with read errors surfaced; `owned` streams are closed after. */
async function * lines (input: Readable, owned: boolean): AsyncGenerator<string> {
  let failure: Error | undefined
  const onError = (err: Error): void => { failure = err }
  input.on('error', onError)
  const rl = createInterface({ input, crlfDelay: Infinity })
  try {
    for await (const line of rl) yield line
    if (failure !== undefined) throw new CliError(`cannot read the input: ${systemReason(failure)}`, 1, { cause: failure })
  } finally {
    rl.close()
    input.off('error', onError)
    if (owned) input.destroy()
  }
}
