/**
 * tandem: a self-hosted, CRDT-first collaboration backend on Yjs.
 *
 *   import { createServer } from 'tandem'
 *   const server = createServer({ port: 1234, dataDir: './data' })
 *   await server.listen()
 */
export { createServer, type TandemServer } from './server.js'
export type { DocumentHandle } from './documents.js'
export { applyJsonPatch, JsonPatchError, type JsonPatchOperation } from './json-patch/index.js'
export { DEFAULTS, resolveConfig, type ServerOptions, type Config, type Hooks, type AuthResult, type Access, type PersistenceKind } from './config.js'
export { CloseCode, type CloseCodeValue } from './close-codes.js'
export { ErrorCodes, TandemError, type ErrorCode } from './errors.js'
export { ProtocolError, MessageType } from './protocol.js'
export type { Persistence, VersionStore, VersionInfo, VersionKind, NewVersion, VersionPolicy, AddVersionResult } from '../persistence/types.js'
export type { HistoryApi, Charge } from './history/service.js'
export { StorageError } from '../persistence/types.js'
export { createPersistence } from '../persistence/index.js'
export type { Fanout, FanoutRoom } from './fanout/types.js'
export { signToken, accessFor, AuthError, type Claims } from './auth.js'
