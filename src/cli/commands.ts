/**
 * The commands that work on stored documents (list, export, import, delete,
 * compact): open the storage, run, close it, and turn the outcome into an
 * exit code and at most a few lines on standard error.
 */
import type { Readable, Writable } from 'node:stream'
import type { Persistence } from '../../persistence/types.js'
import { CliError, UsageError } from './errors.js'
import { FormatError } from './export-format.js'
import type { Invocation } from './flags.js'
import { escapeName } from './names.js'
import { isBrokenPipe } from './output.js'
import { Progress } from './progress.js'
import { openStorage } from './storage.js'

export type StorageInvocation = Exclude<Invocation, { command: 'help' | 'version' | 'serve' }>

export interface CommandStreams {
  stdin: Readable
  stdout: Writable | NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
}

/** Runs one storage command; resolves with the exit code, rejects with a `CliError`. */
export async function runStorageCommand (inv: StorageInvocation, io: CommandStreams): Promise<number> {
  if (inv.command === 'import' && inv.file === undefined && (io.stdin as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError('import reads an export from FILE or from standard input, which is a terminal here: give a file, or pipe one in (tandem import < backup.jsonl)')
  }
  const storage = await openStorage(inv.storage)
  try {
    return await run(inv, storage, io)
  } finally {
    await storage.close().catch(() => {})
  }
}

async function run (inv: StorageInvocation, storage: Persistence, io: CommandStreams): Promise<number> {
  const progress = (verb: string, bytes = true): Progress => new Progress({ stream: io.stderr, verb, bytes })
  switch (inv.command) {
    case 'list': {
      const { listDocuments } = await import('./list.js')
      try {
        await listDocuments(storage, io.stdout)
      } catch (err) {
        // `tandem list | head`: the reader has what it wanted.
        if (isBrokenPipe(err)) return 0
        throw err
      }
      return 0
    }

    case 'export': {
      const { exportDocuments, writeFileAtomically } = await import('./export.js')
      const shown = progress('exported')
      const options = { decodeNames: inv.decodeNames }
      let renamed: number
      try {
        ({ renamed } = inv.out !== undefined
          ? await writeFileAtomically(inv.out, (out) => exportDocuments(storage, out, shown, options))
          : await exportDocuments(storage, io.stdout, shown, options))
      } catch (err) {
        if (isBrokenPipe(err)) throw new CliError('the output was closed before the export was complete')
        throw err
      } finally {
        shown.stop()
      }
      shown.finish(inv.decodeNames ? `${renamed} name${renamed === 1 ? '' : 's'} percent-decoded` : undefined)
      return 0
    }

    case 'import': {
      const { importFile, importStream } = await import('./import.js')
      const shown = progress('imported')
      const source = inv.file ?? 'standard input'
      try {
        const counts = inv.file !== undefined
          ? await importFile(storage, inv.file, progress('checked'), shown)
          : await importStream(storage, io.stdin, shown)
        shown.finish(`${counts.created} new, ${counts.merged} merged into existing documents, ${counts.unchanged} already up to date`)
        return 0
      } catch (err) {
        shown.stop()
        if (err instanceof FormatError) {
          const done = shown.totals.documents
          const consequence = inv.file !== undefined
            ? 'nothing was imported'
            : done === 0 ? 'nothing was imported' : `the ${done} document${done === 1 ? '' : 's'} before it ${done === 1 ? 'was' : 'were'} imported, nothing after it`
          throw new CliError(`${source}: ${err.message}; ${consequence}`)
        }
        throw err
      }
    }

    case 'delete': {
      const { deleteDocuments } = await import('./delete.js')
      const { deleted, missing } = await deleteDocuments(storage, inv.names)
      for (const name of missing) io.stderr.write(`tandem: no document named "${escapeName(name)}"\n`)
      io.stderr.write(`deleted ${deleted.length} document${deleted.length === 1 ? '' : 's'}\n`)
      return missing.length === 0 ? 0 : 1
    }

    case 'compact': {
      const { compactDocuments } = await import('./compact.js')
      const shown = progress('compacted', false)
      let missing: string[]
      try {
        ({ missing } = await compactDocuments(storage, inv.names, shown))
      } finally {
        shown.stop()
      }
      for (const name of missing) io.stderr.write(`tandem: no document named "${escapeName(name)}"\n`)
      shown.finish()
      return missing.length === 0 ? 0 : 1
    }
  }
}
