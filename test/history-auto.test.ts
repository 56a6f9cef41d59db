/**
 * When automatic versions are due (src/history/auto.ts), on a manual clock:
 * after an idle period, at least every maximum interval while changes go
 * on, never without changes, and cleared on close.
 */
import { describe, expect, it } from 'vitest'
import { AutoVersions, type AutoOutcome, type AutoTrigger } from '../src/history/auto.js'
import { manualClock } from './helpers.js'

interface Call { at: number; doc: string; trigger: AutoTrigger; local: boolean }

function setup (options: { idleMs?: number; maxIntervalMs?: number; outcome?: () => AutoOutcome | Promise<AutoOutcome> } = {}) {
  const clock = manualClock(0)
  const calls: Call[] = []
  const auto = new AutoVersions({
    idleMs: options.idleMs ?? 1000,
    maxIntervalMs: options.maxIntervalMs ?? 5000,
    clock,
    record: async (doc, trigger, local) => {
      calls.push({ at: clock.now(), doc, trigger, local })
      return await (options.outcome?.() ?? 'added')
    }
  })
  /** Moves the clock and lets the recordings settle. */
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms)
    for (let i = 0; i < 10; i++) await Promise.resolve()
  }
  return { clock, calls, auto, advance }
}

describe('AutoVersions', () => {
  it('records once a changed document has been idle, and then stops', async () => {
    const { calls, auto, advance, clock } = setup()
    auto.changed('doc', true)
    await advance(400)
    auto.changed('doc', true)
    await advance(999)
    expect(calls).toEqual([])
    await advance(1)
    expect(calls).toEqual([{ at: 1400, doc: 'doc', trigger: 'idle', local: true }])
    await advance(60_000)
    expect(calls).toHaveLength(1)
    expect(auto.size).toBe(0)
    expect(clock.pending()).toBe(0)
  })

  it('records at least every maximum interval while changes go on, then once idle', async () => {
    const { calls, auto, advance } = setup({ idleMs: 1000, maxIntervalMs: 3000 })
    for (let t = 0; t < 10_000; t += 500) {
      auto.changed('doc', true)
      await advance(500)
    }
    await advance(5000)
    expect(calls.map((c) => [c.at, c.trigger])).toEqual([[3000, 'interval'], [6000, 'interval'], [9000, 'interval'], [10_500, 'idle']])
  })

  it('records nothing without changes, and keeps documents apart', async () => {
    const { calls, auto, advance } = setup()
    await advance(100_000)
    auto.changed('a', true)
    await advance(500)
    auto.changed('b', false)
    await advance(5000)
    expect(calls.map((c) => [c.doc, c.at, c.local])).toEqual([['a', 101_000, true], ['b', 101_500, false]])
  })

  it('records again for changes made while a recording was in flight', async () => {
    let finish: (outcome: AutoOutcome) => void = () => {}
    const { calls, auto, advance } = setup({ outcome: () => new Promise<AutoOutcome>((resolve) => { finish = resolve }) })
    auto.changed('doc', false)
    await advance(1000)
    expect(calls).toHaveLength(1)
    auto.changed('doc', true)
    await advance(200)
    finish('added')
    await advance(0)
    await advance(1000)
    expect(calls.map((c) => [c.at, c.local])).toEqual([[1000, false], [2000, true]])
  })

  it('tries again an idle period after a failure, and one interval on after "recent"', async () => {
    const outcomes: AutoOutcome[] = ['failed', 'added']
    const { calls, auto, advance } = setup({ outcome: () => outcomes.shift() ?? 'added' })
    auto.changed('doc', true)
    await advance(1000)
    await advance(1000)
    expect(calls.map((c) => c.at)).toEqual([1000, 2000])
    await advance(10_000)
    expect(calls).toHaveLength(2)

    const recent = setup({ idleMs: 1000, maxIntervalMs: 3000, outcome: () => 'recent' })
    for (let t = 0; t < 8000; t += 500) {
      recent.auto.changed('doc', true)
      await recent.advance(500)
    }
    expect(recent.calls.map((c) => c.at)).toEqual([3000, 6000])
  })

  it('keeps one timer for many documents and records each at its own time, in order', async () => {
    const { calls, auto, advance, clock } = setup({ idleMs: 1000, maxIntervalMs: 5000 })
    // 60 documents changed 15 ms apart (all within one idle period), in an order unrelated to their names, some twice.
    const expected = new Map<string, number>()
    for (let i = 0; i < 60; i++) {
      const doc = `d${(i * 7) % 60}`
      auto.changed(doc, true)
      expected.set(doc, i * 15 + 1000)
      if (i % 5 === 0) {
        auto.changed(`d${(i * 11) % 60}`, false)
        expected.set(`d${(i * 11) % 60}`, i * 15 + 1000)
      }
      expect(clock.pending()).toBeLessThanOrEqual(1)
      await advance(15)
    }
    await auto.forget('d0')
    expected.delete('d0')
    await advance(10_000)
    expect(clock.pending()).toBe(0)
    expect(calls.map((c) => c.doc).sort()).toEqual([...expected.keys()].sort())
    for (const c of calls) expect(c.at).toBe(expected.get(c.doc))
    expect(calls.map((c) => c.at)).toEqual(calls.map((c) => c.at).sort((a, b) => a - b))
    expect(auto.size).toBe(0)
  })

  it('forgets a deleted document', async () => {
    const { calls, auto, advance, clock } = setup()
    auto.changed('doc', true)
    await auto.forget('doc')
    await advance(10_000)
    expect(calls).toEqual([])
    expect(clock.pending()).toBe(0)
  })

  it('records what is due at close, clears its timers, and ignores changes after', async () => {
    const { calls, auto, advance, clock } = setup()
    auto.changed('a', true)
    auto.changed('b', false)
    await advance(300)
    await auto.close()
    expect(calls.map((c) => [c.doc, c.at, c.trigger])).toEqual([['a', 300, 'idle'], ['b', 300, 'idle']])
    expect(clock.pending()).toBe(0)
    auto.changed('a', true)
    await advance(10_000)
    expect(calls).toHaveLength(2)
    await auto.close()
  })

  it('is off with idleMs 0', async () => {
    const { calls, auto, advance, clock } = setup({ idleMs: 0 })
    auto.changed('doc', true)
    await advance(10_000_000)
    expect(calls).toEqual([])
    expect(auto.enabled).toBe(false)
    expect(clock.pending()).toBe(0)
  })
})
