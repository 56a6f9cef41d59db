/**
 * A bot in the same process as the server: it holds the document "chores"
 * open with the server-side document API, watches its checklist, and each
 * time an item is checked it appends a summary line ("2 of 3 done"). A
 * client (a stock-compatible tandem client, as a browser would be) checks
 * items and sees the bot's lines arrive like anyone else's edits.
 *
 *   npm run example -- bot
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createServer } from 'tandem'
import { connect } from 'tandem/client'

/**
 * Starts a bot on `server` for document `name`: returns a function that stops it.
 * @param {import('tandem').TandemServer} server
 */
export async function startBot (server, name) {
  const handle = await server.openDocument(name)
  const items = handle.doc.getArray('checklist')
  const summary = handle.doc.getArray('summary')
  let lastDone = countDone(items)
  const onChange = (_events, transaction) => {
    // The bot's own change is a transaction too: only react to others'.
    if (transaction.local) return
    const done = countDone(items)
    if (done <= lastDone) {
      lastDone = done
      return
    }
    lastDone = done
    const line = `${done} of ${items.length} done`
    // Resolves once the line is stored and relayed to every client.
    handle.change(() => { summary.push([line]) }).catch((err) => console.error(`bot: ${err.message}`))
  }
  items.observeDeep(onChange)
  return () => {
    items.unobserveDeep(onChange)
    handle.release()
  }
}

function countDone (items) {
  return items.toArray().filter((item) => item instanceof Y.Map && item.get('done') === true).length
}

/**
 * Runs the scenario; `log` receives each line. Resolves with the summary lines.
 * @param {{ log?: (line: string) => void, timeoutMs?: number }} [options]
 */
export async function main ({ log = console.log, timeoutMs = 20_000 } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-bot-'))
  const server = createServer({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'error' })
  const { port } = await server.listen()
  log(`tandem listening on ws://127.0.0.1:${port}`)
  const stopBot = await startBot(server, 'chores')
  log('bot: watching "chores"')

  const client = connect({ url: `ws://127.0.0.1:${port}`, doc: 'chores', WebSocket })
  const deadline = Date.now() + timeoutMs
  const waitFor = async (condition, what) => {
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  try {
    await client.synced()
    const list = client.doc.getArray('checklist')
    const summary = client.doc.getArray('summary')
    client.doc.transact(() => {
      for (const text of ['water the plants', 'take out the bins', 'call the landlord']) {
        const item = new Y.Map()
        item.set('text', text)
        item.set('done', false)
        list.push([item])
      }
    })
    log('client: added 3 items')
    for (let i = 0; i < 2; i++) {
      list.get(i).set('done', true)
      log(`client: checked "${list.get(i).get('text')}"`)
      await waitFor(() => summary.length === i + 1, `the bot's line ${i + 1}`)
      log(`client: sees the bot's line "${summary.get(i)}"`)
    }
    return summary.toArray()
  } finally {
    client.destroy()
    stopBot()
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
}
