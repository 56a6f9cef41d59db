import * as Y from 'yjs'
import { serverDoc } from './yjs/doc.js'

/**
 * What a top-level shared type holds, as the JSON view reads it. `empty`: a
 * sequence whose content was all deleted (shown as `null`): nothing says any
 * more whether it was a text or an array.
 */
export type RootKind = 'map' | 'array' | 'text' | 'xml' | 'empty'

/**
 * The top-level shared types of a document as JSON. A document decoded from
 * an update does not know which type each root was created as, so the kind is
 * derived from the content: map entries → object, string content → text,
 * XML elements → XML string, anything else in a sequence → array.
 */
export function updateToJson (update: Uint8Array): Record<string, unknown> {
  // A fresh doc: defining a root's type is permanent, and must not happen to a live room's doc
  // because someone read it (JSON Patch defines a root's type only when it writes to it).
  const doc = serverDoc()
  try {
    Y.applyUpdate(doc, update)
    return docToJson(doc)
  } finally {
    doc.destroy()
  }
}

/**
 * The JSON view of `doc`'s roots. Roots whose type is still undefined get the
 * type their content says (see `rootKind`), which is permanent: call it on a
 * doc of your own (as `updateToJson` does), not on a live room's doc.
 */
export function docToJson (doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, type] of doc.share) {
    out[name] = rootToJson(doc, name, type)
  }
  return out
}

function rootToJson (doc: Y.Doc, name: string, type: Y.AbstractType<any>): unknown {
  if (type instanceof Y.Text || type instanceof Y.Array || type instanceof Y.Map || type instanceof Y.XmlFragment) {
    return type instanceof Y.XmlFragment ? type.toString() : type.toJSON()
  }
  switch (rootKind(type)) {
    case 'text': return doc.getText(name).toString()
    case 'xml': return doc.getXmlFragment(name).toString()
    case 'array': return doc.getArray(name).toJSON()
    case 'map': return doc.getMap(name).toJSON()
    case 'empty': return null
  }
}

/**
 * The kind of a root whose type is not defined yet, decided from its content
 * alone. JSON Patch (`json-patch/`) asks the same function, so a path means
 * what the JSON view shows.
 */
export function rootKind (type: Y.AbstractType<any>): RootKind {
  if (type._map.size > 0 && type._start === null) return 'map'
  let item = type._start
  // Look at the first live item to decide; deleted items say nothing.
  while (item !== null) {
    if (!item.deleted) {
      const content = item.content
      if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text'
      if (content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText)) return 'xml'
      return 'array'
    }
    item = item.right
  }
  return type._map.size > 0 ? 'map' : 'empty'
}
