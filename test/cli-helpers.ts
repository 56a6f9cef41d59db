/**
 * Fixtures for the command-line tests: the built CLI as a child process,
 * documents written through the real storage adapters, and Postgres schemas
 * that are dropped after each test.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import * as Y from 'yjs'
import { createPersistence, type PersistenceOptions } from '../persistence/index.js'
import { CLI } from './helpers.js'

export const DATABASE_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/**
 * Runs `tandem <args>` to completion. The environment is cleared of every
 * variable tandem reads, so a developer's shell cannot change the outcome.
 */
export async function runCli (args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  const started = Date.now()
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...cleanEnv(), ...options.env },
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin.on('error', () => {})
  child.stdin.end(options.input ?? '')
  const timeoutMs = options.timeoutMs ?? 30_000
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
  clearTimeout(timer)
  return { code, signal, stdout, stderr, ms: Date.now() - started }
}

/** The parent's environment without the variables tandem reads. */
export function cleanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const key of Object.keys(env)) {
    if (key.startsWith('TANDEM_') || ['PORT', 'HOST', 'DATABASE_URL', 'REDIS_URL'].includes(key)) delete env[key]
  }
  return env
}

/** A document with some text and map entries, as one update. */
export function sampleUpdate (text: string, entries: Record<string, number> = {}, clientID?: number): Uint8Array {
  const doc = new Y.Doc()
  if (clientID !== undefined) doc.clientID = clientID
  doc.getText('text').insert(0, text)
  for (const [k, v] of Object.entries(entries)) doc.getMap('map').set(k, v)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

/** Stores `docs` (name → updates) through the real adapter, then closes it. */
export async function seed (options: PersistenceOptions, docs: Record<string, Uint8Array[]>): Promise<void> {
  const storage = await createPersistence(options)
  try {
    for (const [name, updates] of Object.entries(docs)) {
      for (const update of updates) await storage.store(name, update)
    }
  } finally {
    await storage.close()
  }
}

/** Every stored document as plain JSON (text and map), read through the real adapter. */
export async function contents (options: PersistenceOptions): Promise<Record<string, unknown>> {
  const storage = await createPersistence(options)
  const out: Record<string, unknown> = {}
  try {
    for (let after: string | undefined, page: string[]; (page = await storage.list({ after, limit: 100 })).length > 0; after = page[page.length - 1]) {
      for (const name of page) out[name] = docJson(await storage.load(name))
    }
  } finally {
    await storage.close()
  }
  return out
}

/** Number of stored rows of a document. */
export async function rowCount (options: PersistenceOptions, name: string): Promise<number> {
  const storage = await createPersistence(options)
  try {
    return (await storage.load(name)).length
  } finally {
    await storage.close()
  }
}

export function docJson (updates: Uint8Array[]): unknown {
  const doc = new Y.Doc()
  doc.transact(() => { for (const u of updates) Y.applyUpdate(doc, u) })
  const map = doc.getMap('map').toJSON()
  const json = {
    text: doc.getText('text').toString(),
    map: Object.fromEntries(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)))
  }
  doc.destroy()
  return json
}

/** A Postgres schema of its own for one test; `drop` removes it and everything in it. */
export async function postgresSchema (): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `cli_${randomBytes(5).toString('hex')}`
  return {
    schema,
    drop: async () => {
      const admin = new pg.Client({ connectionString: DATABASE_URL })
      await admin.connect()
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      } finally {
        await admin.end()
      }
    }
  }
}

/** The document lines of an export, parsed. */
export function exportedDocs (text: string): Array<{ name: string; update: string }> {
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  return lines.filter((l) => typeof l.name === 'string') as Array<{ name: string; update: string }>
}
