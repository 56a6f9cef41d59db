/**
 * The bounded task pool behind export and import: never more than `limit`
 * documents in flight, one document's tasks in order, failures surfaced.
 */
import { describe, expect, it } from 'vitest'
import { TaskPool } from '../src/cli/pool.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('TaskPool', () => {
  it('runs at most `limit` tasks at once and all of them in the end', async () => {
    const pool = new TaskPool(3)
    let running = 0
    let peak = 0
    let done = 0
    for (let i = 0; i < 20; i++) {
      await pool.run(`k${i}`, async () => {
        running++
        peak = Math.max(peak, running)
        for (let t = 0; t < 1 + (i % 4); t++) await tick()
        running--
        done++
      })
    }
    await pool.drain()
    expect(done).toBe(20)
    expect(peak).toBe(3)
  })

  it('runs tasks with the same key one after the other, in order', async () => {
    const pool = new TaskPool(8)
    const log: string[] = []
    for (const [key, n] of [['a', 1], ['b', 1], ['a', 2], ['a', 3], ['b', 2]] as const) {
      await pool.run(key, async () => {
        log.push(`${key}${n} start`)
        await tick()
        await tick()
        log.push(`${key}${n} end`)
      })
    }
    await pool.drain()
    const a = log.filter((l) => l.startsWith('a'))
    expect(a).toEqual(['a1 start', 'a1 end', 'a2 start', 'a2 end', 'a3 start', 'a3 end'])
  })

  it('reports the first failure and starts nothing after it', async () => {
    const pool = new TaskPool(1)
    let started = 0
    await pool.run('x', async () => { started++; throw new Error('boom') })
    await expect(pool.run('y', async () => { started++ })).rejects.toThrow('boom')
    await expect(pool.drain()).rejects.toThrow('boom')
    expect(started).toBe(1)
  })
})
