import type * as Y from 'yjs'
import { TandemError } from './errors.js'
import { LOCAL_ORIGIN } from './origin.js'
import type { Room } from './room.js'
import type { RoomRegistry } from './rooms.js'
import { validateDocName } from './request.js'

/**
 * A document held open by the host application, without a socket: the
 * server-side document API. It is the same loaded room the clients share, so
 * a change made here is stored, relayed to every client and published to
 * other instances exactly like a client's.
 */
export interface DocumentHandle {
  readonly name: string
  /**
   * The live document. Read it and observe it freely. Change it through
   * `change` (which tells you when the change is durable); a transaction of
   * your own on it is stored and relayed too.
   */
  readonly doc: Y.Doc
  /**
   * Runs `fn` in one transaction on the document and resolves once the
   * change is stored and relayed to clients and other instances. Rejects
   * (with nothing relayed) when the change would grow the document past
   * `maxDocumentBytes`, or when storage did not take it (the document then
   * reloads: open it again).
   */
  change(fn: (doc: Y.Doc) => void): Promise<void>
  /** Resolves once every change made so far is stored and relayed. */
  whenStored(): Promise<void>
  /** Gives the document back; it unloads once nobody (client or host) holds it. Safe to call twice. */
  release(): void
}

/**
 * Opens `name` (loading it if needed, single-flight with the clients that
 * open it at the same time) and holds it until `release()`.
 */
export async function openDocument (rooms: Pick<RoomRegistry, 'acquire' | 'release'>, name: string, maxDocNameBytes: number): Promise<DocumentHandle> {
  const valid = validateDocName(name, maxDocNameBytes)
  if (!valid.ok) throw new TandemError('DOC_NAME_INVALID', valid.reason)
  const room: Room = await rooms.acquire(name)
  let released = false
  return {
    name,
    doc: room.doc,
    async change (fn) {
      if (released) throw new Error(`the document ${JSON.stringify(name)} was released`)
      // The host's own change: its size is what the transaction adds, which is only known after it; check that nothing is already over.
      room.change((doc) => doc.transact(() => fn(doc), LOCAL_ORIGIN), { growthBytes: 1 })
      await room.whenStored()
    },
    whenStored: () => room.whenStored(),
    release () {
      if (released) return
      released = true
      rooms.release(room)
    }
  }
}
