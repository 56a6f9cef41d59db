/**
 * Property-based fuzzing of the frame decoder: whatever bytes arrive,
 * `decodeMessage` returns a message or throws `ProtocolError`, never anything
 * else, and every frame the encoders produce decodes back to what was encoded.
 *
 * Runs are deterministic: every property uses SEED. To replay a failure, take
 * the seed (and path) fast-check prints and run
 *
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/protocol.fuzz
 *
 * FC_RUNS scales the number of runs per property (e.g. FC_RUNS=200000 for a
 * long soak with FC_SEED set to something new).
 */
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import {
  decodeMessage,
  encodeAwareness,
  encodePermissionDenied,
  encodeQueryAwareness,
  encodeStored,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  MessageType,
  ProtocolError,
  type Message
} from '../src/protocol.js'

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 0x7a4d3e
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 3000
const params = (numRuns = RUNS): fc.Parameters<unknown> => ({ seed: SEED, numRuns, path: process.env.FC_PATH })

let decodeCalls = 0
const outcomes = new Map<string, number>()

/** Decodes and checks the one allowed failure mode; returns the message or the error code. */
function decodeOrCode (frame: Uint8Array): Message | ProtocolError['code'] {
  decodeCalls++
  let result: Message | ProtocolError['code']
  try {
    result = decodeMessage(frame)
    checkShape(result, frame)
  } catch (err) {
    if (!(err instanceof ProtocolError)) {
      throw new Error(`decodeMessage threw a non-protocol error for ${hex(frame)}: ${String(err)}`, { cause: err })
    }
    result = err.code
  }
  const key = typeof result === 'string' ? result : result.type
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
  return result
}

function checkShape (message: Message, frame: Uint8Array): void {
  const inFrame = (bytes: Uint8Array): void => {
    // Payloads are views into the frame: never larger, never elsewhere.
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(bytes.buffer).toBe(frame.buffer)
    expect(bytes.byteOffset + bytes.length).toBeLessThanOrEqual(frame.byteOffset + frame.length)
  }
  switch (message.type) {
    case 'sync-step1': inFrame(message.stateVector); break
    case 'sync-step2': case 'sync-update': case 'awareness': inFrame(message.update); break
    case 'stored': expect(Number.isSafeInteger(message.sequence) && message.sequence >= 0).toBe(true); break
    case 'unknown': expect(Number.isSafeInteger(message.messageType) && message.messageType >= 0).toBe(true); break
    case 'auth': case 'query-awareness': break
    default: throw new Error(`unexpected message ${JSON.stringify(message)}`)
  }
}

function sameMessage (actual: Message | string, expected: Message): boolean {
  if (typeof actual === 'string' || actual.type !== expected.type) return false
  const a = actual as Record<string, unknown>
  const e = expected as Record<string, unknown>
  const keys = new Set([...Object.keys(a), ...Object.keys(e)])
  return [...keys].every((k) => {
    const x = a[k]
    const y = e[k]
    return x instanceof Uint8Array && y instanceof Uint8Array ? Buffer.from(x.buffer, x.byteOffset, x.length).equals(y) : x === y
  })
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

const varUint = (n: number): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, n)
  return encoding.toUint8Array(e)
}
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

// Payload sizes that cross the 1-, 2- and 3-byte varint length boundaries.
const payload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 140 }) },
  { weight: 1, arbitrary: fc.integer({ min: 16370, max: 16400 }).map((n) => new Uint8Array(n).fill(n & 0xff)) }
)
const KNOWN_TYPES = new Set<number>(Object.values(MessageType))
const unknownType = fc.oneof(fc.integer({ min: 4, max: 99 }), fc.integer({ min: 101, max: 2 ** 20 }), fc.constant(Number.MAX_SAFE_INTEGER))
  .filter((t) => !KNOWN_TYPES.has(t))

/** A valid frame with the message it must decode to. */
const validFrame: fc.Arbitrary<{ frame: Uint8Array; expected: Message; selfDelimiting: boolean }> = fc.oneof(
  payload.map((d) => ({ frame: encodeSyncStep1(d), expected: { type: 'sync-step1', stateVector: d } as Message, selfDelimiting: true })),
  payload.map((d) => ({ frame: encodeSyncStep2(d), expected: { type: 'sync-step2', update: d } as Message, selfDelimiting: true })),
  payload.map((d) => ({ frame: encodeSyncUpdate(d), expected: { type: 'sync-update', update: d } as Message, selfDelimiting: true })),
  payload.map((d) => ({ frame: encodeAwareness(d), expected: { type: 'awareness', update: d } as Message, selfDelimiting: true })),
  fc.constant({ frame: encodeQueryAwareness(), expected: { type: 'query-awareness' } as Message, selfDelimiting: true }),
  fc.oneof(fc.nat(), fc.constant(0), fc.constant(127), fc.constant(128), fc.constant(2 ** 32), fc.constant(Number.MAX_SAFE_INTEGER))
    .map((n) => ({ frame: encodeStored(n), expected: { type: 'stored', sequence: n } as Message, selfDelimiting: true })),
  // The auth message and unknown types are read only as far as their type: what follows is ignored.
  fc.string({ maxLength: 30 }).map((reason) => ({ frame: encodePermissionDenied(reason), expected: { type: 'auth' } as Message, selfDelimiting: false })),
  fc.tuple(unknownType, fc.uint8Array({ maxLength: 30 }))
    .map(([t, rest]) => ({ frame: concat(varUint(t), rest), expected: { type: 'unknown', messageType: t } as Message, selfDelimiting: false }))
)

/** Byte-level edits: flip, overwrite, insert, delete, duplicate a range. */
type Edit = { kind: 'flip' | 'set' | 'insert' | 'delete' | 'dup'; at: number; byte: number; len: number }
const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'dup'),
  at: fc.nat(),
  byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x7f, 0x80, 0xff)),
  len: fc.integer({ min: 1, max: 8 })
})
function applyEdits (frame: Uint8Array, edits: Edit[]): Uint8Array {
  let bytes = Array.from(frame)
  for (const { kind, at, byte, len } of edits) {
    const i = bytes.length === 0 ? 0 : at % bytes.length
    if (kind === 'flip' && bytes.length > 0) bytes[i] = bytes[i]! ^ (1 << (byte & 7))
    else if (kind === 'set' && bytes.length > 0) bytes[i] = byte
    else if (kind === 'insert') bytes.splice(i, 0, ...new Array<number>(len).fill(byte))
    else if (kind === 'delete') bytes.splice(i, len)
    else if (kind === 'dup') bytes = [...bytes.slice(0, i + len), ...bytes.slice(i, i + len), ...bytes.slice(i + len)]
  }
  return Uint8Array.from(bytes)
}

describe('decodeMessage under fuzzing', () => {
  afterAll(() => {
    const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')
    console.log(`protocol fuzz: seed=${SEED} runs/property=${RUNS} decodeMessage calls=${decodeCalls} outcomes: ${summary}`)
  })

  it('random bytes: a message or a ProtocolError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => { decodeOrCode(bytes) }), params())
  })

  it('random bytes that start with a known message type', () => {
    const typed = fc.tuple(fc.constantFrom(...KNOWN_TYPES), fc.uint8Array({ maxLength: 48 }))
      .map(([t, rest]) => concat(varUint(t), rest))
    fc.assert(fc.property(typed, (bytes) => { decodeOrCode(bytes) }), params())
  })

  it('valid frames round-trip', () => {
    fc.assert(fc.property(validFrame, ({ frame, expected }) => {
      const decoded = decodeOrCode(frame)
      // Compared by hand: a deep toEqual over 16 KiB arrays would dominate the run time.
      if (!sameMessage(decoded, expected)) {
        throw new Error(`${hex(frame)} decoded to ${JSON.stringify(decoded)}, expected ${JSON.stringify(expected)}`)
      }
    }), params())
  })

  it('truncated valid frames: a strict prefix of a self-delimiting frame is always an error', () => {
    fc.assert(fc.property(validFrame, fc.noBias(fc.nat()), ({ frame, selfDelimiting }, cut) => {
      const prefix = frame.subarray(0, cut % frame.length)
      const result = decodeOrCode(prefix)
      if (selfDelimiting) {
        expect(typeof result).toBe('string')
        expect(result).toBe(prefix.length === 0 ? 'EMPTY' : 'TRUNCATED')
      }
    }), params())
  })

  it('valid frames with bytes appended: TRAILING_BYTES', () => {
    fc.assert(fc.property(validFrame, fc.uint8Array({ minLength: 1, maxLength: 16 }), ({ frame, selfDelimiting }, extra) => {
      const result = decodeOrCode(concat(frame, extra))
      if (selfDelimiting) expect(result).toBe('TRAILING_BYTES')
    }), params())
  })

  it('mutated valid frames: a message or a ProtocolError', () => {
    fc.assert(fc.property(validFrame, fc.array(edit, { minLength: 1, maxLength: 6 }), ({ frame }, edits) => {
      decodeOrCode(applyEdits(frame, edits))
    }), params())
  })

  it('huge declared lengths cost nothing and fail as TRUNCATED or BAD_VARINT', () => {
    const huge = fc.oneof(
      fc.integer({ min: 2 ** 20, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1)
    )
    const frame = fc.tuple(
      fc.constantFrom(
        [MessageType.SYNC, 0], [MessageType.SYNC, 1], [MessageType.SYNC, 2], [MessageType.AWARENESS]
      ),
      huge,
      fc.uint8Array({ maxLength: 32 })
    ).map(([head, length, rest]) => concat(Uint8Array.from(head), varUint(length), rest))
    fc.assert(fc.property(frame, (bytes) => {
      expect(decodeOrCode(bytes)).toBe('TRUNCATED')
    }), params())
  })

  it('varints longer than 53 bits are refused', () => {
    // 8 to 40 continuation bytes, then optionally a terminating byte, in every varint position.
    const longVarint = fc.tuple(
      fc.uint8Array({ minLength: 8, maxLength: 40 }).map((b) => b.map((x) => x | 0x80)),
      fc.option(fc.integer({ min: 0, max: 0x7f }), { nil: undefined })
    ).map(([cont, last]) => last === undefined ? cont : concat(cont, Uint8Array.of(last)))
    const frame = fc.tuple(
      fc.constantFrom<number[]>([], [MessageType.SYNC], [MessageType.SYNC, 2], [MessageType.AWARENESS], [MessageType.STORED]),
      longVarint
    ).map(([head, v]) => concat(Uint8Array.from(head), v))
    fc.assert(fc.property(frame, (bytes) => {
      const result = decodeOrCode(bytes)
      // Eight continuation bytes already exceed what a length can be.
      expect(result).toBe('BAD_VARINT')
    }), params())
  })

  it('a 16 MiB frame of continuation bytes and a 16 MiB declared length decode in bounded time', () => {
    const started = performance.now()
    expect(decodeOrCode(new Uint8Array(16 * 1024 * 1024).fill(0x80))).toBe('BAD_VARINT')
    const big = concat(Uint8Array.of(MessageType.SYNC, 2), varUint(2 ** 40), new Uint8Array(16 * 1024 * 1024))
    expect(decodeOrCode(big)).toBe('TRUNCATED')
    expect(performance.now() - started).toBeLessThan(2000)
  })
})
