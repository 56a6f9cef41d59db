/**
 * Messages exchanged between tandem instances on a document's channel, as pure
 * functions over `Uint8Array`: no I/O, no Yjs document. Every decode error is a
 * `FanoutMessageError`.
 *
 *   message             = varuint type, varstring from, varstring to, payload
 *                         from: instance id of the sender (receivers drop their own echoes)
 *                         to:   instance id of the only receiver, or '' for every instance
 *   update (0)          = varUint8Array update
 *   awareness (1)       = varUint8Array awarenessUpdate
 *   sync-request (2)    = varUint8Array stateVector
 *   sync-reply (3)      = varUint8Array update, varUint8Array stateVector
 *                         update: what the requester lacks (empty when nothing);
 *                         stateVector: the replier's, so the requester can send back
 *                         what the replier lacks (empty: no answer wanted)
 *   awareness-query (4) = (no payload)
 *   awareness (5)       = varUint8Array awarenessUpdate, varuint n, n × (varuint clientId, varstring identity)
 *                         the same as (1), plus who controls each of the sender's own
 *                         clients (the user, or the address without auth): a client
 *                         that moves to another instance is recognised by it, and a
 *                         user on another instance cannot claim someone else's id
 *
 * Unknown types decode to `{ type: 'unknown' }` so that instances running a
 * newer version can add types during a rolling upgrade.
 */
import * as decoding from 'lib0/decoding'
import { decodeAwarenessUpdate, encodeAwarenessUpdate } from '../protocol.js'
import * as encoding from 'lib0/encoding'

export const FanoutMessageType = {
  UPDATE: 0,
  AWARENESS: 1,
  SYNC_REQUEST: 2,
  SYNC_REPLY: 3,
  AWARENESS_QUERY: 4,
  AWARENESS_OWNED: 5
} as const

/** Who controls each of the sender's own awareness clients. */
export type AwarenessOwners = ReadonlyArray<{ clientId: number; identity: string }>

export type FanoutMessageBody =
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array; owners?: AwarenessOwners }
  | { type: 'sync-request'; stateVector: Uint8Array }
  | { type: 'sync-reply'; update: Uint8Array; stateVector: Uint8Array }
  | { type: 'awareness-query' }

export type FanoutMessage = FanoutMessageBody & { from: string; to: string }

export type DecodedFanoutMessage =
  | FanoutMessage
  | { type: 'unknown'; messageType: number; from: string; to: string }

/** A message that is not well formed (truncated, or trailing bytes). */
export class FanoutMessageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'FanoutMessageError'
  }
}

export function encodeFanoutMessage (message: FanoutMessage): Uint8Array {
  const encoder = encoding.createEncoder()
  switch (message.type) {
    case 'update':
      header(encoder, FanoutMessageType.UPDATE, message)
      encoding.writeVarUint8Array(encoder, message.update)
      break
    case 'awareness':
      if (message.owners === undefined) {
        header(encoder, FanoutMessageType.AWARENESS, message)
        encoding.writeVarUint8Array(encoder, message.update)
        break
      }
      header(encoder, FanoutMessageType.AWARENESS_OWNED, message)
      encoding.writeVarUint8Array(encoder, message.update)
      encoding.writeVarUint(encoder, message.owners.length)
      for (const { clientId, identity } of message.owners) {
        encoding.writeVarUint(encoder, clientId)
        encoding.writeVarString(encoder, identity)
      }
      break
    case 'sync-request':
      header(encoder, FanoutMessageType.SYNC_REQUEST, message)
      encoding.writeVarUint8Array(encoder, message.stateVector)
      break
    case 'sync-reply':
      header(encoder, FanoutMessageType.SYNC_REPLY, message)
      encoding.writeVarUint8Array(encoder, message.update)
      encoding.writeVarUint8Array(encoder, message.stateVector)
      break
    case 'awareness-query':
      header(encoder, FanoutMessageType.AWARENESS_QUERY, message)
      break
  }
  return encoding.toUint8Array(encoder)
}

function header (encoder: encoding.Encoder, type: number, message: FanoutMessage): void {
  encoding.writeVarUint(encoder, type)
  encoding.writeVarString(encoder, message.from)
  encoding.writeVarString(encoder, message.to)
}

/**
 * Decodes one message. Byte arrays in the result are views into `data`; copy
 * them before keeping them beyond the current call if `data` may be reused.
 */
export function decodeFanoutMessage (data: Uint8Array): DecodedFanoutMessage {
  const decoder = decoding.createDecoder(data)
  let message: DecodedFanoutMessage
  try {
    const messageType = decoding.readVarUint(decoder)
    const from = decoding.readVarString(decoder)
    const to = decoding.readVarString(decoder)
    switch (messageType) {
      case FanoutMessageType.UPDATE:
        message = { type: 'update', from, to, update: decoding.readVarUint8Array(decoder) }
        break
      case FanoutMessageType.AWARENESS:
        message = { type: 'awareness', from, to, update: decoding.readVarUint8Array(decoder) }
        break
      case FanoutMessageType.SYNC_REQUEST:
        message = { type: 'sync-request', from, to, stateVector: decoding.readVarUint8Array(decoder) }
        break
      case FanoutMessageType.SYNC_REPLY: {
        const update = decoding.readVarUint8Array(decoder)
        message = { type: 'sync-reply', from, to, update, stateVector: decoding.readVarUint8Array(decoder) }
        break
      }
      case FanoutMessageType.AWARENESS_QUERY:
        message = { type: 'awareness-query', from, to }
        break
      case FanoutMessageType.AWARENESS_OWNED: {
        const update = decoding.readVarUint8Array(decoder)
        const count = decoding.readVarUint(decoder)
        if (count > data.length) throw new FanoutMessageError('owner count exceeds the message')
        const owners: Array<{ clientId: number; identity: string }> = []
        for (let i = 0; i < count; i++) owners.push({ clientId: decoding.readVarUint(decoder), identity: decoding.readVarString(decoder) })
        message = { type: 'awareness', from, to, update, owners }
        break
      }
      default:
        // Payload layout unknown: skip the rest.
        return { type: 'unknown', messageType, from, to }
    }
  } catch (err) {
    // lib0 throws plain errors (or RangeError) on truncated input.
    throw new FanoutMessageError(`malformed fan-out message: ${(err as Error).message}`)
  }
  if (decoding.hasContent(decoder)) throw new FanoutMessageError('trailing bytes after fan-out message')
  return message
}

/** One client of a y-protocols awareness update: its id and clock, and whether it was removed (not its state). */
export interface AwarenessClient {
  clientId: number
  clock: number
  /** True when the entry removes the client's state (state `null`). */
  removed: boolean
}

/**
 * The client ids of an awareness update, so that the adapter knows which
 * clients each instance controls. Decoding is the wire protocol's own.
 */
export function readAwarenessEntries (update: Uint8Array): AwarenessClient[] {
  try {
    // A removal is a state that parses to null, however it is written.
    return decodeAwarenessUpdate(update).map(({ clientId, clock, state }) => ({ clientId, clock, removed: isNullState(state) }))
  } catch (err) {
    throw new FanoutMessageError(`malformed awareness update: ${(err as Error).message}`)
  }
}

/**
 * An awareness update that removes `entries` (state `null` at the clock last
 * seen): a receiver drops a state whose clock equals the given one when the
 * new state is null.
 */
export function encodeAwarenessRemoval (entries: ReadonlyArray<{ clientId: number; clock: number }>): Uint8Array {
  return encodeAwarenessUpdate(entries.map(({ clientId, clock }) => ({ clientId, clock, state: 'null' })))
}

function isNullState (state: string): boolean {
  try {
    return JSON.parse(state) === null
  } catch {
    return false
  }
}
