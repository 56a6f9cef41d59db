// The client side of the y-websocket protocol, reduced to what a benchmark
// client needs, in two dialects:
//   yws        one document per socket, frames as in y-protocols
//   hocuspocus every frame prefixed with the document name, and an auth
//              message before anything else (Hocuspocus 2.x/3.x)
//
// Updates written by the load generator carry a marker in their text content:
//   MARK, 16 digits of send time in µs since the epoch, 5 digits of writer id.
// Yjs copies string content verbatim into every update and merge it produces,
// so a receiver finds each delivered edit by scanning the frame for MARK
// without decoding or applying anything.
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const MARK = Buffer.from('\u23f1', 'utf8') // 3 bytes, never produced by the struct encoding of these updates
export const MARK_TEXT = '\u23f1'
const TIME_DIGITS = 16
const WRITER_DIGITS = 5
export const MARK_BYTES = MARK.length + TIME_DIGITS + WRITER_DIGITS

const MSG_SYNC = 0
const MSG_AUTH = 2
const HP_SYNC_REPLY = 4
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

/** The text a writer inserts for one edit. */
export function markText (sentMicros, writerId) {
  return MARK_TEXT + String(Math.floor(sentMicros)).padStart(TIME_DIGITS, '0') +
    String(writerId).padStart(WRITER_DIGITS, '0')
}

/**
 * Calls `visit(sentMicros, writerId)` for every marker in buf[from..]; returns
 * how many markers there were. Digits are parsed by hand: this runs for every
 * delivery and must stay cheaper than the server it measures.
 */
export function scanMarks (buf, from, visit) {
  let n = 0
  let at = buf.indexOf(MARK, from)
  while (at !== -1 && at + MARK_BYTES <= buf.length) {
    let p = at + MARK.length
    let t = 0
    for (let i = 0; i < TIME_DIGITS; i++) t = t * 10 + (buf[p++] - 48)
    let w = 0
    for (let i = 0; i < WRITER_DIGITS; i++) w = w * 10 + (buf[p++] - 48)
    if (visit !== undefined) visit(t, w)
    n++
    at = buf.indexOf(MARK, p)
  }
  return n
}

function prefix (dialect, docName) {
  const e = encoding.createEncoder()
  if (dialect === 'hocuspocus') encoding.writeVarString(e, docName)
  return e
}

export function encodeSync (dialect, docName, syncType, data) {
  const e = prefix(dialect, docName)
  encoding.writeVarUint(e, MSG_SYNC)
  encoding.writeVarUint(e, syncType)
  encoding.writeVarUint8Array(e, data)
  return encoding.toUint8Array(e)
}

export function encodeAuth (docName, token = 'bench') {
  const e = prefix('hocuspocus', docName)
  encoding.writeVarUint(e, MSG_AUTH)
  encoding.writeVarUint(e, 0) // token
  encoding.writeVarString(e, token)
  return encoding.toUint8Array(e)
}

/**
 * Splits a received frame into { kind, syncType, offset } where offset is the
 * index of the sync payload's first byte (after its length). kind is 'sync'
 * for sync messages and 'other' for anything else.
 */
export function parseFrame (dialect, buf) {
  const d = decoding.createDecoder(buf)
  if (dialect === 'hocuspocus') decoding.readVarString(d)
  const type = decoding.readVarUint(d)
  if (type !== MSG_SYNC && type !== HP_SYNC_REPLY) return { kind: 'other', type }
  const syncType = decoding.readVarUint(d)
  decoding.readVarUint(d) // payload length
  return { kind: 'sync', syncType, offset: d.pos }
}

/** Fast path for the common yws frame: [0, syncType, varUint len, payload]. */
export function parseFrameFast (dialect, buf) {
  if (dialect === 'yws' && buf.length > 2 && buf[0] === MSG_SYNC) {
    let p = 2
    while (p < buf.length && buf[p] & 0x80) p++
    return { kind: 'sync', syncType: buf[1], offset: p + 1 }
  }
  return parseFrame(dialect, buf)
}
