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
  const timers = new WeakMap<Socket, NodeJS.Timeout>()
  const onConnection = (socket: Socket): void => {
    const address = socketAddress(socket)
    if (options.counter !== null) {
      if (!options.counter.acquire(address)) {
        options.onRefused(address)
        refuse(socket, options.counter)
        return
      }
      const counter = options.counter
      socket.once('close', () => counter.release(address))
    }
    const timer = setTimeout(() => socket.destroy(), options.idleSocketTimeoutMs)
    timer.unref()
    timers.set(socket, timer)
    socket.once('close', () => clearTimeout(timer))
  }
  const onSpoke = (req: IncomingMessage): void => {
    const timer = timers.get(req.socket as Socket)
    if (timer !== undefined) {
      clearTimeout(timer)
      timers.delete(req.socket as Socket)
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
