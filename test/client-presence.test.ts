/**
 * Presence on a bare Awareness: local fields, away timing and DOM-style
 * activity, without a server.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { Presence } from '../src/client/presence.js'
import { until } from './helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => { for (const f of cleanups.splice(0)) f() })

function make (options: ConstructorParameters<typeof Presence>[1]): { presence: Presence, awareness: Awareness } {
  const awareness = new Awareness(new Y.Doc())
  const presence = new Presence(awareness, options)
  cleanups.push(() => { presence.destroy(); awareness.destroy() })
  return { presence, awareness }
}

describe('Presence', () => {
  it('keeps name and color under user, other fields at the top, and removes undefined ones', () => {
    const { presence, awareness } = make({ activitySource: null })
    presence.set({ name: 'Ada', color: '#f00', cursor: { x: 1 }, typing: true })
    expect(awareness.getLocalState()).toEqual({ status: 'online', user: { name: 'Ada', color: '#f00' }, cursor: { x: 1 }, typing: true })
    presence.set({ typing: undefined, color: undefined })
    expect(presence.local).toEqual({ status: 'online', name: 'Ada', cursor: { x: 1 } })
  })

  it('turns away after the timeout and back on activity from the activity source', async () => {
    const source = new EventTarget()
    const { presence } = make({ awayAfterMs: 40, activitySource: source })
    const local: boolean[] = []
    presence.on('change', (change) => local.push(change.local))
    expect(presence.status).toBe('online')
    await until(() => presence.status === 'away', 'away')
    source.dispatchEvent(new Event('keydown'))
    expect(presence.status).toBe('online')
    await until(() => presence.status === 'away', 'away again')
    expect(local.length).toBeGreaterThanOrEqual(3)
    expect(local.every(Boolean)).toBe(true)
  })

  it('stops listening and timing on destroy', () => {
    vi.useFakeTimers()
    cleanups.push(() => vi.useRealTimers())
    const source = new EventTarget()
    const { presence } = make({ awayAfterMs: 20, activitySource: source })
    vi.advanceTimersByTime(10)
    const timers = vi.getTimerCount()
    presence.destroy()
    // Only the awareness's own interval is left.
    expect(vi.getTimerCount()).toBe(timers - 1)
    vi.advanceTimersByTime(100)
    expect(presence.status).toBe('online')
    source.dispatchEvent(new Event('keydown'))
    expect(() => presence.set({ name: 'late' })).not.toThrow()
  })

  it('rejects a non-positive away timeout', () => {
    expect(() => make({ awayAfterMs: 0 })).toThrow(RangeError)
  })
})
