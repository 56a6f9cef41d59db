/**
 * A TCP hop the test owns, in front of a real service (Postgres, Redis), so a
 * test can break the network between tandem and that service without touching
 * the service itself, which other tests share.
 *
 * - `cut()`: every link is dropped and new ones are refused, as when the host
 *   goes away or a firewall rejects.
 * - `hang()`: links stay open but nothing is forwarded in either direction,
 *   and new links are accepted but held too, as when the network stalls or a
 *   packet filter drops silently. Neither side learns anything; only a
 *   timeout can tell.
 * - `restore()`: forwards again. Bytes held during a hang are delivered first,
 *   in order, the way TCP delivers a backlog once the path comes back.
 *
 * A side that closes its socket closes the other side too, in every mode: a
 * client that gives up on a hung link must not leave sockets behind.
 */
import net from 'node:net'

export type ProxyMode = 'up' | 'cut' | 'hang'

export interface TcpProxy {
  /** The port on 127.0.0.1 to connect to instead of the service's. */
  readonly port: number
  readonly mode: ProxyMode
  /** Links currently open (each a client socket and its upstream socket). */
  readonly links: number
  /** Local ports of the upstream sockets: how the service sees this proxy's links (e.g. `pg_stat_activity.client_port`). */
  upstreamPorts(): number[]
  cut(): void
  hang(): void
  restore(): void
  /** Drops every link and stops listening. Safe to call twice. */
  close(): Promise<void>
}

interface Link {
  downstream: net.Socket
  upstream: net.Socket
  /** Chunks held during a hang, per direction, delivered by `restore()`. */
  held: Array<[net.Socket, Buffer]>
}

/** Listens on 127.0.0.1:0 and forwards every connection to `targetHost:targetPort`. */
export async function startTcpProxy (targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: ProxyMode = 'up'
  const links = new Set<Link>()
  let closing: Promise<void> | null = null

  const server = net.createServer((downstream) => {
    if (mode === 'cut' || closing !== null) {
      downstream.destroy()
      return
    }
    const upstream = net.connect(targetPort, targetHost)
    const link: Link = { downstream, upstream, held: [] }
    links.add(link)
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (mode === 'hang' || link.held.length > 0) link.held.push([to, chunk])
        else to.write(chunk)
      })
    }
    forward(downstream, upstream)
    forward(upstream, downstream)
    const drop = (): void => {
      links.delete(link)
      link.held.length = 0
      downstream.destroy()
      upstream.destroy()
    }
    for (const socket of [downstream, upstream]) {
      // A reset is expected when the test cuts; the other side learns by the close.
      socket.on('error', () => {})
      socket.on('close', drop)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const dropAll = (): void => {
    for (const link of [...links]) {
      link.downstream.destroy()
      link.upstream.destroy()
    }
  }

  return {
    port: (server.address() as net.AddressInfo).port,
    get mode () { return mode },
    get links () { return links.size },
    upstreamPorts () {
      return [...links].map((l) => l.upstream.localPort).filter((p): p is number => typeof p === 'number')
    },
    cut () {
      mode = 'cut'
      dropAll()
    },
    hang () {
      if (mode === 'up') mode = 'hang'
    },
    restore () {
      mode = 'up'
      for (const link of links) {
        for (const [to, chunk] of link.held.splice(0)) if (!to.destroyed) to.write(chunk)
      }
    },
    close () {
      if (closing === null) {
        closing = new Promise<void>((resolve) => {
          dropAll()
          server.close(() => resolve())
        })
      }
      return closing
    }
  }
}
