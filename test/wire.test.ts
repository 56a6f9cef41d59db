/** The broadcast frame is byte-for-byte what ws itself would send. */
import { describe, expect, it } from 'vitest'
import * as ws from 'ws'
import { binaryFrame, corked, writeFramed } from '../src/wire.js'
import { until } from './helpers.js'

describe('binaryFrame', () => {
  it.each([0, 1, 125, 126, 127, 65535, 65536, 200_000])('matches ws framing for %i payload bytes', (length) => {
    const payload = Buffer.alloc(length, 7)
    // ws's own framing, through its Sender (a named export its types omit).
    const Sender = (ws as unknown as { Sender: { frame: (data: Buffer, options: object) => Buffer[] } }).Sender
    const expected = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false }))
    expect(Buffer.compare(binaryFrame(payload), expected)).toBe(0)
  })
})

/** A real ws server and a client connected to it over loopback; `received` collects the client's messages. */
async function connectedPair (): Promise<{ socket: import('ws').WebSocket; received: Buffer[]; close: () => Promise<void> }> {
  const { WebSocketServer } = ws as unknown as { WebSocketServer: typeof import('ws').WebSocketServer }
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const port = (server.address() as import('node:net').AddressInfo).port
  const serverSide = new Promise<import('ws').WebSocket>((resolve) => server.once('connection', resolve))
  const client = new ws.WebSocket(`ws://127.0.0.1:${port}`)
  const received: Buffer[] = []
  client.on('message', (data: Buffer) => { received.push(data) })
  const socket = await serverSide
  return {
    socket,
    received,
    close: async () => {
      client.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

describe('writeFramed and the ws internals it relies on', () => {
  it('finds _socket and an idle _sender on a server-side ws socket (fails loudly if ws renames them)', async () => {
    const { socket, received, close } = await connectedPair()
    const internals = socket as unknown as { _socket?: { write: unknown }; _sender?: { _state: unknown } }
    expect(typeof internals._socket?.write).toBe('function')
    expect(internals._sender?._state).toBe(0)
    // The frame written straight to the socket arrives as one binary message.
    const payload = new Uint8Array([1, 2, 3, 4, 5])
    writeFramed(socket, binaryFrame(payload), payload)
    await until(() => received.length === 1, 'the frame')
    expect([...received[0]]).toEqual([1, 2, 3, 4, 5])
    await close()
  })
})

describe('corked', () => {
  it('holds what is sent inside it on the socket until it returns, and everything arrives in order', async () => {
    const { socket, received, close } = await connectedPair()
    const tcp = (socket as unknown as { _socket: import('node:net').Socket })._socket
    let heldInside = -1
    corked(socket, () => {
      socket.send(new Uint8Array([1]))
      writeFramed(socket, binaryFrame(new Uint8Array([2])), new Uint8Array([2]))
      socket.send(new Uint8Array([3]))
      // Nothing left for the kernel yet: all three frames wait in the socket.
      heldInside = tcp.writableCorked
    })
    expect(heldInside).toBeGreaterThan(0)
    expect(tcp.writableCorked).toBe(0)
    await until(() => received.length === 3, 'the three frames')
    expect(received.map((b) => b[0])).toEqual([1, 2, 3])
    await close()
  })
})
