/**
 * Chat example in real browsers: messages, the LWW room title, the typing
 * indicator, the away status, a closed page leaving the list, and the saved
 * indicator turning to saved after an edit.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { startExample, type RunningExample } from '../../examples/launcher.mjs'
import { e2eEnabled, launch, openAs, uniqueDoc, waitForSave } from './browser.js'

const screenshot = fileURLToPath(new URL('../../examples/presence/screenshot.png', import.meta.url))

async function send (page: Page, text: string): Promise<void> {
  await page.fill('#message', text)
  await page.press('#message', 'Enter')
}

const messageCount = (page: Page, n: number): Promise<unknown> =>
  page.waitForFunction((want) => document.querySelectorAll('#messages .message').length === want, n)

describe.skipIf(!e2eEnabled)('presence (chat) example', () => {
  let example: RunningExample
  let browser: Browser

  beforeAll(async () => {
    example = await startExample('presence', { port: 0, tandemPort: 0, persistence: 'memory' })
    browser = await launch()
  })

  afterAll(async () => {
    await browser?.close()
    await example?.close()
  })

  it('chats, shares the title, shows typing and away, drops a closed page, and reports saved', async () => {
    const doc = uniqueDoc('presence')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    await waitForSave(ada.page, 'saved')
    await waitForSave(grace.page, 'saved')

    // The saved indicator: saving after an edit, then saved once the server stored it.
    await ada.page.evaluate(() => {
      const g = globalThis as any
      g.statuses = []
      g.example.client.on('status', (s: string) => g.statuses.push(s))
    })
    await ada.page.fill('#title', 'Launch review')
    await ada.page.press('#title', 'Enter')
    await waitForSave(ada.page, 'saved')
    expect(await ada.page.evaluate(() => (globalThis as any).statuses)).toEqual(['saving', 'saved'])
    await grace.page.waitForFunction(() => (document.getElementById('title') as HTMLInputElement).value === 'Launch review')

    // Messages both ways.
    await send(ada.page, 'Morning! The sync server passed its crash tests overnight.')
    await messageCount(grace.page, 1)
    await send(grace.page, 'Nice. Browser tests are green too.')
    await send(ada.page, 'Then let us ship it this afternoon.')
    await messageCount(ada.page, 3)
    await messageCount(grace.page, 3)
    const texts = (page: Page): Promise<string[]> => page.$$eval('#messages .message .text', (els) => els.map((el) => el.textContent ?? ''))
    expect(await texts(grace.page)).toEqual(await texts(ada.page))

    // A page that closes leaves the other's list.
    const linus = await openAs(browser, example.url, { doc, name: 'Linus', color: '#16a34a' })
    await ada.page.locator('#people .person', { hasText: 'Linus' }).waitFor()
    await linus.context.close()
    await ada.page.locator('#people .person', { hasText: 'Linus' }).waitFor({ state: 'detached' })
    await grace.page.locator('#people .person', { hasText: 'Linus' }).waitFor({ state: 'detached' })

    // Someone idle turns away.
    const margaret = await openAs(browser, example.url, { doc, name: 'Margaret', color: '#d97706', away: '1000' })
    await ada.page.locator('#people .person[data-status="away"]', { hasText: 'Margaret' }).waitFor()

    // The typing indicator, seen by Ada while Grace types.
    await grace.page.fill('#message', '')
    await grace.page.type('#message', 'Sounds good, I will write the release notes')
    await ada.page.locator('#typing', { hasText: 'Grace is typing…' }).waitFor()
    await ada.page.locator('#people .person', { hasText: 'typing…' }).waitFor()
    await ada.page.screenshot({ path: screenshot })

    for (const person of [ada, grace, margaret]) expect(person.errors).toEqual([])
    for (const person of [ada, grace, margaret]) await person.context.close()
  })
})
