/** utf16Length must agree with lib0's fatal TextDecoder on every input. */
import { describe, expect, it } from 'vitest'
import { utf16Length } from '../src/yjs/utf8.js'
import { prng } from './helpers.js'

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function decodedLength (bytes: Uint8Array): number {
  try {
    return fatal.decode(bytes).length
  } catch {
    return -1
  }
}

describe('utf16Length', () => {
  it('agrees with a fatal TextDecoder on text and on random bytes', () => {
    const samples = ['', 'plain', 'ünïcödé', '日本語', '🎉 emoji 👩‍👩‍👧', '\uFEFFbom', '\u{10FFFF}']
    for (const text of samples) {
      const bytes = new TextEncoder().encode(text)
      expect(utf16Length(bytes, 0, bytes.length)).toBe(text.length)
    }
    const rand = prng(3)
    for (let n = 0; n < 20_000; n++) {
      const bytes = new Uint8Array(1 + Math.floor(rand() * 6))
      // Mostly bytes near the interesting boundaries of UTF-8.
      for (let i = 0; i < bytes.length; i++) bytes[i] = rand() < 0.5 ? 0x80 + Math.floor(rand() * 0x80) : Math.floor(rand() * 256)
      expect(utf16Length(bytes, 0, bytes.length), Array.from(bytes).join(',')).toBe(decodedLength(bytes))
    }
  })

  it.each([
    ['an overlong slash', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a cut-off sequence', [0xe6, 0x97]],
    ['a lone continuation byte', [0x80]]
  ])('rejects %s', (_name, bytes) => {
    expect(utf16Length(new Uint8Array(bytes), 0, bytes.length)).toBe(-1)
  })
})
