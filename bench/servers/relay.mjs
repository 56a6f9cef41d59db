// The physical limit for a relay: a `ws` server with no Yjs. Every frame goes
// to every other socket on the same URL path; a sync step 1 is answered with
// an empty sync step 2 so that clients count as synced.
// With --snapshot, sync step 1 is answered with that file's bytes as the
// step 2 payload instead: the cost of sending a stored document and nothing more.
//   node bench/servers/relay.mjs --port P [--host H] [--snapshot FILE]
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { WebSocketServer } from 'ws'
import * as encoding from 'lib0/encoding'

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? dflt : process.argv[i + 1]
}
const host = arg('host', '127.0.0.1')
const port = Number(arg('port', '0'))

// [messageSync, syncStep2, length 2, empty update (0 structs, 0 deletes)]
const EMPTY_STEP2 = Buffer.from([0, 1, 2, 0, 0])
const snapshot = arg('snapshot', null)
const STEP2 = snapshot === null ? EMPTY_STEP2 : step2(readFileSync(snapshot))

function step2 (update) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, update)
  return Buffer.from(encoding.toUint8Array(e))
}
const rooms = new Map()

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.end('ok')
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, req.url || '/'))
})

function join (ws, path) {
  let room = rooms.get(path)
  if (room === undefined) {
    room = new Set()
    rooms.set(path, room)
  }
  room.add(ws)
  ws.on('message', (data, isBinary) => {
    if (data.length >= 2 && data[0] === 0 && data[1] === 0) {
      ws.send(STEP2)
      return
    }
    for (const peer of room) {
      if (peer !== ws && peer.readyState === 1) peer.send(data, { binary: isBinary })
    }
  })
  ws.on('error', () => {})
  ws.on('close', () => {
    room.delete(ws)
    if (room.size === 0) rooms.delete(path)
  })
}

server.listen(port, host, () => console.log(`relay listening on ${host}:${server.address().port}`))
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate()
  server.close(() => process.exit(0))
})
