// One benchmark client: a raw `ws` socket speaking the y-websocket protocol.
// A writer holds its own small Y.Doc to produce valid updates; receiving costs
// a frame parse and a byte scan, never a Yjs decode.
import WebSocket from 'ws'
import * as Y from 'yjs'
import { encodeSync, encodeAuth, parseFrameFast, markText, scanMarks, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE } from './wire.mjs'
import { wallMs } from '../lib/proc.mjs'

const EMPTY_STATE_VECTOR = Y.encodeStateVector(new Y.Doc())
const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc())
const WRITER_DOC_EDITS = 2000
const MARK_LENGTH = markText(0, 0).length

export class BenchClient {
  /**
   * @param {object} o
   * @param {string} o.url       ws://host:port (no path)
   * @param {string} o.docName
   * @param {'yws'|'hocuspocus'} o.dialect
   * @param {number} o.id        writer id embedded in the marks this client writes
   * @param {(sentMicros:number, writerId:number, client:BenchClient)=>void} [o.onMark]  for every mark in a live update
   * @param {(client:BenchClient, marks:number)=>void} [o.onSynced]  first sync step 2 (marks it held)
   * @param {(client:BenchClient)=>void} [o.onClose]
   * @param {boolean} [o.random]  insert each edit at a random mark boundary of one growing text (the
   *   shape of collaborative text: many small items at random positions) instead of appending
   * @param {(client:BenchClient, bytes:number, syncType:number)=>void} [o.onSyncBytes]  payload bytes of every sync frame
   */
  constructor (o) {
    this.docName = o.docName
    this.dialect = o.dialect
    this.id = o.id
    this.onMark = o.onMark
    this.onSynced = o.onSynced
    this.onClose = o.onClose
    this.random = o.random === true
    this.onSyncBytes = o.onSyncBytes
    this.synced = false
    this.syncedAt = 0
    this.received = 0 // marks in live updates, own echoes excluded
    this.echoes = 0
    this.sent = 0
    this.closed = false
    this.ydoc = null
    this.ytext = null
    this.lastUpdate = null
    this.startedAt = wallMs()
    const path = o.dialect === 'yws' ? `/${encodeURIComponent(o.docName)}` : '/'
    this.ws = new WebSocket(o.url + path, { perMessageDeflate: false, handshakeTimeout: 30_000 })
    this.ws.on('open', () => this._open())
    this.ws.on('message', (data) => this._message(data))
    this.ws.on('error', () => {})
    this.ws.on('close', () => {
      this.closed = true
      if (this.onClose) this.onClose(this)
    })
  }

  _open () {
    if (this.dialect === 'hocuspocus') this.ws.send(encodeAuth(this.docName))
    this.ws.send(encodeSync(this.dialect, this.docName, SYNC_STEP1, EMPTY_STATE_VECTOR))
  }

  _message (buf) {
    const f = parseFrameFast(this.dialect, buf)
    if (f.kind !== 'sync') return
    if (this.onSyncBytes !== undefined && f.syncType !== SYNC_STEP1) this.onSyncBytes(this, buf.length - f.offset, f.syncType)
    if (f.syncType === SYNC_UPDATE) {
      scanMarks(buf, f.offset, (t, w) => {
        if (w === this.id) { this.echoes++; return }
        this.received++
        if (this.onMark !== undefined) this.onMark(t, w, this)
      })
    } else if (f.syncType === SYNC_STEP2) {
      if (!this.synced) {
        this.synced = true
        this.syncedAt = wallMs()
        const marks = this.onSynced !== undefined ? scanMarks(buf, f.offset) : 0
        if (this.onSynced !== undefined) this.onSynced(this, marks)
      }
    } else if (f.syncType === SYNC_STEP1) {
      // The server asks what we have: our edits all went out as updates.
      this.ws.send(encodeSync(this.dialect, this.docName, SYNC_STEP2, EMPTY_UPDATE))
    }
  }

  /** Appends one marked edit and sends it as a sync update. */
  write () {
    // A fresh doc (new Yjs client id) every WRITER_DOC_EDITS edits: appending
    // to one ever-growing merged string makes the writer, not the server, slow.
    if (this.ydoc !== null && !this.random && this.sent % WRITER_DOC_EDITS === 0) {
      this.ydoc.destroy()
      this.ydoc = null
    }
    if (this.ydoc === null) {
      this.ydoc = new Y.Doc()
      this.ytext = this.ydoc.getText('t')
      this.ydoc.on('update', (u) => { this.lastUpdate = u })
    }
    // Random positions land on mark boundaries, so no later edit splits a mark
    // and every stored mark can still be found by scanning the bytes.
    const at = this.random ? MARK_LENGTH * Math.floor(Math.random() * (this.ytext.length / MARK_LENGTH + 1)) : this.ytext.length
    this.ytext.insert(at, markText(wallMs() * 1000, this.id))
    this.ws.send(encodeSync(this.dialect, this.docName, SYNC_UPDATE, this.lastUpdate))
    this.sent++
  }

  get open () { return this.ws.readyState === WebSocket.OPEN }
  get buffered () { return this.ws.bufferedAmount }

  close () {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try { this.ws.terminate() } catch {}
    }
  }
}
