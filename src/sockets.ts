import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
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
 * clear the timer; afterwards Node's keep-alive timeout and the WebSocket
 * ping bound the socket. Returns a function that removes the guard.
 */
export function guardSockets (server: HttpServer, options: SocketGuardOptions): () => void {
  // One record per socket and shared listeners: no closures kept per socket.
  const guarded = new WeakMap<Socket, { address: string; timer: NodeJS.Timeout | undefined }>()
  function onSocketClose (this: Socket): void {
    const entry = guarded.get(this)
    if (entry === undefined) return
    guarded.delete(this)
    clearTimeout(entry.timer)
    options.counter?.release(entry.address)
  }
  function destroyIdle (socket: Socket): void {
    socket.destroy()
  }
  const onConnection = (socket: Socket): void => {
    const address = socketAddress(socket)
    if (options.counter !== null && !options.counter.acquire(address)) {
      options.onRefused(address)
      refuse(socket, options.counter)
      return
    }
    const timer = setTimeout(destroyIdle, options.idleSocketTimeoutMs, socket)
    timer.unref()
    guarded.set(socket, { address, timer })
    socket.once('close', onSocketClose)
  }
  const onSpoke = (req: IncomingMessage): void => {
    const entry = guarded.get(req.socket as Socket)
    if (entry?.timer !== undefined) {
      clearTimeout(entry.timer)
      entry.timer = undefined
    }
  }
  server.on('connection', onConnection)
  // Prepended: these only clear a timer, before any handler can take long.
  server.prependListener('request', onSpoke)
  server.prependListener('upgrade', onSpoke)
  return () => {
    server.off('connection', onConnection)
    server.off('request', onSpoke)
    server.off('upgrade', onSpoke)
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
