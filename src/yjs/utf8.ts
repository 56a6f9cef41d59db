/**
 * Checking and measuring UTF-8 text in place, without decoding it: lib0
 * decodes Yjs strings with a fatal `TextDecoder`, and a Yjs string item is as
 * long as its text in UTF-16 code units. A `TextDecoder` call costs about a
 * microsecond; this loop costs a nanosecond or two per byte.
 */

/**
 * The UTF-16 length of the UTF-8 text in `bytes[start, end)`, or -1 where a
 * fatal `TextDecoder` would throw (overlong forms, surrogates, code points
 * beyond U+10FFFF, cut-off sequences). A BOM counts as a character, as with
 * lib0's `ignoreBOM: true`.
 */
export function utf16Length (bytes: Uint8Array, start: number, end: number): number {
  let length = 0
  let i = start
  while (i < end) {
    const b = bytes[i]
    if (b < 0x80) {
      i++
      length++
      continue
    }
    let need: number
    let low = 0x80
    let high = 0xbf
    if (b >= 0xc2 && b <= 0xdf) need = 1
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2
      if (b === 0xe0) low = 0xa0
      else if (b === 0xed) high = 0x9f
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3
      if (b === 0xf0) low = 0x90
      else if (b === 0xf4) high = 0x8f
    } else return -1
    if (i + need >= end) return -1 // cut off
    const b1 = bytes[i + 1]
    if (b1 < low || b1 > high) return -1
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k]
      if (c < 0x80 || c > 0xbf) return -1
    }
    i += need + 1
    length += need === 3 ? 2 : 1
  }
  return length
}
