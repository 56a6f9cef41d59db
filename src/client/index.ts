/**
 * `tandem/client`: connect to a tandem server from a browser or Node, with
 * presence, last-writer-wins registers and a "saved" signal, on the stock
 * y-websocket provider.
 */
export { connect, ClientError } from './connect.js'
export type { ConnectOptions, TandemClient, ClientEvents, WebSocketConstructor } from './connect.js'
export { Presence, DEFAULT_AWAY_AFTER_MS } from './presence.js'
export type { Peer, PresenceChange, PresenceFields, PresenceOptions, PresenceStatus, ActivitySource } from './presence.js'
export { register } from './register.js'
export type { Register, RegisterChange, RegisterSchema, RegisterValue } from './register.js'
export type { SaveStatus } from './saved.js'
export { HistoryError } from './history.js'
export type { HistoryClient, Version } from './history.js'
