/**
 * What a room needs from one of its members (a client socket): a way to send,
 * to be closed, and who is behind it. The room never sees a `Connection`, so
 * everything a connection does with its socket stays in `connection.ts`.
 */
export interface Member {
  /**
   * Who is behind the member, for awareness ownership: the authenticated user
   * (`user:<sub>`), or without auth the client address (`ip:<address>`).
   */
  readonly identity: string
  /** Queues one message. */
  send(frame: Uint8Array): void
  /**
   * Writes a message already framed by `binaryFrame` (a broadcast frames
   * once for all recipients); `frame` is the same message unframed.
   */
  sendFramed(wire: Buffer, frame: Uint8Array): void
  /** Closes the member with a WebSocket close code. Safe to call twice. */
  close(code: number, reason: string): void
}
