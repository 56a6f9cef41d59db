/**
 * A complete, unmasked WebSocket binary frame (RFC 6455 §5.2) around
 * `payload`, built once so a broadcast writes the same bytes to every socket
 * instead of framing the message again per recipient.
 */
export function binaryFrame (payload: Uint8Array): Buffer {
  const length = payload.byteLength
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(headerLength + length)
  frame[0] = 0x82 // FIN + opcode 2 (binary)
  if (length < 126) {
    frame[1] = length
  } else if (length < 65536) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.set(payload, headerLength)
  return frame
}

/**
 * The two `ws` internals `writeFramed` relies on. They are not public API;
 * `test/wire.test.ts` fails loudly if a `ws` release renames them, and
 * `writeFramed` falls back to `ws.send` whenever they are not as expected.
 */
interface WsInternals {
  /** The underlying TCP socket. */
  _socket?: { write: (b: Buffer) => boolean; cork?: () => void; uncork?: () => void }
  /** The frame sender; `_state` 0 means idle (not compressing or reading a Blob). */
  _sender?: { _state: number }
}

/**
 * Writes a frame built by `binaryFrame` to a `ws` WebSocket. ws writes a
 * frame straight to the socket unless its sender is busy (compressing, which
 * is off, or reading a Blob, which we never send); only then must the frame
 * go through ws's queue (as `payload`) to keep the order.
 */
export function writeFramed (ws: { send: (data: Uint8Array, options: { binary: boolean }) => void }, wire: Buffer, payload: Uint8Array): void {
  const internals = ws as unknown as WsInternals
  if (internals._socket !== undefined && internals._sender?._state === 0) internals._socket.write(wire)
  else ws.send(payload, { binary: true })
}

/**
 * Runs `fn` with the TCP socket under a `ws` WebSocket corked, so the frames
 * it sends leave in one write (one segment for the peer to read, not one per
 * frame). Without the socket (a `ws` release that renamed it), just runs `fn`.
 */
export function corked (ws: object, fn: () => void): void {
  const socket = (ws as WsInternals)._socket
  if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') {
    fn()
    return
  }
  socket.cork()
  try {
    fn()
  } finally {
    socket.uncork()
  }
}
