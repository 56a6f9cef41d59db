/**
 * `tandem export`: every stored document, one line each, in the format of
 * `export-format.ts`. Memory holds one page of names and one document at a
 * time, whatever the number of documents.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream, unlinkSync } from 'node:fs'
import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import * as Y from 'yjs'
import type { Persistence } from '../../persistence/types.js'
import { CliError, systemReason } from './errors.js'
import { documentLine, endLine, headerLine } from './export-format.js'
import { countStored, storedNames } from './names.js'
import { write } from './output.js'
import { DOCUMENTS_IN_FLIGHT } from './pool.js'
import type { Progress } from './progress.js'

export interface ExportOptions {
  /**
   * Percent-decode every name. The y-websocket server keeps a document under
   * its URL path as the client sent it (`with%20space`); tandem decodes the
   * path (`with space`). Names that do not decode are kept as they are.
   */
  decodeNames?: boolean
}

export interface ExportResult {
  documents: number
  /** Names that were changed by decoding. */
  renamed: number
}

/** Writes the export to `out`. */
export async function exportDocuments (storage: Persistence, out: Writable | NodeJS.WritableStream, progress: Progress, options: ExportOptions = {}): Promise<ExportResult> {
  progress.start(await countStored(storage))
  await write(out, headerLine(storage.name))
  let documents = 0
  let renamed = 0
  const emit = async ({ name, rows }: Pending): Promise<void> => {
    const loaded = await rows
    // Deleted between listing and loading (Postgres, with servers running).
    if (loaded.length === 0) return
    let update: Uint8Array
    try {
      // Merging the rows as updates (not through a Y.Doc) keeps everything
      // they hold, including content still waiting for missing updates.
      update = loaded.length === 1 ? loaded[0] : Y.mergeUpdates(loaded)
    } catch (err) {
      throw new CliError(`document ${JSON.stringify(name)}: its stored updates do not merge (${(err as Error).message}); a server cannot load it either. Delete it (tandem delete) and export again`)
    }
    const exportedName = options.decodeNames === true ? percentDecoded(name) : name
    if (exportedName !== name) renamed++
    await write(out, documentLine(exportedName, update))
    documents++
    progress.advance(update.byteLength)
  }
  // Loads run a few documents ahead of the writer; the order stays the storage's.
  const ahead: Pending[] = []
  for await (const name of storedNames(storage)) {
    const rows = storage.load(name)
    // Awaited in order below; until then a failure must not count as unhandled.
    rows.catch(() => {})
    ahead.push({ name, rows })
    if (ahead.length >= DOCUMENTS_IN_FLIGHT) await emit(ahead.shift() as Pending)
  }
  while (ahead.length > 0) await emit(ahead.shift() as Pending)
  await write(out, endLine(documents))
  return { documents, renamed }
}

interface Pending {
  name: string
  rows: Promise<Uint8Array[]>
}

function percentDecoded (name: string): string {
  try {
    const decoded = decodeURIComponent(name)
    return decoded === '' ? name : decoded
  } catch {
    return name
  }
}

/**
 * Runs `fill` on a stream into a temporary file next to `path`, then renames
 * it to `path` once it is complete and on disk: a failed export never leaves
 * a file that looks like an export.
 */
export async function writeFileAtomically<T> (path: string, fill: (out: Writable) => Promise<T>): Promise<T> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.partial`)
  const stream = createWriteStream(temp, { flags: 'wx' })
  let done = false
  // Interrupted (Ctrl-C exits at once): no half-written temporary file stays behind.
  const removeTemp = (): void => { try { unlinkSync(temp) } catch {} }
  process.once('exit', removeTemp)
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve())
      stream.once('error', reject)
    }).catch((err) => { throw new CliError(`--out ${path}: cannot write here: ${systemReason(err)}`, 1, { cause: err }) })
    const result = await fill(stream)
    stream.end()
    await finished(stream)
    // On disk before it takes the final name.
    const handle = await open(temp, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path).catch((err) => { throw new CliError(`--out ${path}: ${systemReason(err)}`, 1, { cause: err }) })
    done = true
    return result
  } finally {
    process.off('exit', removeTemp)
    if (!done) {
      stream.destroy()
      await unlink(temp).catch(() => {})
    }
  }
}
