// Hocuspocus 3.x as a user would run it: default configuration, in memory or
// with the SQLite extension (its default 2 s store debounce included).
//   node bench/servers/hocuspocus.mjs --port P [--host H] [--sqlite FILE]
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? dflt : process.argv[i + 1]
}
const sqlite = arg('sqlite', null)

const server = new Server({
  port: Number(arg('port', '0')),
  address: arg('host', '127.0.0.1'),
  quiet: true,
  extensions: sqlite ? [new SQLite({ database: sqlite })] : []
})
await server.listen()
console.log(`hocuspocus listening on ${server.address.port}`)
