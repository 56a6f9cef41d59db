/**
 * Drawing example in real browsers: strokes travel between pages, strokes
 * drawn while one page is offline merge when it is back, undo takes back only
 * one's own stroke, cursors and the online/away list come from presence.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { startExample, type RunningExample } from '../../examples/launcher.mjs'
import { e2eEnabled, launch, openAs, uniqueDoc, waitForSave } from './browser.js'

const screenshot = fileURLToPath(new URL('../../examples/drawing/screenshot.png', import.meta.url))

type Point = [number, number]

/** Draws a polyline on the canvas with real mouse events (canvas coordinates). */
async function draw (page: Page, points: Point[]): Promise<void> {
  const box = (await page.locator('#canvas').boundingBox())!
  const [first, ...rest] = points
  await page.mouse.move(box.x + first[0], box.y + first[1])
  await page.mouse.down()
  for (const [x, y] of rest) await page.mouse.move(box.x + x, box.y + y)
  await page.mouse.up()
}

const circle = (cx: number, cy: number, r: number, n = 36): Point[] =>
  Array.from({ length: n + 1 }, (_, i) => [cx + r * Math.cos((i / n) * 2 * Math.PI), cy + r * Math.sin((i / n) * 2 * Math.PI)])
const wave = (x0: number, y0: number, length: number, amplitude: number, n = 40): Point[] =>
  Array.from({ length: n + 1 }, (_, i) => [x0 + (i / n) * length, y0 + amplitude * Math.sin((i / n) * 4 * Math.PI)])
const zigzag = (x0: number, y0: number, width: number, height: number, teeth = 6): Point[] =>
  Array.from({ length: teeth * 2 + 1 }, (_, i) => [x0 + (i / (teeth * 2)) * width, y0 + (i % 2 === 0 ? 0 : height)])
const spiral = (cx: number, cy: number, turns = 3, n = 90): Point[] =>
  Array.from({ length: n + 1 }, (_, i) => {
    const t = (i / n) * turns * 2 * Math.PI
    const r = 6 + t * 9
    return [cx + r * Math.cos(t), cy + r * Math.sin(t)]
  })

const strokeIds = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as any).example.strokeIds())
const waitForStrokes = (page: Page, n: number): Promise<unknown> =>
  page.waitForFunction((want) => (globalThis as any).example.strokes.length === want && document.getElementById('canvas')!.dataset.strokes === String(want), n)

describe.skipIf(!e2eEnabled)('drawing example', () => {
  let example: RunningExample
  let browser: Browser

  beforeAll(async () => {
    example = await startExample('drawing', { port: 0, tandemPort: 0, persistence: 'memory' })
    browser = await launch()
  })

  afterAll(async () => {
    await browser?.close()
    await example?.close()
  })

  it('shares strokes, merges offline strokes, undoes only your own and shows cursors and statuses', async () => {
    const doc = uniqueDoc('drawing')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    // Linus opens the page and does nothing: he turns away after a second.
    const linus = await openAs(browser, example.url, { doc, name: 'Linus', color: '#16a34a', away: '1000' })
    await waitForSave(ada.page, 'saved')
    await waitForSave(grace.page, 'saved')

    // A stroke drawn in A appears in B.
    await draw(ada.page, wave(80, 140, 360, 50))
    await waitForStrokes(grace.page, 1)
    expect(await strokeIds(grace.page)).toEqual(await strokeIds(ada.page))

    // B goes offline; both draw.
    await grace.context.setOffline(true)
    await waitForSave(grace.page, 'offline')
    // Offline, B lists only itself.
    await grace.page.waitForFunction(() => document.querySelectorAll('#people .person').length === 1)
    await draw(ada.page, circle(680, 160, 85))
    await draw(grace.page, zigzag(90, 330, 380, 90))
    await draw(grace.page, spiral(700, 440, 2.5, 80))
    await waitForStrokes(ada.page, 2)
    await waitForStrokes(grace.page, 3)
    expect(await ada.page.locator('#canvas').getAttribute('data-strokes')).toBe('2')

    // B is back: both canvases hold all four strokes.
    await grace.context.setOffline(false)
    await waitForStrokes(ada.page, 4)
    await waitForStrokes(grace.page, 4)
    expect(await strokeIds(grace.page)).toEqual(await strokeIds(ada.page))
    await waitForSave(grace.page, 'saved')

    // Undo in B takes back B's last stroke (the spiral) only, everywhere.
    const before = await strokeIds(ada.page)
    await grace.page.click('#undo')
    await waitForStrokes(ada.page, 3)
    await waitForStrokes(grace.page, 3)
    const after = await strokeIds(ada.page)
    const removed = before.filter((id) => !after.includes(id))
    expect(removed).toHaveLength(1)
    const graceId = await grace.page.evaluate(() => (globalThis as any).example.client.doc.clientID)
    expect(removed[0]!.startsWith(`${graceId}-`)).toBe(true)
    // Redo brings it back; Undo in A would not touch B's strokes.
    await grace.page.click('#redo')
    await waitForStrokes(ada.page, 4)

    // Live cursor of B in A, with B's name.
    const box = (await grace.page.locator('#canvas').boundingBox())!
    await grace.page.mouse.move(box.x + 520, box.y + 360, { steps: 4 })
    const cursor = ada.page.locator('.cursor[data-name="Grace"]')
    await cursor.waitFor()
    expect(await cursor.locator('.label').textContent()).toBe('Grace')

    // The list shows Grace online and Linus away.
    await ada.page.locator('#people .person[data-status="online"]', { hasText: 'Grace' }).waitFor()
    await ada.page.locator('#people .person[data-status="away"]', { hasText: 'Linus' }).waitFor()
    await waitForSave(ada.page, 'saved')
    await ada.page.screenshot({ path: screenshot })

    for (const person of [ada, grace, linus]) expect(person.errors).toEqual([])
    for (const person of [ada, grace, linus]) await person.context.close()
  })
})
