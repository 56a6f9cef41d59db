/** The broadcast frame is byte-for-byte what ws itself would send. */
import { describe, expect, it } from 'vitest'
import * as ws from 'ws'
import { binaryFrame } from '../src/wire.js'

describe('binaryFrame', () => {
  it.each([0, 1, 125, 126, 127, 65535, 65536, 200_000])('matches ws framing for %i payload bytes', (length) => {
    const payload = Buffer.alloc(length, 7)
    // ws's own framing, through its Sender (a named export its types omit).
    const Sender = (ws as unknown as { Sender: { frame: (data: Buffer, options: object) => Buffer[] } }).Sender
    const expected = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false }))
    expect(Buffer.compare(binaryFrame(payload), expected)).toBe(0)
  })
})
