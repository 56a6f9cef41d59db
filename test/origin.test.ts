/** The origin decides what happens to a change: the table in src/origin.ts, as a test. */
import { describe, expect, it } from 'vitest'
import type { Member } from '../src/member.js'
import { FANOUT_ORIGIN, HTTP_ORIGIN, LOAD_ORIGIN, LOCAL_ORIGIN, authorOf, isPublished, isRelayed, isStored, originOf, senderOf, type Origin } from '../src/origin.js'

const member: Member = { identity: 'user:ada', send () {}, sendFramed () {}, allowWork: () => true, close () {} }
const connection: Origin = { kind: 'connection', member, userId: 'ada' }

describe('origin policy', () => {
  it.each([
    // origin, stored (own storage), stored (shared storage), relayed, published, sender skipped, author
    ['connection', connection, true, true, true, true, member, 'ada'],
    ['http', { kind: 'http', userId: 'bob' } as Origin, true, true, true, true, null, 'bob'],
    ['local', LOCAL_ORIGIN, true, true, true, true, null, undefined],
    ['fanout', FANOUT_ORIGIN, true, false, true, false, null, undefined],
    ['load', LOAD_ORIGIN, false, false, false, false, null, undefined]
  ] as const)('%s', (_name, origin, storedOwn, storedShared, relayed, published, sender, author) => {
    expect(isStored(origin, false)).toBe(storedOwn)
    expect(isStored(origin, true)).toBe(storedShared)
    expect(isRelayed(origin)).toBe(relayed)
    expect(isPublished(origin)).toBe(published)
    expect(senderOf(origin)).toBe(sender)
    expect(authorOf(origin)).toBe(author)
  })

  it('treats any transaction origin that is not one of ours (a host\'s own) as local', () => {
    expect(originOf(null)).toBe(LOCAL_ORIGIN)
    expect(originOf('timeout')).toBe(LOCAL_ORIGIN)
    expect(originOf({ kind: 'something else' })).toBe(LOCAL_ORIGIN)
    expect(originOf(HTTP_ORIGIN)).toBe(HTTP_ORIGIN)
    expect(originOf(connection)).toBe(connection)
  })
})
