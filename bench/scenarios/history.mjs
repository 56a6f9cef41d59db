#!/usr/bin/env node
// Version history on a real editing trace: what 100 automatic versions of the
// automerge-paper document cost in storage (diffs and keyframes against whole
// snapshots), how long a version takes to store and to read, and how long a
// restore takes through the HTTP API.
//
// Standalone, not part of `npm run bench`:
//   npm run build && node bench/scenarios/history.mjs
// Reads ../shared/traces/automerge-paper.json.gz (or TANDEM_TRACES/…); skips
// with a message when it is absent. Postgres is measured when
// TANDEM_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
// answers; a schema of its own is dropped at the end.
import { existsSync, readFileSync, mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'

const ROOT = new URL('../../', import.meta.url).pathname
const DIST = join(ROOT, 'dist')
const VERSIONS = 100
const tracesDir = process.env.TANDEM_TRACES ?? join(ROOT, '..', 'shared', 'traces')
const tracePath = join(tracesDir, 'automerge-paper.json.gz')
const databaseUrl = process.env.TANDEM_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

if (!existsSync(tracePath)) {
  console.log(`history bench skipped: ${tracePath} not found (set TANDEM_TRACES to the folder holding automerge-paper.json.gz)`)
  process.exit(0)
}
if (!existsSync(join(DIST, 'src', 'index.js'))) {
  console.error('build first: npm run build')
  process.exit(1)
}

const { createServer } = await import(join(DIST, 'src/index.js'))
const { MemoryPersistence } = await import(join(DIST, 'persistence/memory.js'))
const { LeveldbPersistence } = await import(join(DIST, 'persistence/leveldb.js'))
const { PostgresPersistence } = await import(join(DIST, 'persistence/postgres.js'))

const kb = (n) => `${(n / 1024).toFixed(1)} KB`
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`
const ms = (n) => `${n.toFixed(1)} ms`

// ---------------------------------------------------------------- the trace

const trace = JSON.parse(gunzipSync(readFileSync(tracePath)).toString('utf8'))
const doc = new Y.Doc()
// A fixed client id, of the size random ones mostly have (32 bits, 5 bytes
// as a variable-length integer): ids are in every struct, so sizes follow them.
doc.clientID = 3_000_000_017
const text = doc.getText('text')
if (trace.startContent) text.insert(0, trace.startContent)
const every = Math.floor(trace.txns.length / VERSIONS)
const snapshots = []
for (let i = 0; i < trace.txns.length; i++) {
  doc.transact(() => {
    for (const [pos, del, ins] of trace.txns[i].patches) {
      if (del > 0) text.delete(pos, del)
      if (ins !== '') text.insert(pos, ins)
    }
  })
  // The last version is the end of the trace.
  if ((i + 1) % every === 0 && snapshots.length < VERSIONS - 1) snapshots.push({ update: Y.encodeStateAsUpdate(doc), text: text.toString() })
}
snapshots.push({ update: Y.encodeStateAsUpdate(doc), text: text.toString() })
if (text.toString() !== trace.endContent) throw new Error('the trace did not replay to its end content')
const wholeBytes = snapshots.reduce((sum, s) => sum + s.update.byteLength, 0)
console.log(`automerge-paper: ${trace.txns.length} edits, ${text.length} characters at the end, ${kb(snapshots.at(-1).update.byteLength)} as one update`)
console.log(`${VERSIONS} versions taken every ${every} edits; as whole snapshots they would take ${mb(wholeBytes)}\n`)

// ---------------------------------------------------------------- storage

const POLICY = { keepAuto: VERSIONS, maxKept: 1000, skipIfUnchanged: true }

async function fill (p, name) {
  const times = []
  for (const [i, s] of snapshots.entries()) {
    const t0 = performance.now()
    const result = await p.addVersion(name, { kind: 'auto', label: null, snapshot: s.update, authors: [], createdAt: Date.now() + i }, POLICY)
    times.push(performance.now() - t0)
    if (!('added' in result)) throw new Error(`version ${i} not added: ${JSON.stringify(result)}`)
  }
  const listed = (await p.listVersions(name, { limit: 1000 })).reverse()
  const reads = []
  for (const index of [0, 49, 99]) {
    const t0 = performance.now()
    const got = await p.getVersion(name, listed[index].id)
    reads.push({ index, ms: performance.now() - t0 })
    const check = new Y.Doc()
    Y.applyUpdate(check, got.update)
    if (check.getText('text').toString() !== snapshots[index].text) throw new Error(`version ${index} does not read back`)
  }
  times.sort((a, b) => a - b)
  return { storeMedian: times[Math.floor(times.length / 2)], storeMax: times.at(-1), reads }
}

function dirBytes (dir) {
  let sum = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    sum += entry.isDirectory() ? dirBytes(path) : statSync(path).size
  }
  return sum
}

const rows = []

{
  // The bytes handed to storage, read from the memory adapter's rows.
  const p = new MemoryPersistence()
  const result = await fill(p, 'paper')
  const stored = p.versions.get('paper').rows
  const data = stored.reduce((sum, r) => sum + r.storedBytes, 0)
  const keyframes = stored.filter((r) => r.keyframe).length
  rows.push({ storage: 'stored data (any adapter)', bytes: data, note: `${keyframes} keyframes, ${VERSIONS - keyframes} diffs`, ...result })
  await p.close()
}

{
  const dir = mkdtempSync(join(tmpdir(), 'tandem-history-bench-'))
  try {
    const p = await LeveldbPersistence.open(dir)
    const result = await fill(p, 'paper')
    await p.close()
    rows.push({ storage: 'LevelDB on disk', bytes: dirBytes(dir), note: 'whole directory, snappy-compressed, before LevelDB compacts its log', ...result })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

{
  const schema = `bench_history_${randomBytes(3).toString('hex')}`
  let p
  try {
    p = await PostgresPersistence.open({ connectionString: databaseUrl, schema, connectionTimeoutMs: 2000 })
  } catch (err) {
    console.log(`Postgres skipped: ${err.message}`)
  }
  if (p !== undefined) {
    try {
      const result = await fill(p, 'paper')
      const pg = (await import('pg')).default
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      try {
        const { rows: [r] } = await client.query(`SELECT sum(stored_bytes)::bigint AS data, pg_total_relation_size('"${schema}".versions') AS total FROM "${schema}".versions`)
        rows.push({ storage: 'Postgres table', bytes: Number(r.total), note: `table with TOAST and index; data ${kb(Number(r.data))}`, ...result })
      } finally {
        await client.end()
      }
    } finally {
      await p.close()
      const pg = (await import('pg')).default
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    }
  }
}

console.log('| storage | 100 versions | per version | vs whole snapshots | store (median / max) | read oldest / middle / newest | note |')
console.log('|---|---|---|---|---|---|---|')
for (const r of rows) {
  const reads = r.reads.map((x) => ms(x.ms)).join(' / ')
  console.log(`| ${r.storage} | ${mb(r.bytes)} | ${kb(r.bytes / VERSIONS)} | ${(wholeBytes / r.bytes).toFixed(1)}× smaller | ${ms(r.storeMedian)} / ${ms(r.storeMax)} | ${reads} | ${r.note} |`)
}

// ---------------------------------------------------------------- restore

const server = createServer({ port: 0, host: '127.0.0.1', persistence: 'memory', logLevel: 'silent', historyIdleMs: 0, maxDocumentBytes: 64 * 1024 * 1024, syncWorkBytesPerSec: 1024 * 1024 * 1024 })
const { port } = await server.listen()
const http = `http://127.0.0.1:${port}`
const half = snapshots[49]
const post = async (path, body) => {
  const t0 = performance.now()
  const res = await fetch(`${http}${path}`, { method: 'POST', body })
  const answer = await res.json()
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`)
  return { answer, ms: performance.now() - t0 }
}
try {
  await post('/docs/paper/update', Buffer.from(half.update))
  const { answer: version } = await post('/docs/paper/versions', '{"label":"half way"}')
  // The rest of the trace, as the edits after the version.
  const halfDoc = new Y.Doc()
  Y.applyUpdate(halfDoc, half.update)
  await post('/docs/paper/update', Buffer.from(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(halfDoc))))
  const restore = await post(`/docs/paper/versions/${version.id}/restore`)
  const after = await (await fetch(`${http}/docs/paper?format=json`)).json()
  if (after.text !== half.text) throw new Error('the restore did not bring the document back to the version')
  const undo = await post(`/docs/paper/versions/${restore.answer.backup.id}/restore`)
  const undone = await (await fetch(`${http}/docs/paper?format=json`)).json()
  if (undone.text !== text.toString()) throw new Error('restoring the backup did not undo the restore')
  console.log(`\nrestore of the half-way version (${half.text.length} characters) over the end of the trace (${text.length}), through HTTP, stored: ${ms(restore.ms)}`)
  console.log(`undo (restoring the backup): ${ms(undo.ms)}`)
} finally {
  await server.close()
}
