/**
 * The y-websocket wire protocol as pure functions over `Uint8Array`: no I/O,
 * no Yjs document. Every decode error is a `ProtocolError`, never anything else.
 *
 * A frame holds exactly one message:
 *
 *   frame        = varuint messageType, payload
 *   sync (0)     = varuint syncType, varUint8Array data
 *                  syncType 0: step 1, data is a state vector
 *                  syncType 1: step 2, data is an update
 *                  syncType 2: update, data is an update
 *   awareness (1) = varUint8Array awarenessUpdate
 *   auth (2)      = varuint 0, varstring reason        (server → client: permission denied)
 *   queryAwareness (3) = (no payload)
 *   stored (100)  = varuint sequence                   (tandem extension, opt-in)
 *
 * `stored` is how a client learns that its changes are durable: a client sends
 * `stored n`; the server answers `stored n` once everything it received from that
 * connection before the request is stored. Only clients that ask get an answer,
 * so the stock client never sees a message type it does not know.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

export const MessageType = {
  SYNC: 0,
  AWARENESS: 1,
  AUTH: 2,
  QUERY_AWARENESS: 3,
  STORED: 100
} as const

export const SyncType = {
  STEP1: 0,
  STEP2: 1,
  UPDATE: 2
} as const

export type Message =
  | { type: 'sync-step1'; stateVector: Uint8Array }
  | { type: 'sync-step2'; update: Uint8Array }
  | { type: 'sync-update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'auth' }
  | { type: 'query-awareness' }
  | { type: 'stored'; sequence: number }
  | { type: 'unknown'; messageType: number }

export type ProtocolErrorCode = 'TRUNCATED' | 'TRAILING_BYTES' | 'BAD_SYNC_TYPE' | 'BAD_VARINT' | 'EMPTY'

/** A frame that is not a well-formed message. */
export class ProtocolError extends Error {
  constructor (readonly code: ProtocolErrorCode, message: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

/**
 * Decodes one frame. Unknown message types decode to `{ type: 'unknown' }` so
 * the caller can ignore and count them (forward compatibility).
 */
export function decodeMessage (frame: Uint8Array): Message {
  if (frame.length === 0) throw new ProtocolError('EMPTY', 'empty frame')
  const decoder = decoding.createDecoder(frame)
  let message: Message
  try {
    const messageType = readVarUint(decoder)
    switch (messageType) {
      case MessageType.SYNC: {
        const syncType = readVarUint(decoder)
        const data = readBytes(decoder)
        if (syncType === SyncType.STEP1) message = { type: 'sync-step1', stateVector: data }
        else if (syncType === SyncType.STEP2) message = { type: 'sync-step2', update: data }
        else if (syncType === SyncType.UPDATE) message = { type: 'sync-update', update: data }
        else throw new ProtocolError('BAD_SYNC_TYPE', `unknown sync message type ${syncType}`)
        break
      }
      case MessageType.AWARENESS:
        message = { type: 'awareness', update: readBytes(decoder) }
        break
      case MessageType.AUTH:
        // Clients have nothing to say with it; accept and ignore whatever follows.
        return { type: 'auth' }
      case MessageType.QUERY_AWARENESS:
        message = { type: 'query-awareness' }
        break
      case MessageType.STORED:
        message = { type: 'stored', sequence: readVarUint(decoder) }
        break
      default:
        return { type: 'unknown', messageType }
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ProtocolError('TRUNCATED', 'frame ends inside a message')
  }
  if (decoder.pos !== frame.length) {
    throw new ProtocolError('TRAILING_BYTES', `${frame.length - decoder.pos} bytes after the message`)
  }
  return message
}

function readVarUint (decoder: decoding.Decoder): number {
  // At most 8 bytes (56 bits, checked against 2^53): anything longer is garbage, not a length.
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 8; i++) {
    if (decoder.pos >= decoder.arr.length) throw new ProtocolError('TRUNCATED', 'frame ends inside a variable-length integer')
    const byte = decoder.arr[decoder.pos++]
    value += (byte & 0x7f) * multiplier
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) throw new ProtocolError('BAD_VARINT', 'variable-length integer out of range')
      return value
    }
    multiplier *= 128
  }
  throw new ProtocolError('BAD_VARINT', 'variable-length integer longer than 8 bytes')
}

function readBytes (decoder: decoding.Decoder): Uint8Array {
  const length = readVarUint(decoder)
  // Check the declared length against what is there before reading, so a
  // varint claiming gigabytes costs nothing.
  if (length > decoder.arr.length - decoder.pos) {
    throw new ProtocolError('TRUNCATED', `declared length ${length} exceeds the frame`)
  }
  return decoding.readUint8Array(decoder, length)
}

/** A state vector that names no client: its sender holds nothing. */
export function isEmptyStateVector (sv: Uint8Array): boolean {
  return sv.length === 1 && sv[0] === 0
}

/** An update with no structs and no deletions (what a client with nothing new answers a sync step 1 with). */
export function isEmptyUpdate (update: Uint8Array): boolean {
  return update.length === 2 && update[0] === 0 && update[1] === 0
}

function encodeWith (write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.SYNC)
  encoding.writeVarUint(e, SyncType.STEP1)
  encoding.writeVarUint8Array(e, stateVector)
})

export const encodeSyncStep2 = (update: Uint8Array): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.SYNC)
  encoding.writeVarUint(e, SyncType.STEP2)
  encoding.writeVarUint8Array(e, update)
})

export const encodeSyncUpdate = (update: Uint8Array): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.SYNC)
  encoding.writeVarUint(e, SyncType.UPDATE)
  encoding.writeVarUint8Array(e, update)
})

export const encodeAwareness = (update: Uint8Array): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.AWARENESS)
  encoding.writeVarUint8Array(e, update)
})

export const encodeQueryAwareness = (): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.QUERY_AWARENESS)
})

export const encodePermissionDenied = (reason: string): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.AUTH)
  encoding.writeVarUint(e, 0)
  encoding.writeVarString(e, reason)
})

export const encodeStored = (sequence: number): Uint8Array => encodeWith((e) => {
  encoding.writeVarUint(e, MessageType.STORED)
  encoding.writeVarUint(e, sequence)
})

export interface AwarenessEntry {
  clientId: number
  clock: number
  /** The state as JSON text ("null" when the client left). */
  state: string
}

/** Decodes an awareness update (y-protocols format) into its entries. */
export function decodeAwarenessUpdate (update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  try {
    const count = readVarUint(decoder)
    if (count > update.length) throw new ProtocolError('TRUNCATED', 'awareness entry count exceeds the update')
    const entries: AwarenessEntry[] = []
    for (let i = 0; i < count; i++) {
      const clientId = readVarUint(decoder)
      const clock = readVarUint(decoder)
      const state = decoding.readVarString(decoder)
      entries.push({ clientId, clock, state })
    }
    return entries
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ProtocolError('TRUNCATED', 'awareness update ends inside an entry')
  }
}

export function encodeAwarenessUpdate (entries: AwarenessEntry[]): Uint8Array {
  return encodeWith((e) => {
    encoding.writeVarUint(e, entries.length)
    for (const { clientId, clock, state } of entries) {
      encoding.writeVarUint(e, clientId)
      encoding.writeVarUint(e, clock)
      encoding.writeVarString(e, state)
    }
  })
}
