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
  /**
   * Queues one message. A sync answer (`syncAnswer: true`, which can be as
   * large as the document) is allowed on top of the member's send-buffer
   * limit, so a large document never locks out the clients that open it.
   */
  send(frame: Uint8Array, options?: { syncAnswer?: boolean }): void
  /**
   * Writes a message already framed by `binaryFrame` (a broadcast frames
   * once for all recipients); `frame` is the same message unframed.
   */
  sendFramed(wire: Buffer, frame: Uint8Array): void
  /**
   * Whether the member may make the server encode `costBytes` of document
   * state for it now (its sync-work budget); false when it has used it up.
   */
  allowWork(costBytes: number): boolean
  /** Closes the member with a WebSocket close code. Safe to call twice. */
  close(code: number, reason: string): void
}
