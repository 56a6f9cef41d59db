/**
 * Text editor example in two browsers: concurrent typing converges, and each
 * page shows the other's caret with name and color.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { startExample, type RunningExample } from '../../examples/launcher.mjs'
import { e2eEnabled, launch, openAs, uniqueDoc, waitForSave } from './browser.js'

const screenshot = fileURLToPath(new URL('../../examples/text-editor/screenshot.png', import.meta.url))

describe.skipIf(!e2eEnabled)('text-editor example', () => {
  let example: RunningExample
  let browser: Browser

  beforeAll(async () => {
    example = await startExample('text-editor', { port: 0, tandemPort: 0, persistence: 'memory' })
    browser = await launch()
  })

  afterAll(async () => {
    await browser?.close()
    await example?.close()
  })

  it('converges when two pages type at once and shows the remote caret and name', async () => {
    const doc = uniqueDoc('text-editor')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    await waitForSave(ada.page, 'saved')
    await waitForSave(grace.page, 'saved')

    await ada.page.click('.cm-content')
    await ada.page.keyboard.type('Release plan\n\n- Ada: \n- Grace: ')
    await grace.page.waitForFunction(() => (globalThis as any).example.text.toString().endsWith('Grace: '))

    // Each goes to the end of their own line, then both type at the same time.
    await grace.page.click('.cm-content')
    await grace.page.keyboard.press('Control+End')
    await ada.page.keyboard.press('Control+End')
    await ada.page.keyboard.press('ArrowUp')
    await ada.page.keyboard.press('End')
    await Promise.all([
      ada.page.keyboard.type('ship the sync server and the saved indicator', { delay: 15 }),
      grace.page.keyboard.type('browser tests for every example', { delay: 15 })
    ])

    const expected = 'Release plan\n\n- Ada: ship the sync server and the saved indicator\n- Grace: browser tests for every example'
    const textOf = (page: typeof ada.page): Promise<string> => page.evaluate(() => (globalThis as any).example.text.toString())
    await ada.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, expected)
    await grace.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, expected)
    expect(await textOf(ada.page)).toBe(await textOf(grace.page))
    // What the editors display matches the shared text.
    const shown = (page: typeof ada.page): Promise<string> => page.evaluate(() => (globalThis as any).example.view.state.doc.toString())
    expect(await shown(ada.page)).toBe(expected)
    expect(await shown(grace.page)).toBe(expected)

    // Grace sees Ada's caret, labelled with her name and drawn in her color.
    const caret = grace.page.locator('.cm-ySelectionCaret', { hasText: 'Ada' })
    await caret.waitFor()
    expect(await caret.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(225, 29, 72)')
    await ada.page.locator('.cm-ySelectionCaret', { hasText: 'Grace' }).waitFor()

    // Both appear in each other's who's-online list.
    await grace.page.locator('#people .person', { hasText: 'Ada' }).waitFor()
    await ada.page.locator('#people .person', { hasText: 'Grace' }).waitFor()

    // Ada selects her own words, so the screenshot shows a remote selection too.
    await ada.page.keyboard.down('Shift')
    for (let i = 0; i < 'the saved indicator'.length; i++) await ada.page.keyboard.press('ArrowLeft')
    await ada.page.keyboard.up('Shift')
    await grace.page.waitForSelector('.cm-ySelection')
    await waitForSave(grace.page, 'saved')
    await grace.page.screenshot({ path: screenshot })

    expect(ada.errors).toEqual([])
    expect(grace.errors).toEqual([])
    await ada.context.close()
    await grace.context.close()
  })

  it('keeps edits made offline in IndexedDB and merges them on reconnect', async () => {
    const doc = uniqueDoc('text-editor-offline')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    await waitForSave(ada.page, 'saved')
    await ada.page.click('.cm-content')
    await ada.page.keyboard.type('Online line\n')
    await grace.page.waitForFunction(() => (globalThis as any).example.text.toString() === 'Online line\n')

    // Ada loses the network, types, and closes the tab before it comes back.
    await ada.context.setOffline(true)
    await waitForSave(ada.page, 'offline')
    await ada.page.keyboard.type('Written offline')
    // A read transaction completes only after the writes queued before it.
    await ada.page.evaluate(() => new Promise<void>((resolve, reject) => {
      const tx = (globalThis as any).example.client.local.db.transaction(['updates'], 'readonly')
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error)
    }))
    await ada.page.close()
    expect(await grace.page.evaluate(() => (globalThis as any).example.text.toString())).toBe('Online line\n')

    // Back online, a new tab of the same browser loads the edit from IndexedDB and sends it.
    await ada.context.setOffline(false)
    const page = await ada.context.newPage()
    await page.goto(`${example.url}?${new URLSearchParams({ doc, name: 'Ada', color: '#e11d48' }).toString()}`)
    await grace.page.waitForFunction(() => (globalThis as any).example.text.toString() === 'Online line\nWritten offline')
    await waitForSave(page, 'saved')
    expect(ada.errors).toEqual([])
    expect(grace.errors).toEqual([])
    await ada.context.close()
    await grace.context.close()
  })
})
