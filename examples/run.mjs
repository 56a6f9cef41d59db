#!/usr/bin/env node
/**
 * npm run example -- <text-editor|drawing|presence|node-client|bot> [--port 8080] [--tandem-port 1234] [--host 127.0.0.1] [--persistence leveldb|memory]
 */
import { parseArgs } from 'node:util'

const EXAMPLES = ['text-editor', 'drawing', 'presence', 'node-client', 'bot']
const usage = `usage: npm run example -- <${EXAMPLES.join('|')}> [--port 8080] [--tandem-port 1234] [--host 127.0.0.1] [--persistence leveldb|memory]`

let args
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '8080' },
      'tandem-port': { type: 'string', default: '1234' },
      host: { type: 'string', default: '127.0.0.1' },
      persistence: { type: 'string', default: 'leveldb' },
      help: { type: 'boolean', short: 'h' }
    }
  })
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
const name = args.positionals[0]
if (args.values.help || !EXAMPLES.includes(name)) {
  console.error(usage)
  process.exit(args.values.help ? 0 : 2)
}

// The examples import the package by its own name (`tandem`, `tandem/client`),
// which Node resolves to the build in dist/.
try {
  await import('tandem')
} catch (err) {
  console.error(`Cannot load tandem from dist/ (${err.code ?? err.message}). Build it first: npm run build`)
  process.exit(1)
}

if (name === 'node-client' || name === 'bot') {
  const { main } = await import(`./${name}/main.mjs`)
  await main()
} else {
  const { startExample } = await import('./launcher.mjs')
  const example = await startExample(name, {
    host: args.values.host,
    port: Number(args.values.port),
    tandemPort: Number(args.values['tandem-port']),
    persistence: args.values.persistence
  })
  console.log(`${name}: open ${example.url} in two browser windows (tandem on port ${example.tandemPort}). Ctrl+C stops.`)
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    example.close().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
