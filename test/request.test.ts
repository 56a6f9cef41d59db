import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { clientIp, DocNameError, docNameFromPath, isOriginAllowed, validateDocName } from '../src/request.js'

describe('clientIp', () => {
  const req = (remoteAddress: string | undefined, xff?: string | string[]): IncomingMessage =>
    ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage

  it('uses the socket address unless the proxy is trusted', () => {
    expect(clientIp(req('192.0.2.1', '203.0.113.9'), false)).toBe('192.0.2.1')
    expect(clientIp(req('192.0.2.1'), true)).toBe('192.0.2.1')
  })

  it('trusts the entry the proxy appended, not what the client sent', () => {
    expect(clientIp(req('10.0.0.1', '203.0.113.9'), true)).toBe('203.0.113.9')
    // The client forged the first entry; the proxy appended the real address.
    expect(clientIp(req('10.0.0.1', '1.2.3.4, 203.0.113.9'), true)).toBe('203.0.113.9')
    expect(clientIp(req('10.0.0.1', ['1.2.3.4', '203.0.113.9']), true)).toBe('203.0.113.9')
    expect(clientIp(req('10.0.0.1', '2001:DB8::1'), true)).toBe('2001:db8::1')
  })

  it('falls back to the socket when the header is not an address', () => {
    expect(clientIp(req('10.0.0.1', 'garbage'), true)).toBe('10.0.0.1')
    expect(clientIp(req('10.0.0.1', ''), true)).toBe('10.0.0.1')
    expect(clientIp(req('10.0.0.1', '1.2.3.4, '), true)).toBe('10.0.0.1')
  })

  it('folds IPv4-mapped IPv6 into IPv4', () => {
    expect(clientIp(req('::ffff:192.0.2.1'), false)).toBe('192.0.2.1')
    expect(clientIp(req('::1'), false)).toBe('::1')
  })

  it('survives a socket without an address', () => {
    expect(clientIp(req(undefined), false)).toBe('unknown')
  })
})

describe('docNameFromPath', () => {
  it('strips the leading slash and percent-decodes; slashes stay', () => {
    expect(docNameFromPath('/lobby')).toBe('lobby')
    expect(docNameFromPath('/notes/2024/todo')).toBe('notes/2024/todo')
    expect(docNameFromPath('/a%20b%2Fc')).toBe('a b/c')
    expect(docNameFromPath('/caf%C3%A9')).toBe('café')
    expect(docNameFromPath('/a+b')).toBe('a+b')
    expect(docNameFromPath('//x')).toBe('/x')
    expect(docNameFromPath('/')).toBe('')
  })

  it('ignores a query string', () => {
    expect(docNameFromPath('/lobby?token=abc')).toBe('lobby')
  })

  it('throws a coded error on malformed encoding', () => {
    for (const path of ['/100%', '/%zz', '/%C3', '/%C3%28', '/%ED%A0%80']) {
      let err: unknown
      try { docNameFromPath(path) } catch (e) { err = e }
      expect(err, path).toBeInstanceOf(DocNameError)
      expect((err as DocNameError).code).toBe('DOC_NAME_MALFORMED')
      expect((err as DocNameError).status).toBe(400)
    }
  })
})

describe('validateDocName', () => {
  it('accepts ordinary names', () => {
    for (const name of ['lobby', 'notes/2024/todo', 'a b', 'café', '日本語', '🎉', 'x'.repeat(512)]) {
      expect(validateDocName(name), name).toEqual({ ok: true })
    }
  })

  it('rejects empty names', () => {
    expect(validateDocName('')).toMatchObject({ ok: false, reason: expect.stringMatching(/empty/) })
  })

  it('measures length in UTF-8 bytes', () => {
    expect(validateDocName('x'.repeat(513)).ok).toBe(false)
    expect(validateDocName('é'.repeat(256)).ok).toBe(true) // 512 bytes
    expect(validateDocName('é'.repeat(257)).ok).toBe(false) // 514 bytes, 257 code units
    expect(validateDocName('🎉'.repeat(128)).ok).toBe(true) // 512 bytes
    expect(validateDocName('🎉'.repeat(129)).ok).toBe(false)
    expect(validateDocName('abcd', 3).ok).toBe(false)
    expect(validateDocName('x'.repeat(10_000_000)).ok).toBe(false)
  })

  it('rejects control characters', () => {
    for (const c of ['\u0000', '\u0009', '\n', '\u001F', '\u007F', '\u0080', '\u009F']) {
      expect(validateDocName(`a${c}b`)).toMatchObject({ ok: false, reason: expect.stringMatching(/control/) })
    }
    expect(validateDocName('a\u00A0b').ok).toBe(true) // first code point after C1
  })

  it('rejects lone surrogates', () => {
    expect(validateDocName('a\uD800b').ok).toBe(false)
    expect(validateDocName('a\uDC00').ok).toBe(false)
    expect(validateDocName('\uDC00\uD800').ok).toBe(false)
  })
})

describe('isOriginAllowed', () => {
  const list = ['https://app.example.com', 'http://localhost:3000', 'https://*.example.org']

  it('allows everything without a list, and clients without an Origin', () => {
    expect(isOriginAllowed('https://evil.test', undefined)).toBe(true)
    expect(isOriginAllowed(undefined, list)).toBe(true)
    expect(isOriginAllowed(undefined, [])).toBe(true)
  })

  it('an empty list refuses every browser origin', () => {
    expect(isOriginAllowed('https://app.example.com', [])).toBe(false)
  })

  const table: Array<[string, boolean]> = [
    ['https://app.example.com', true],
    ['https://APP.example.com', true],
    ['https://app.example.com:443', true], // default port
    ['http://app.example.com', false], // scheme
    ['https://app.example.com:8443', false], // port
    ['https://evil.app.example.com', false], // exact entries match no subdomain
    ['https://app.example.com.evil.test', false],
    ['http://localhost:3000', true],
    ['http://localhost:3001', false],
    ['http://localhost', false],
    ['https://a.example.org', true],
    ['https://a.b.example.org', true],
    ['https://example.org', false], // the wildcard is for subdomains, not the apex
    ['https://evilexample.org', false], // label boundary
    ['http://a.example.org', false], // wildcard keeps the scheme
    ['https://a.example.org:444', false],
    ['null', false],
    ['not an origin', false],
    ['', false]
  ]
  it.each(table)('%j → %s', (origin, expected) => {
    expect(isOriginAllowed(origin, list)).toBe(expected)
  })

  it('a bare *.domain entry matches any scheme and port', () => {
    const bare = ['*.example.com']
    expect(isOriginAllowed('https://a.example.com', bare)).toBe(true)
    expect(isOriginAllowed('http://a.example.com:8080', bare)).toBe(true)
    expect(isOriginAllowed('https://example.com', bare)).toBe(false)
    expect(isOriginAllowed('https://notexample.com', bare)).toBe(false)
  })

  it('"*" matches any origin; "null" only when listed', () => {
    expect(isOriginAllowed('https://anything.test', ['*'])).toBe(true)
    expect(isOriginAllowed('null', ['null'])).toBe(true)
  })

  it('tolerates a trailing slash in an entry', () => {
    expect(isOriginAllowed('https://app.example.com', ['https://app.example.com/'])).toBe(true)
  })
})
