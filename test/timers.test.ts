import { describe, expect, it } from 'vitest'
import { callAt, MAX_TIMER_MS, type TimerClock } from '../src/timers.js'

/** A clock whose time moves only when the test says so; timers fire as it passes them. */
function manualClock (start = 1_000_000): TimerClock & { advance: (ms: number) => void; pending: () => number } {
  let now = start
  let nextId = 1
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++
      timers.set(id, { at: now + ms, fn })
      return id
    },
    clearTimeout: (handle) => { timers.delete(handle as number) },
    advance (ms: number) {
      const until = now + ms
      for (let guard = 0; guard < 1000; guard++) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
        if (due === undefined) break
        timers.delete(due[0])
        now = due[1].at
        due[1].fn()
      }
      now = until
    },
    pending: () => timers.size
  }
}

describe('callAt', () => {
  it('fires once at the given time', () => {
    const clock = manualClock()
    let fired = 0
    callAt(clock.now() + 5000, () => { fired++ }, clock)
    clock.advance(4999)
    expect(fired).toBe(0)
    clock.advance(1)
    expect(fired).toBe(1)
    clock.advance(100_000)
    expect(fired).toBe(1)
    expect(clock.pending()).toBe(0)
  })

  it('waits a delay longer than one timer can (a token valid for 60 days) in steps, never early', () => {
    const clock = manualClock()
    const at = clock.now() + 60 * 24 * 3600 * 1000
    let firedAt = -1
    callAt(at, () => { firedAt = clock.now() }, clock)
    // The first timer ends at the timer maximum (~24.8 days), long before the expiry.
    clock.advance(MAX_TIMER_MS)
    expect(firedAt).toBe(-1)
    clock.advance(2 * MAX_TIMER_MS)
    expect(firedAt).toBe(at)
  })

  it('does not fire once cancelled, and leaves no timer', () => {
    const clock = manualClock()
    let fired = 0
    const cancel = callAt(clock.now() + 3 * MAX_TIMER_MS, () => { fired++ }, clock)
    clock.advance(MAX_TIMER_MS + 10)
    cancel()
    clock.advance(10 * MAX_TIMER_MS)
    expect(fired).toBe(0)
    expect(clock.pending()).toBe(0)
  })
})
