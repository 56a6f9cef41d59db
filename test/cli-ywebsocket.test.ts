/**
 * Moving from the classic y-websocket server: a `YPERSISTENCE` directory
 * written by the real y-websocket 1.5.4 server (its own bin, y-leveldb 0.1)
 * through a stock client is read by `tandem list`, `export` and `serve`, and
 * what tandem imports into it is served by y-websocket again.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { client, fetchDoc, ROOT, spawnCli, tempDir, until } from './helpers.js'
import { exportedDocs, runCli, sampleUpdate } from './cli-helpers.js'

const YWS_BIN = join(ROOT, 'node_modules', 'y-websocket-ref', 'bin', 'server.js')

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().on('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** The reference server on `dir`; resolves once it listens. */
async function startYWebsocket (dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [YWS_BIN], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), YPERSISTENCE: dir },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await until(() => /running at/.test(output) || child.exitCode !== null, 'y-websocket to listen', 15_000)
  if (child.exitCode !== null) throw new Error(`y-websocket exited: ${output}`)
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  cleanup.push(stop)
  return { url: `ws://127.0.0.1:${port}`, stop }
}

/**
 * Waits until a fresh client that joins after every other one left (so the
 * server loads the document from its LevelDB) sees `expected`.
 */
async function persistedAs (url: string, name: string, expected: string): Promise<void> {
  await until(async () => {
    const probe = client(url, name)
    try {
      await probe.synced()
      const deadline = Date.now() + 1000
      while (probe.doc.getText('text').toString() !== expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      return probe.doc.getText('text').toString() === expected
    } finally {
      probe.destroy()
    }
  }, `${name} to be stored by y-websocket`, 15_000)
}

describe('a y-websocket YPERSISTENCE directory', () => {
  it('is listed, exported and served by tandem, and takes imports y-websocket can serve', async () => {
    const d = await tempDir('tandem-yws-')
    cleanup.push(d.remove)
    const data = join(d.path, 'yws-data')
    const names = ['notes/2024/plan', 'with space', 'ünïcödé ✓']

    // 1. Written by the reference server through the stock client.
    const yws = await startYWebsocket(data)
    for (const name of names) {
      const writer = client(yws.url, name)
      await writer.synced()
      writer.doc.getText('text').insert(0, `written to y-websocket: ${name}`)
      writer.doc.getMap('map').set('by', 'y-websocket')
      // Let the server receive the edit before leaving: a reader sees it.
      const reader = client(yws.url, name)
      await reader.synced()
      await until(() => reader.doc.getText('text').length > 0, 'the edit to be relayed')
      reader.destroy()
      writer.destroy()
    }
    for (const name of names) await persistedAs(yws.url, name, `written to y-websocket: ${name}`)
    await yws.stop()

    // 2. tandem list and export read it. The reference server keeps each
    // name as its URL path, percent-encoded; tandem decodes the path.
    const stored = names.map((n) => n.split('/').map(encodeURIComponent).join('/'))
    expect(stored).toEqual(['notes/2024/plan', 'with%20space', '%C3%BCn%C3%AFc%C3%B6d%C3%A9%20%E2%9C%93'])
    const listed = await runCli(['list', '--data', data])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout.trimEnd().split('\n').sort()).toEqual([...stored].sort())

    const exported = await runCli(['export', '--data', data, '--decode-names'])
    expect(exported.code, exported.stderr).toBe(0)
    expect(exported.stderr).toMatch(/exported 3 documents .*; 2 names percent-decoded\n$/)
    const docs = exportedDocs(exported.stdout)
    expect(docs.map((x) => x.name).sort()).toEqual([...names].sort())
    for (const { name, update } of docs) {
      const doc = new Y.Doc()
      Y.applyUpdate(doc, Buffer.from(update, 'base64'))
      expect(doc.getText('text').toString()).toBe(`written to y-websocket: ${name}`)
      expect(doc.getMap('map').get('by')).toBe('y-websocket')
    }

    // The decoded export, imported into a tandem directory, is served under
    // the names the same clients ask for.
    const moved = join(d.path, 'tandem-data')
    expect((await runCli(['import', '--data', moved], { input: exported.stdout })).code).toBe(0)
    const served = await spawnCli(['--data', moved, '--log-level', 'warn'])
    try {
      for (const name of names) {
        const reader = client(served.url, name)
        await reader.synced()
        await until(() => reader.doc.getText('text').toString() === `written to y-websocket: ${name}`, `${name} through a stock client`)
        reader.destroy()
      }
    } finally {
      served.child.kill('SIGTERM')
      expect(await served.exited).toBe(0)
    }

    // 3. tandem imports into it and compacts it.
    const extra = Buffer.from(sampleUpdate('imported by tandem')).toString('base64')
    const input = [
      '{"format":"tandem-export","version":1}',
      JSON.stringify({ name: 'from-tandem', update: extra }),
      '{"end":true,"documents":1}'
    ].join('\n') + '\n'
    const imported = await runCli(['import', '--data', data], { input })
    expect(imported.code, imported.stderr).toBe(0)
    expect((await runCli(['compact', '--data', data])).code).toBe(0)

    // 4. tandem serves the directory as it is (under the stored names).
    const tandem = await spawnCli(['--data', data, '--log-level', 'warn'])
    try {
      for (const [i, storedName] of stored.entries()) {
        expect((await fetchDoc(tandem.http, storedName)).getText('text').toString()).toBe(`written to y-websocket: ${names[i]}`)
      }
      expect((await fetchDoc(tandem.http, 'from-tandem')).getText('text').toString()).toBe('imported by tandem')
    } finally {
      tandem.child.kill('SIGTERM')
      expect(await tandem.exited).toBe(0)
    }

    // 5. And the reference server still serves everything, the import included.
    const again = await startYWebsocket(data)
    await persistedAs(again.url, 'from-tandem', 'imported by tandem')
    await persistedAs(again.url, names[0], `written to y-websocket: ${names[0]}`)
    await again.stop()
  }, 120_000)
})
