import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import {
  clientIp,
  ConnectionRateLimiter,
  DocNameError,
  docNameFromPath,
  IpConnectionCounter,
  isOriginAllowed,
  TokenBucket,
  validateDocName
} from '../src/limits.js'

function manualClock (start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('TokenBucket', () => {
  it('starts full, empties, and refills at the rate', () => {
    const clock = manualClock()
    const bucket = new TokenBucket({ ratePerSec: 10, burst: 3, now: clock.now })
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false])
    clock.advance(99)
    expect(bucket.take()).toBe(false)
    clock.advance(1) // 100 ms at 10/s = one token
    expect(bucket.take()).toBe(true)
    expect(bucket.take()).toBe(false)
  })

  it('never holds more than burst', () => {
    const clock = manualClock()
    const bucket = new TokenBucket({ ratePerSec: 1000, burst: 5, now: clock.now })
    clock.advance(60_000)
    expect(bucket.available()).toBe(5)
    expect(bucket.take(5)).toBe(true)
    expect(bucket.take()).toBe(false)
  })

  it('a refused take spends nothing', () => {
    const clock = manualClock()
    const bucket = new TokenBucket({ ratePerSec: 1, burst: 10, now: clock.now })
    expect(bucket.take(11)).toBe(false)
    expect(bucket.take(7)).toBe(true)
    expect(bucket.take(4)).toBe(false)
    expect(bucket.take(3)).toBe(true)
  })

  it('sustains exactly the rate over time', () => {
    const clock = manualClock()
    const bucket = new TokenBucket({ ratePerSec: 50, burst: 1, now: clock.now })
    let passed = 0
    for (let i = 0; i < 10_000; i++) { // 10 s in 1 ms steps
      if (bucket.take()) passed++
      clock.advance(1)
    }
    expect(passed).toBeGreaterThanOrEqual(500)
    expect(passed).toBeLessThanOrEqual(501)
  })

  it('a clock stepping back refills nothing', () => {
    const clock = manualClock(10_000)
    const bucket = new TokenBucket({ ratePerSec: 1, burst: 1, now: clock.now })
    expect(bucket.take()).toBe(true)
    clock.advance(-5000)
    expect(bucket.take()).toBe(false)
    clock.advance(5000) // back where it was: still no time has passed
    expect(bucket.take()).toBe(false)
    clock.advance(1000)
    expect(bucket.take()).toBe(true)
  })

  it('rejects nonsense options', () => {
    expect(() => new TokenBucket({ ratePerSec: 0, burst: 1 })).toThrow(RangeError)
    expect(() => new TokenBucket({ ratePerSec: 1, burst: 0 })).toThrow(RangeError)
    expect(() => new TokenBucket({ ratePerSec: Infinity, burst: 1 })).toThrow(RangeError)
    expect(() => new TokenBucket({ ratePerSec: NaN, burst: 1 })).toThrow(RangeError)
  })

  it('works with the real clock', () => {
    const bucket = new TokenBucket({ ratePerSec: 1, burst: 2 })
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false])
  })
})

describe('ConnectionRateLimiter', () => {
  it('limits messages per second', () => {
    const clock = manualClock()
    const limiter = new ConnectionRateLimiter({ messagesPerSec: 10, messagesBurst: 2, now: clock.now })
    expect([limiter.check(1), limiter.check(1), limiter.check(1)]).toEqual(['ok', 'ok', 'messages'])
    clock.advance(100)
    expect(limiter.check(1)).toBe('ok')
  })

  it('limits bytes per second', () => {
    const clock = manualClock()
    const limiter = new ConnectionRateLimiter({ bytesPerSec: 1000, bytesBurst: 1500, now: clock.now })
    expect(limiter.check(1000)).toBe('ok')
    expect(limiter.check(1000)).toBe('bytes')
    expect(limiter.check(500)).toBe('ok')
    clock.advance(1000)
    expect(limiter.check(1000)).toBe('ok')
  })

  it('a refused message spends from neither bucket', () => {
    const clock = manualClock()
    const limiter = new ConnectionRateLimiter({ messagesPerSec: 1, messagesBurst: 2, bytesPerSec: 1, bytesBurst: 100, now: clock.now })
    expect(limiter.check(200)).toBe('bytes') // too big: must not spend a message token
    expect(limiter.check(50)).toBe('ok')
    expect(limiter.check(50)).toBe('ok')
    expect(limiter.check(0)).toBe('messages')
  })

  it('has finite defaults: 1000 messages/s and 8 MiB/s, bursts of twice that', () => {
    const clock = manualClock()
    const limiter = new ConnectionRateLimiter({ now: clock.now })
    for (let i = 0; i < 2000; i++) expect(limiter.check(100)).toBe('ok')
    expect(limiter.check(100)).toBe('messages')
    clock.advance(1000)
    for (let i = 0; i < 1000; i++) expect(limiter.check(100)).toBe('ok')
    expect(limiter.check(100)).toBe('messages')
    // Two maximum-size (8 MiB) messages at once, not three.
    clock.advance(60_000)
    const mib8 = 8 * 1024 * 1024
    expect([limiter.check(mib8), limiter.check(mib8), limiter.check(mib8)]).toEqual(['ok', 'ok', 'bytes'])
  })

  it('a burst follows a configured rate unless given', () => {
    const clock = manualClock()
    const limiter = new ConnectionRateLimiter({ messagesPerSec: 2, now: clock.now })
    expect([1, 2, 3, 4, 5].map(() => limiter.check(1))).toEqual(['ok', 'ok', 'ok', 'ok', 'messages'])
  })
})

describe('IpConnectionCounter', () => {
  it('allows up to max per IP', () => {
    const counter = new IpConnectionCounter(2)
    expect([counter.acquire('a'), counter.acquire('a'), counter.acquire('a')]).toEqual([true, true, false])
    expect(counter.acquire('b')).toBe(true)
    expect(counter.count('a')).toBe(2)
    counter.release('a')
    expect(counter.acquire('a')).toBe(true)
  })

  it('forgets an IP at zero and ignores extra releases', () => {
    const counter = new IpConnectionCounter(3)
    for (let i = 0; i < 1000; i++) {
      const ip = `10.0.${i >> 8}.${i & 255}`
      counter.acquire(ip)
      counter.release(ip)
    }
    expect(counter.size).toBe(0)
    counter.release('never-seen')
    expect(counter.count('never-seen')).toBe(0)
    expect(counter.size).toBe(0)
    counter.acquire('x')
    counter.release('x')
    counter.release('x')
    expect(counter.count('x')).toBe(0)
    expect([counter.acquire('x'), counter.acquire('x'), counter.acquire('x'), counter.acquire('x')]).toEqual([true, true, true, false])
  })

  it('validates max', () => {
    expect(() => new IpConnectionCounter(0)).toThrow(RangeError)
    expect(() => new IpConnectionCounter(1.5)).toThrow(RangeError)
    expect(new IpConnectionCounter(Infinity).acquire('a')).toBe(true)
  })
})

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
