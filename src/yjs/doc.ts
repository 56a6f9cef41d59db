import * as Y from 'yjs'

let made = 0

/**
 * A `Y.Doc` for server-side use, lighter to make and to keep than Yjs' own:
 *
 * - Yjs gives every document a random UUID as its guid, built from one
 *   `crypto.getRandomValues` call per hex digit (about 170 µs); opening
 *   thousands of documents, that was the largest single cost of a
 *   connection. The guid only names subdocuments, which a server-side
 *   document never is, so one unique in this process does.
 * - Every `Y.Doc` listens to its own `load` and `sync` events to resolve its
 *   `whenLoaded` and `whenSynced` promises, which only a provider uses: two
 *   listener sets, three closures and two promises, about 500 bytes of
 *   every open document. They are removed (the promises are one shared
 *   promise that never resolves); nothing on the server waits for them.
 */
export function serverDoc (options: { gcFilter?: (item: Y.Item) => boolean } = {}): Y.Doc {
  // Yjs' default filter is a new closure per document: one for all.
  const doc = new Y.Doc({ gcFilter: collectAll, ...options, guid: `tandem-${++made}` })
  const observers = (doc as unknown as { _observers?: Map<string, unknown> })._observers
  observers?.delete('load')
  observers?.delete('sync')
  // Without their listeners they can never resolve: one such promise for all documents.
  doc.whenLoaded = NEVER as Promise<Y.Doc>
  doc.whenSynced = NEVER as Promise<void>
  return doc
}

const NEVER: Promise<unknown> = new Promise(() => {})

/** Yjs' default garbage-collection filter: every deleted item may be collected. */
function collectAll (): boolean {
  return true
}
