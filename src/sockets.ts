import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { IpConnectionCounter } from './limits.js'
import { socketAddress } from './request.js'

export interface SocketGuardOptions {
  /**
   * Open sockets per peer address; null leaves counting to the upgrade
   * (behind a trusted proxy every socket comes from the proxy's address).
   */
  counter: IpConnectionCounter | null
  /** A socket without a complete request (or upgrade) after this long is destroyed. */
  idleSocketTimeoutMs: number
  /** Called for each socket refused at the per-address limit, with its address. */
  onRefused: (address: string) => void
}

/**
 * Guards an HTTP server we own against sockets that never speak: every
 * socket counts against its address from the moment it connects (so idle
 * sockets cannot exhaust file descriptors), and one that has not completed a
 * request within `idleSocketTimeoutMs` is destroyed. Requests and upgrades
 * end the wait; afterwards Node's keep-alive timeout and the WebSocket ping
 * bound the socket. Returns a function that removes the guard.
 *
 * The waiting sockets are checked by one sweep (every quarter of the
 * timeout, at most every second), which runs only while any socket waits:
 * no timer per socket.
 */
export function guardSockets (server: HttpServer, options: SocketGuardOptions): () => void {
  // The address each socket counts against; shared listeners, no closures per socket.
  const addresses = new WeakMap<Socket, string>()
  // Sockets without a request yet, by when they connected (in that order).
  const waiting = new Map<Socket, number>()
  const sweepMs = Math.max(10, Math.min(1000, Math.floor(options.idleSocketTimeoutMs / 4)))
  let sweep: NodeJS.Timeout | undefined
  function destroyIdle (): void {
    const cutoff = performance.now() - options.idleSocketTimeoutMs
    for (const [socket, since] of waiting) {
      if (since > cutoff) break
      waiting.delete(socket)
      socket.destroy()
    }
    if (waiting.size === 0) stopSweep()
  }
  function stopSweep (): void {
    clearInterval(sweep)
    sweep = undefined
  }
  function onSocketClose (this: Socket): void {
    waiting.delete(this)
    const address = addresses.get(this)
    if (address === undefined) return
    addresses.delete(this)
    options.counter?.release(address)
  }
  const onConnection = (socket: Socket): void => {
    if (options.counter !== null) {
      const address = socketAddress(socket)
      if (!options.counter.acquire(address)) {
        options.onRefused(address)
        refuse(socket, options.counter)
        return
      }
      addresses.set(socket, address)
    }
    waiting.set(socket, performance.now())
    if (sweep === undefined) {
      sweep = setInterval(destroyIdle, sweepMs)
      sweep.unref()
    }
    socket.once('close', onSocketClose)
  }
  const onSpoke = (req: IncomingMessage): void => {
    waiting.delete(req.socket as Socket)
  }
  server.on('connection', onConnection)
  // Prepended: these only end a wait, before any handler can take long.
  server.prependListener('request', onSpoke)
  server.prependListener('upgrade', onSpoke)
  return () => {
    server.off('connection', onConnection)
    server.off('request', onSpoke)
    server.off('upgrade', onSpoke)
    stopSweep()
    waiting.clear()
  }
}

/** Answers 429 at once (a client reads it as the answer to its request) and closes. */
function refuse (socket: Socket, counter: IpConnectionCounter): void {
  const body = JSON.stringify({ error: { code: 'TOO_MANY_CONNECTIONS', message: `more than ${counter.limit} connections from this address` } })
  socket.on('error', () => {})
  socket.end(`HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  // A peer that never reads must not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref()
}
