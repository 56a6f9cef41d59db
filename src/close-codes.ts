/**
 * Every WebSocket close code tandem sends, with its meaning. The README has
 * the same table. Codes 4000–4999 are ours. The stock y-websocket client
 * reconnects after any close except 4400–4499, which it treats as final:
 * conditions the client can heal (a refreshed token) use 4000–4399.
 */
export const CloseCode = {
  /** The server is shutting down; reconnect (to another instance). */
  GOING_AWAY: 1001,
  /** A frame could not be decoded as a y-websocket message. */
  PROTOCOL_ERROR: 1002,
  /** A message decoded but its content is invalid (e.g. a Yjs update that does not apply). */
  INVALID_DATA: 1007,
  /** A policy was violated: rate limit, forbidden write, slow consumer. */
  POLICY_VIOLATION: 1008,
  /** A frame was larger than `maxMessageBytes`. */
  MESSAGE_TOO_BIG: 1009,
  /** The server failed: the document could not be loaded or a write was not stored. The client reconnects and re-syncs, so nothing it holds is lost. */
  INTERNAL_ERROR: 1011,
  /** The connection's token expired; the stock client reconnects (with `provider.params.token` refreshed). */
  TOKEN_EXPIRED: 4001,
  /** The document was deleted through the HTTP API. */
  DOC_DELETED: 4410,
  /** No pong arrived within the ping interval: the peer is considered dead. */
  PING_TIMEOUT: 4408
} as const

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]
