/**
 * list / export / import / delete / compact through the built CLI, on real
 * LevelDB directories and a real Postgres schema per test: round trips,
 * pipes between two processes, idempotent and merging imports, damaged
 * input, and a directory held by a running server.
 */
import { spawn } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { PersistenceOptions } from '../persistence/index.js'
import { CLI, spawnCli, tempDir } from './helpers.js'
import { cleanEnv, contents, DATABASE_URL, exportedDocs, postgresSchema, rowCount, runCli, sampleUpdate, seed } from './cli-helpers.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function dir (): Promise<string> {
  const d = await tempDir('tandem-cli-')
  cleanup.push(d.remove)
  return d.path
}

const leveldb = (dataDir: string): PersistenceOptions => ({ kind: 'leveldb', dataDir })

/** Names chosen to break naive tools: slashes, spaces, Unicode, a newline, a backslash. */
const NAMES = ['notes/2024/plan', 'with space', 'ünïcödé ✓ 日本', 'two\nlines', 'back\\slash', 'a']

/** Each document in several rows, as a server stores it. */
function sampleDocs (): Record<string, Uint8Array[]> {
  const docs: Record<string, Uint8Array[]> = {}
  NAMES.forEach((name, i) => {
    const doc = new Y.Doc()
    const rows: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => rows.push(u))
    doc.getText('text').insert(0, `hello ${name}`)
    doc.getMap('map').set('n', i)
    doc.getText('text').delete(0, 1)
    docs[name] = rows
  })
  return docs
}

describe('tandem list / export / import on LevelDB', () => {
  it('lists every name, one per line, escaping newlines and backslashes', async () => {
    const data = await dir()
    await seed(leveldb(data), sampleDocs())
    const res = await runCli(['list', '--data', data])
    expect(res.code).toBe(0)
    expect(res.stderr).toBe('')
    const lines = res.stdout.split('\n')
    expect(lines.pop()).toBe('')
    expect(lines.sort()).toEqual(['a', 'back\\\\slash', 'notes/2024/plan', 'two\\nlines', 'with space', 'ünïcödé ✓ 日本'].sort())
  })

  it('round-trips LevelDB → file → LevelDB with the same documents', async () => {
    const source = await dir()
    const target = await dir()
    await seed(leveldb(source), sampleDocs())
    const out = join(await dir(), 'all.jsonl')

    const exported = await runCli(['export', '--data', source, '--out', out])
    expect(exported.code).toBe(0)
    expect(exported.stdout).toBe('')
    expect(exported.stderr).toMatch(/^exported 6 documents \(\d+(\.\d)? (B|KiB)\) in \d+\.\d s\n$/)
    const text = await readFile(out, 'utf8')
    const lines = text.trimEnd().split('\n')
    expect(JSON.parse(lines[0])).toMatchObject({ format: 'tandem-export', version: 1, source: 'leveldb' })
    expect(JSON.parse(lines[lines.length - 1])).toEqual({ end: true, documents: 6 })
    expect(exportedDocs(text).map((d) => d.name).sort()).toEqual([...NAMES].sort())
    // Only the finished file is left behind, no temporary one.
    expect(await readdir(join(out, '..'))).toEqual(['all.jsonl'])

    const imported = await runCli(['import', out, '--data', target])
    expect(imported.code).toBe(0)
    expect(imported.stderr).toMatch(/imported 6 documents .*6 new, 0 merged into existing documents, 0 already up to date/)
    expect(await contents(leveldb(target))).toEqual(await contents(leveldb(source)))
    // Each document arrives as one row.
    expect(await rowCount(leveldb(target), 'notes/2024/plan')).toBe(1)
  })

  it('pipes export into import between two processes through a real pipe', async () => {
    const source = await dir()
    const target = await dir()
    await seed(leveldb(source), sampleDocs())
    const env = cleanEnv()
    const exporter = spawn(process.execPath, [CLI, 'export', '--data', source], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const importer = spawn(process.execPath, [CLI, 'import', '--data', target], { env, stdio: [exporter.stdout, 'pipe', 'pipe'] })
    // The importer has its own copy of the pipe's read end; the parent keeps none.
    exporter.stdout.destroy()
    let importerErr = ''
    let importerOut = ''
    importer.stderr.setEncoding('utf8').on('data', (d: string) => { importerErr += d })
    importer.stdout.setEncoding('utf8').on('data', (d: string) => { importerOut += d })
    exporter.stderr.resume()
    const codes = await Promise.all([exporter, importer].map((c) => new Promise<number | null>((resolve) => c.on('close', resolve))))
    expect(codes).toEqual([0, 0])
    expect(importerOut).toBe('')
    expect(importerErr).toMatch(/imported 6 documents/)
    expect(await contents(leveldb(target))).toEqual(await contents(leveldb(source)))
  })

  it('imports twice without changing anything the second time', async () => {
    const source = await dir()
    const target = await dir()
    await seed(leveldb(source), sampleDocs())
    const { stdout: exported } = await runCli(['export', '--data', source])
    expect((await runCli(['import', '--data', target], { input: exported })).code).toBe(0)
    const once = await contents(leveldb(target))
    const rowsOnce = await rowCount(leveldb(target), 'a')

    const again = await runCli(['import', '--data', target], { input: exported })
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/0 new, 0 merged into existing documents, 6 already up to date/)
    expect(await contents(leveldb(target))).toEqual(once)
    expect(await rowCount(leveldb(target), 'a')).toBe(rowsOnce)
  })

  it('merges into a document that already exists, keeping both sides', async () => {
    const source = await dir()
    const target = await dir()
    // The same document edited in two places by different clients.
    await seed(leveldb(source), { shared: [sampleUpdate('from source ', { s: 1 }, 1)], onlySource: [sampleUpdate('x')] })
    await seed(leveldb(target), { shared: [sampleUpdate('from target ', { t: 2 }, 2)], onlyTarget: [sampleUpdate('y')] })
    const { stdout: exported } = await runCli(['export', '--data', source])
    const res = await runCli(['import', '--data', target], { input: exported })
    expect(res.code).toBe(0)
    expect(res.stderr).toMatch(/1 new, 1 merged into existing documents, 0 already up to date/)

    const after = await contents(leveldb(target)) as Record<string, { text: string; map: Record<string, number> }>
    expect(Object.keys(after).sort()).toEqual(['onlySource', 'onlyTarget', 'shared'])
    expect(after.shared.map).toEqual({ s: 1, t: 2 })
    expect(after.shared.text).toContain('from source ')
    expect(after.shared.text).toContain('from target ')
    // Stored as one more row of the existing document; Yjs merges on load.
    expect(await rowCount(leveldb(target), 'shared')).toBe(2)
  })

  it('deletes and compacts documents', async () => {
    const data = await dir()
    await seed(leveldb(data), sampleDocs())
    expect(await rowCount(leveldb(data), 'a')).toBeGreaterThan(1)

    const compacted = await runCli(['compact', 'a', '--data', data])
    expect(compacted.code).toBe(0)
    expect(compacted.stderr).toMatch(/^compacted 1 document in \d+\.\d s\n$/)
    expect(await rowCount(leveldb(data), 'a')).toBe(1)

    const all = await runCli(['compact', '--data', data])
    expect(all.code).toBe(0)
    expect(all.stderr).toMatch(/compacted 6 documents/)
    expect(await rowCount(leveldb(data), 'with space')).toBe(1)
    const before = await contents(leveldb(data))

    const deleted = await runCli(['delete', 'with space', 'two\nlines', '--data', data])
    expect(deleted.code).toBe(0)
    expect(deleted.stderr).toBe('deleted 2 documents\n')
    const left = await contents(leveldb(data))
    expect(Object.keys(left).sort()).toEqual(['a', 'back\\slash', 'notes/2024/plan', 'ünïcödé ✓ 日本'].sort())
    expect(left.a).toEqual(before.a)

    const missing = await runCli(['delete', 'a', 'nope', '--data', data])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('tandem: no document named "nope"\ndeleted 1 document\n')
  })

  it('exports an empty storage as a header and an end line', async () => {
    const data = await dir()
    const res = await runCli(['export', '--data', data])
    expect(res.code).toBe(0)
    const lines = res.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(JSON.parse(lines[1])).toEqual({ end: true, documents: 0 })
  })
})

describe('tandem export / import with Postgres', () => {
  it('moves LevelDB to Postgres and back through a real pipe, with the same documents', async () => {
    const { schema, drop } = await postgresSchema()
    cleanup.push(drop)
    const source = await dir()
    const back = await dir()
    await seed(leveldb(source), sampleDocs())
    const postgres: PersistenceOptions = { kind: 'postgres', databaseUrl: DATABASE_URL, schema }
    const pgFlags = ['--persistence', 'postgres', '--database-url', DATABASE_URL, '--database-schema', schema]

    const env = cleanEnv()
    const exporter = spawn(process.execPath, [CLI, 'export', '--data', source], { env, stdio: ['ignore', 'pipe', 'ignore'] })
    const importer = spawn(process.execPath, [CLI, 'import', ...pgFlags], { env, stdio: [exporter.stdout, 'ignore', 'pipe'] })
    exporter.stdout.destroy()
    let err = ''
    importer.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
    const codes = await Promise.all([exporter, importer].map((c) => new Promise<number | null>((resolve) => c.on('close', resolve))))
    expect(codes, err).toEqual([0, 0])
    expect(await contents(postgres)).toEqual(await contents(leveldb(source)))

    const listed = await runCli(['list', ...pgFlags])
    expect(listed.code).toBe(0)
    expect(listed.stdout.trimEnd().split('\n').sort()).toEqual(['a', 'back\\\\slash', 'notes/2024/plan', 'two\\nlines', 'with space', 'ünïcödé ✓ 日本'].sort())

    // The storage flags come from the environment just as well.
    const fromEnv = await runCli(['export'], { env: { TANDEM_PERSISTENCE: 'postgres', DATABASE_URL, TANDEM_DATABASE_SCHEMA: schema } })
    expect(fromEnv.code).toBe(0)
    expect(JSON.parse(fromEnv.stdout.trimEnd().split('\n')[0])).toMatchObject({ source: 'postgres' })
    const reimported = await runCli(['import', '--data', back], { input: fromEnv.stdout })
    expect(reimported.code).toBe(0)
    expect(await contents(leveldb(back))).toEqual(await contents(leveldb(source)))

    // Importing into Postgres again changes nothing.
    const again = await runCli(['import', ...pgFlags], { input: fromEnv.stdout })
    expect(again.stderr).toMatch(/6 already up to date/)
    expect(await rowCount(postgres, 'notes/2024/plan')).toBe(1)
  })

  it('names the connection string without its password when Postgres is unreachable', async () => {
    const res = await runCli(['list', '--persistence', 'postgres', '--database-url', 'postgres://me:hunter2@127.0.0.1:1/none'])
    expect(res.code).toBe(1)
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(res.stderr).toMatch(/^tandem: --database-url postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/none: /)
    expect(res.stderr).not.toContain('hunter2')
  })
})

describe('a damaged import', () => {
  async function exportOf (docs: Record<string, Uint8Array[]>): Promise<string[]> {
    const data = await dir()
    await seed(leveldb(data), docs)
    const res = await runCli(['export', '--data', data])
    return res.stdout.trimEnd().split('\n')
  }
  // The same documents every time (fixed client ids), so two exports of them are equal.
  const five = (): Record<string, Uint8Array[]> => Object.fromEntries(['d1', 'd2', 'd3', 'd4', 'd5'].map((n, i) => [n, [sampleUpdate(n, {}, i + 1)]]))

  it('from a file: names the line, exits 1, and imports nothing, even the documents before it', async () => {
    const lines = await exportOf(five())
    // Line 4 (the third document) cut off in the middle.
    lines[3] = lines[3].slice(0, 20)
    const file = join(await dir(), 'damaged.jsonl')
    await writeFile(file, lines.join('\n') + '\n')
    const target = await dir()
    const res = await runCli(['import', file, '--data', target])
    expect(res.code).toBe(1)
    expect(res.stderr).toBe(`tandem: ${file}: line 4: not valid JSON (damaged or cut off); nothing was imported\n`)
    expect(await contents(leveldb(target))).toEqual({})
  })

  it('from a file cut at a line boundary: the missing end line tells, nothing is imported', async () => {
    const lines = await exportOf(five())
    const file = join(await dir(), 'truncated.jsonl')
    await writeFile(file, lines.slice(0, 4).join('\n') + '\n')
    const target = await dir()
    const res = await runCli(['import', file, '--data', target])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/line 4: the input ends here, without its end line: the export is truncated; nothing was imported\n$/)
    expect(await contents(leveldb(target))).toEqual({})
  })

  it('from standard input: the documents before the bad line are imported, none after', async () => {
    const lines = await exportOf(five())
    // A document line whose update is not a Yjs update.
    lines[3] = JSON.stringify({ name: 'd3', update: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]).toString('base64') })
    const target = await dir()
    const res = await runCli(['import', '--data', target], { input: lines.join('\n') + '\n' })
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/^tandem: standard input: line 4: document "d3": "update" is not a Yjs update \(.*\); the 2 documents before it were imported, nothing after it\n$/)
    expect(res.stderr).not.toMatch(/\n\s+at /)
    expect(Object.keys(await contents(leveldb(target))).sort()).toEqual(['d1', 'd2'])

    // Fixed and imported again: the rest arrives, nothing is duplicated.
    const fixed = await exportOf(five())
    expect((await runCli(['import', '--data', target], { input: fixed.join('\n') + '\n' })).code).toBe(0)
    expect(Object.keys(await contents(leveldb(target))).sort()).toEqual(['d1', 'd2', 'd3', 'd4', 'd5'])
    expect(await rowCount(leveldb(target), 'd1')).toBe(1)
  })

  it('refuses a file that is not an export at all', async () => {
    const file = join(await dir(), 'notes.txt')
    await writeFile(file, 'hello\n')
    const res = await runCli(['import', file, '--data', await dir()])
    expect(res.code).toBe(1)
    expect(res.stderr).toBe(`tandem: ${file}: line 1: not a tandem export (the first line is not JSON); nothing was imported\n`)
    const missing = await runCli(['import', join(file, 'nope'), '--data', await dir()])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^tandem: cannot read .*nope: a part of the path is not a directory \(ENOTDIR\)\n$/)
  })
})

describe('a data directory held by a running server', () => {
  it('makes every command and a second serve say so in one line and exit 1 quickly', async () => {
    const data = await dir()
    const server = await spawnCli(['--data', data, '--log-level', 'warn'])
    cleanup.push(async () => {
      server.child.kill('SIGTERM')
      await server.exited
    })
    const runs: Array<[string, string[]]> = [
      ['list', ['list']],
      ['export', ['export']],
      ['import', ['import']],
      ['delete', ['delete', 'x']],
      ['compact', ['compact']],
      ['serve', ['serve', '--port', '0', '--host', '127.0.0.1']]
    ]
    for (const [what, args] of runs) {
      const input = what === 'import' ? '{"format":"tandem-export","version":1}\n{"end":true,"documents":0}\n' : ''
      const res = await runCli([...args, '--data', data], { input, timeoutMs: 15_000 })
      expect(res.code, what).toBe(1)
      expect(res.stdout, what).toBe('')
      expect(res.stderr, what).toBe(`tandem: the data directory ${data} is in use by another tandem process (LevelDB allows one process per directory): stop it, or use its HTTP API\n`)
      // About half a second here, most of it starting Node; generous for a loaded machine.
      expect(res.ms, what).toBeLessThan(15_000)
    }
  })
})
