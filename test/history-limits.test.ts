/**
 * What a write-grant holder can do with versions, bounded: thousands of
 * named versions (historyMaxNamedVersions), restores and creations in a
 * loop (historyWritesPerMinute), huge labels, restores that would grow a
 * document past maxDocumentBytes, and reads that cost work (the sync-work
 * budget). Automatic versions are bounded by historyKeep.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { signToken } from '../src/auth.js'
import { DEFAULTS, resolveConfig } from '../src/config.js'
import { fetchDoc, testScope, until, type Running } from './helpers.js'

const SECRET = 'history-limits-secret-long-enough'
const { serve, open } = testScope()

async function post (running: Running, path: string, body?: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${running.http}${path}`, { method: 'POST', body, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

async function seed (running: Running, doc: string, text: string): Promise<void> {
  const source = new Y.Doc()
  source.getText('text').insert(0, text)
  const res = await fetch(`${running.http}/docs/${encodeURIComponent(doc)}/update`, { method: 'POST', body: Buffer.from(Y.encodeStateAsUpdate(source)) })
  expect(res.status).toBe(200)
}

describe('limits on version history', () => {
  it('refuses named versions (and restores, which make a backup) beyond historyMaxNamedVersions', async () => {
    const running = await serve({ historyMaxNamedVersions: 5, historyWritesPerMinute: 1000 })
    await seed(running, 'many', 'content')
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const made = await post(running, '/docs/many/versions', JSON.stringify({ label: `v${i}` }))
      expect(made.status).toBe(201)
      ids.push(made.body.id)
    }
    const refused = await post(running, '/docs/many/versions', '{"label":"one too many"}')
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('VERSION_LIMIT')
    // A restore needs a backup, which is refused too, and changes nothing.
    const restore = await post(running, `/docs/many/versions/${ids[0]}/restore`)
    expect(restore.status).toBe(409)
    // Deleting one makes room for one.
    expect((await fetch(`${running.http}/docs/many/versions/${ids[1]}`, { method: 'DELETE' })).status).toBe(200)
    expect((await post(running, '/docs/many/versions', '{}')).status).toBe(201)
    expect((await post(running, '/docs/many/versions', '{}')).status).toBe(409)
    // Another document has its own count.
    await seed(running, 'other', 'x')
    expect((await post(running, '/docs/other/versions', '{}')).status).toBe(201)
  })

  it('limits version writes per user per minute (historyWritesPerMinute), each user on their own budget', async () => {
    const running = await serve({ authSecret: SECRET, historyWritesPerMinute: 3 })
    const mallory = await signToken(SECRET, { sub: 'mallory', docs: { '*': 'write' } })
    const alice = await signToken(SECRET, { sub: 'alice', docs: { '*': 'write' } })
    const c = open(running.url, 'looped', { token: alice })
    await c.synced()
    c.doc.getText('text').insert(0, 'hello')
    await until(async () => (await fetch(`${running.http}/docs/looped?token=${alice}`)).status === 200, 'the doc to exist')
    const version = await post(running, '/docs/looped/versions', '{}', mallory)
    expect(version.status).toBe(201)
    // A restore loop: the budget runs out, whatever the mix of writes.
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await post(running, `/docs/looped/versions/${version.body.id as string}/restore`, undefined, mallory)).status)
    expect(statuses).toEqual([200, 200, 429, 429, 429])
    const limited = await post(running, '/docs/looped/versions', '{}', mallory)
    expect(limited.body.error.code).toBe('RATE_LIMITED')
    // Reading is not a write.
    expect((await fetch(`${running.http}/docs/looped/versions?token=${mallory}`)).status).toBe(200)
    expect((await post(running, '/docs/looped/versions', '{}', alice)).status).toBe(201)
  })

  it('refuses labels over historyMaxLabelChars and bodies far beyond them', async () => {
    const running = await serve({ historyMaxLabelChars: 10 })
    await seed(running, 'labels', 'x')
    expect((await post(running, '/docs/labels/versions', JSON.stringify({ label: '0123456789' }))).status).toBe(201)
    const long = await post(running, '/docs/labels/versions', JSON.stringify({ label: '0123456789!' }))
    expect(long.status).toBe(400)
    expect(long.body.error.code).toBe('LABEL_TOO_LONG')
    const huge = await post(running, '/docs/labels/versions', JSON.stringify({ label: 'x'.repeat(1024 * 1024) }))
    expect(huge.status).toBe(413)
    expect(huge.body.error.code).toBe('BODY_TOO_LARGE')
    expect((await (await fetch(`${running.http}/docs/labels/versions`)).json()).versions).toHaveLength(1)
  })

  it('refuses a restore that would grow the document past maxDocumentBytes, and the document stays as it is', async () => {
    const running = await serve({ maxDocumentBytes: 4096, historyWritesPerMinute: 1000 })
    const c = open(running.url, 'big')
    await c.synced()
    c.doc.getText('text').insert(0, 'a'.repeat(3000))
    await until(async () => (await fetchDoc(running.http, 'big').catch(() => new Y.Doc())).getText('text').length === 3000, 'the text to be stored')
    const version = await post(running, '/docs/big/versions', '{}')
    // Deleting the text keeps its tombstones; writing it back would pass the limit.
    c.doc.getText('text').delete(0, 3000)
    c.doc.getText('text').insert(0, 'b'.repeat(2000))
    await until(async () => (await fetchDoc(running.http, 'big')).getText('text').toString().startsWith('b'), 'the rewrite to be stored')
    const restore = await post(running, `/docs/big/versions/${version.body.id as string}/restore`)
    expect(restore.status).toBe(413)
    expect(restore.body.error.code).toBe('DOC_TOO_LARGE')
    expect((await fetchDoc(running.http, 'big')).getText('text').toString()).toBe('b'.repeat(2000))
    expect(c.doc.getText('text').toString()).toBe('b'.repeat(2000))
  })

  it('charges version reads and restores to the sync-work budget', async () => {
    const running = await serve({ syncWorkBytesPerSec: 1, maxDocumentBytes: 64 * 1024, historyWritesPerMinute: 1000 })
    await seed(running, 'costly', 'x'.repeat(20_000))
    const version = await post(running, '/docs/costly/versions', '{}')
    expect(version.status).toBe(201)
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await fetch(`${running.http}/docs/costly/versions/${version.body.id as string}?format=json`)).status)
    expect(statuses).toContain(429)
    expect((await post(running, `/docs/costly/versions/${version.body.id as string}/restore`)).status).toBe(429)
  })

  it('keeps at most historyKeep automatic versions per document', async () => {
    const running = await serve({ historyIdleMs: 100, historyKeep: 2 })
    const c = open(running.url, 'kept')
    await c.synced()
    /** Whether the newest version holds what the client shows now. */
    const newestIsCurrent = async (): Promise<boolean> => {
      const [newest] = (await (await fetch(`${running.http}/docs/kept/versions`)).json()).versions ?? []
      if (newest === undefined) return false
      const json = await (await fetch(`${running.http}/docs/kept/versions/${newest.id as string}?format=json`)).json()
      return json.text === c.doc.getText('text').toString()
    }
    for (let i = 0; i < 4; i++) {
      c.doc.getText('text').insert(0, `${i}`)
      await until(newestIsCurrent, `automatic version ${i}`, 10_000)
    }
    const listed = (await (await fetch(`${running.http}/docs/kept/versions`)).json()).versions
    expect(listed).toHaveLength(2)
    expect(listed.map((v: any) => v.kind)).toEqual(['auto', 'auto'])
  })

  it('has finite defaults, takes 0 to turn automatic versions off, and refuses nonsense', () => {
    for (const key of ['historyIdleMs', 'historyMaxIntervalMs', 'historyKeep', 'historyMaxNamedVersions', 'historyMaxLabelChars', 'historyWritesPerMinute'] as const) {
      expect(Number.isFinite(DEFAULTS[key])).toBe(true)
      expect(DEFAULTS[key]).toBeGreaterThan(0)
    }
    expect(resolveConfig({ historyIdleMs: 0 }).historyIdleMs).toBe(0)
    for (const bad of [{ historyIdleMs: -1 }, { historyIdleMs: 1.5 }, { historyKeep: 0 }, { historyMaxNamedVersions: -3 }, { historyMaxLabelChars: 0 }, { historyWritesPerMinute: Infinity }, { historyMaxIntervalMs: 0 }]) {
      expect(() => resolveConfig(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    }
  })
})
