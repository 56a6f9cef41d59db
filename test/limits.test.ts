import { describe, expect, it } from 'vitest'
import { ConnectionRateLimiter, IpConnectionCounter, RateLimitRules, TokenBucket } from '../src/limits.js'

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
  it('keeps its own counts when its rules are shared with other connections', () => {
    const clock = manualClock()
    const rules = new RateLimitRules({ messagesPerSec: 10, messagesBurst: 2, now: clock.now })
    const a = new ConnectionRateLimiter(rules)
    const b = new ConnectionRateLimiter(rules)
    expect([a.check(1), a.check(1), a.check(1)]).toEqual(['ok', 'ok', 'messages'])
    expect([b.check(1), b.check(1)]).toEqual(['ok', 'ok'])
    clock.advance(100)
    expect([a.check(1), a.check(1)]).toEqual(['ok', 'messages'])
  })

  it('refuses rules that could never let a message through', () => {
    expect(() => new RateLimitRules({ messagesPerSec: 0 })).toThrow(RangeError)
    expect(() => new RateLimitRules({ bytesBurst: Number.NaN })).toThrow(RangeError)
  })

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
