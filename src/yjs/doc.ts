import * as Y from 'yjs'

let made = 0

/**
 * A `Y.Doc` for server-side use. Yjs gives every document a random UUID as
 * its guid, built from one `crypto.getRandomValues` call per hex digit
 * (about 170 µs); opening thousands of documents, that was the largest single
 * cost of a connection. The guid only names subdocuments, which a server-side
 * document never is, so one unique in this process does.
 */
export function serverDoc (options: { gcFilter?: (item: Y.Item) => boolean } = {}): Y.Doc {
  return new Y.Doc({ ...options, guid: `tandem-${++made}` })
}
