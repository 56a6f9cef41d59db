/**
 * scanUpdate reads V1 updates the way Yjs does, struct for struct, without
 * decoding strings: its lengths and ids must match Y.decodeUpdate.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { NO_ID, ROOT_PARENT, StructKind, scanUpdate } from '../src/yjs/update-scan.js'
import { prng } from './helpers.js'

describe('scanUpdate', () => {
  it('reads the same structs and deletions as Y.decodeUpdate', () => {
    const rand = prng(11)
    const docs = [1, 2].map((id) => {
      const doc = new Y.Doc()
      doc.clientID = id
      return doc
    })
    for (let step = 0; step < 300; step++) {
      const doc = docs[step % 2]
      const text = doc.getText('text')
      const pick = rand()
      if (pick < 0.3) text.insert(Math.floor(rand() * (text.length + 1)), rand() < 0.5 ? 'abc' : '日本🎉')
      else if (pick < 0.4 && text.length > 2) text.delete(Math.floor(rand() * (text.length - 2)), 2)
      else if (pick < 0.5) text.format(0, Math.min(text.length, 3), { bold: rand() < 0.5 ? true : null })
      else if (pick < 0.6) doc.getMap('map').set(`k${step % 5}`, { nested: [step, { deep: 'v' }] })
      else if (pick < 0.7) doc.getArray('list').insert(0, [new Uint8Array([1, 2, 3]), 1.5, -7, null, true, 'über'])
      else if (pick < 0.8) doc.getXmlFragment('xml').insert(0, [new Y.XmlElement('p'), new Y.XmlText('t')])
      else if (pick < 0.9) text.insertEmbed(0, { image: 'x.png' })
      else Y.applyUpdate(docs[(step + 1) % 2], Y.encodeStateAsUpdate(doc))
    }
    const update = Y.mergeUpdates([Y.encodeStateAsUpdate(docs[0]), Y.encodeStateAsUpdate(docs[1])])
    const scan = scanUpdate(update)
    const { structs, ds } = Y.decodeUpdate(update)
    expect(scan.structCount).toBe(structs.length)
    // decodeUpdate lists clients in the update's order too.
    structs.forEach((s, i) => {
      expect([scan.client[i], scan.clock[i], scan.length[i]]).toEqual([s.id.client, s.id.clock, s.length])
      if (s instanceof Y.Item) {
        expect(scan.kind[i]).toBe(s.content.getRef())
        expect([scan.originClient[i], scan.originClock[i]]).toEqual(s.origin === null ? [NO_ID, NO_ID] : [s.origin.client, s.origin.clock])
        expect([scan.rightClient[i], scan.rightClock[i]]).toEqual(s.rightOrigin === null ? [NO_ID, NO_ID] : [s.rightOrigin.client, s.rightOrigin.clock])
        if (typeof s.parent === 'string') expect(scan.parentClient[i]).toBe(ROOT_PARENT)
        else if (s.parent instanceof Y.ID) expect([scan.parentClient[i], scan.parentClock[i]]).toEqual([s.parent.client, s.parent.clock])
        else expect(scan.parentClient[i]).toBe(NO_ID)
      } else {
        expect(scan.kind[i]).toBe(s instanceof Y.GC ? StructKind.GC : StructKind.SKIP)
      }
    })
    const deletes: Array<[number, number, number]> = []
    for (const [client, items] of ds.clients) for (const d of items) deletes.push([client, d.clock, d.len])
    expect(scan.deletes.client.map((c, i) => [c, scan.deletes.clock[i], scan.deletes.length[i]])).toEqual(deletes)
    expect(scan.valueDepth).toBe(3) // { nested: [step, { deep }] }
    expect(structs.some((s) => s instanceof Y.Item && s.content instanceof Y.ContentFormat)).toBe(true)
  })

  it('rejects a string that is not UTF-8, as Yjs does', () => {
    // One struct: a string item in root "t" whose text is a lone continuation byte.
    const update = new Uint8Array([1, 1, 5, 0, 4, 1, 1, 116, 1, 0x80, 0])
    expect(() => scanUpdate(update)).toThrow(/UTF-8/)
    expect(() => Y.applyUpdate(new Y.Doc(), update)).toThrow()
  })
})
