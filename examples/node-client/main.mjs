/**
 * Two Node clients edit a shared list while the server is down, then merge
 * when it comes back: text edits interleave, and the conflicting "owner"
 * register settles on the same value everywhere.
 *
 *   npm run example -- node-client
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import WebSocket from 'ws'
import { createServer } from 'tandem'
import { connect } from 'tandem/client'

/**
 * Runs the scenario; `log` receives each line. Resolves with the final state.
 * @param {{ log?: (line: string) => void, timeoutMs?: number }} [options]
 */
export async function main ({ log = console.log, timeoutMs = 20_000 } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-node-client-'))
  const start = async (port) => {
    const server = createServer({ host: '127.0.0.1', port, dataDir, logLevel: 'error' })
    const info = await server.listen()
    return { server, port: info.port }
  }
  const deadline = Date.now() + timeoutMs
  const within = (promise, what) => Promise.race([
    promise,
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), Math.max(0, deadline - Date.now())).unref())
  ])

  let { server, port } = await start(0)
  log(`tandem listening on ws://127.0.0.1:${port} (LevelDB in ${dataDir})`)
  const open = (name) => {
    const client = connect({ url: `ws://127.0.0.1:${port}`, doc: 'shopping', WebSocket, maxBackoffMs: 500 })
    client.presence.set({ name })
    client.on('status', (status) => log(`  [${name}] ${status}`))
    return client
  }
  const alice = open('alice')
  const bob = open('bob')
  try {
    const list = (client) => client.doc.getText('list')
    const meta = (client) => client.register('meta')

    await within(Promise.all([alice.synced(), bob.synced()]), 'the first sync')
    list(alice).insert(0, 'Shopping list\n')
    meta(alice).set('owner', 'alice')
    await within(alice.saved(), 'the first save')
    log('alice wrote the heading; it is stored')

    log('stopping the server…')
    await server.close()
    await within(Promise.all([alice, bob].map((c) => c.status === 'offline' ? undefined : new Promise((resolve) => {
      const off = c.on('status', (s) => { if (s === 'offline') { off(); resolve() } })
    }))), 'both clients to notice')

    log('both edit while offline:')
    list(alice).insert(list(alice).length, '- milk\n- coffee\n')
    list(bob).insert(list(bob).length, '- bread\n')
    meta(alice).set('owner', 'alice')
    meta(bob).set('owner', 'bob')
    log(`  alice sees ${JSON.stringify(list(alice).toString())}, owner ${meta(alice).get('owner')}`)
    log(`  bob   sees ${JSON.stringify(list(bob).toString())}, owner ${meta(bob).get('owner')}`)

    log(`restarting the server on port ${port} with the same data…`)
    ;({ server } = await start(port))
    // The providers reconnect on their own (exponential backoff, capped at 500 ms here).
    await within(Promise.all([alice.saved(), bob.saved()]), 'both clients to reconnect and save')
    await within(new Promise((resolve) => {
      const check = () => list(alice).toString() === list(bob).toString() && meta(alice).get('owner') === meta(bob).get('owner')
      if (check()) return resolve()
      const timer = setInterval(() => { if (check()) { clearInterval(timer); resolve() } }, 20)
    }), 'the clients to converge')

    const text = list(alice).toString()
    const owner = meta(alice).get('owner')
    log('merged on both clients:')
    for (const line of text.trimEnd().split('\n')) log(`  | ${line}`)
    const ids = `alice is client ${alice.doc.clientID}, bob is client ${bob.doc.clientID}`
    log(`owner register: ${owner} on both (${ids}: of two concurrent sets the higher client id wins)`)
    return { text, owner, same: text === list(bob).toString() }
  } finally {
    alice.destroy()
    bob.destroy()
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
