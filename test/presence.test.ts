/** Presence on its own: no timer per document, and the registry's sweep expires states as the Awareness would. */
import { pino } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { LocalFanout } from '../src/fanout/types.js'
import { createMetrics } from '../src/metrics.js'
import { Presence } from '../src/presence.js'
import { AwarenessReservations } from '../src/reservations.js'

function presence (): Presence {
  const logger = pino({ level: 'silent' })
  return new Presence(new Y.Doc(), {
    fanout: new LocalFanout(),
    metrics: createMetrics(),
    limits: { maxAwarenessStateBytes: 1024, maxAwarenessClientsPerConnection: 8, maxAwarenessBytesPerDoc: 1 << 20 },
    reservations: new AwarenessReservations(30_000)
  }, { name: 'doc', log: logger })
}

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

describe('Presence', () => {
  it('starts no timer per document (the Awareness\'s own _checkInterval is stopped; fails loudly if y-protocols renames it)', () => {
    const probe = new awarenessProtocol.Awareness(new Y.Doc())
    expect((probe as unknown as { _checkInterval?: unknown })._checkInterval).toBeDefined()
    probe.destroy()
    const before = timers()
    const many = Array.from({ length: 50 }, presence)
    expect(timers()).toBe(before)
    for (const p of many) p.destroy()
  })

  it('expires a state 30 s after its last renewal when swept, and not before', () => {
    const p = presence()
    const remote = new awarenessProtocol.Awareness(new Y.Doc())
    remote.setLocalState({ user: 'sleepy' })
    awarenessProtocol.applyAwarenessUpdate(p.awareness, awarenessProtocol.encodeAwarenessUpdate(remote, [remote.clientID]), 'test')
    const seen = p.awareness.meta.get(remote.clientID)!.lastUpdated
    p.expire(seen + awarenessProtocol.outdatedTimeout - 1)
    expect(p.count).toBe(1)
    p.expire(seen + awarenessProtocol.outdatedTimeout)
    expect(p.count).toBe(0)
    remote.destroy()
    p.destroy()
  })
})
