import * as Y from 'yjs'

/**
 * The top-level shared types of a document as JSON. A document decoded from
 * an update does not know which type each root was created as, so the kind is
 * derived from the content: map entries → object, string content → text,
 * XML elements → XML string, anything else in a sequence → array.
 */
export function updateToJson (update: Uint8Array): Record<string, unknown> {
  // A fresh doc: defining a root's type is permanent, and must not happen to a live room's doc.
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, update)
    return docToJson(doc)
  } finally {
    doc.destroy()
  }
}

function docToJson (doc: Y.Doc): Record<string, unknown> {
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
  if (type._map.size > 0 && type._start === null) return doc.getMap(name).toJSON()
  let item = type._start
  let kind: 'text' | 'xml' | 'array' | undefined
  // Look at the first live item to decide; deleted items say nothing.
  while (item !== null && kind === undefined) {
    if (!item.deleted) {
      const content = item.content
      if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) kind = 'text'
      else if (content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText)) kind = 'xml'
      else kind = 'array'
    }
    item = item.right
  }
  if (kind === 'text') return doc.getText(name).toString()
  if (kind === 'xml') return doc.getXmlFragment(name).toString()
  if (kind === 'array') return doc.getArray(name).toJSON()
  return type._map.size > 0 ? doc.getMap(name).toJSON() : null
}
