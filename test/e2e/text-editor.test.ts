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
const historyScreenshot = fileURLToPath(new URL('../../examples/text-editor/history.png', import.meta.url))

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
    // Going offline aborts a request in flight (the history panel polls), and
    // the browser logs that itself; anything else is a fault of the page.
    expect(ada.errors.filter((e) => e !== 'console: Failed to load resource: net::ERR_INTERNET_DISCONNECTED')).toEqual([])
    expect(grace.errors).toEqual([])
    await ada.context.close()
    await grace.context.close()
  })

  it('saves a named version, previews it and restores it for both pages', async () => {
    const doc = uniqueDoc('text-editor-history')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    await waitForSave(ada.page, 'saved')
    await waitForSave(grace.page, 'saved')
    const textOf = (page: typeof ada.page): Promise<string> => page.evaluate(() => (globalThis as any).example.text.toString())

    const plan = 'Release plan\n\n- ship version history\n- polish the examples\n- write the docs'
    await ada.page.click('.cm-content')
    await ada.page.keyboard.type(plan)
    await grace.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, plan)
    await waitForSave(ada.page, 'saved')

    // Ada names a version from the History panel.
    await ada.page.fill('#version-label', 'Plan agreed on Monday')
    await ada.page.click('#save-version button[type="submit"]')
    await ada.page.locator('.version', { hasText: 'Plan agreed on Monday' }).waitFor()
    // Grace's list picks it up on its next refresh.
    await grace.page.locator('.version', { hasText: 'Plan agreed on Monday' }).waitFor()

    // Grace deletes a section by mistake and adds a line.
    await grace.page.evaluate(() => {
      const text = (globalThis as any).example.text
      const from = text.toString().indexOf('- polish the examples\n')
      text.delete(from, '- polish the examples\n'.length)
      text.insert(text.length, '\n- (section above deleted by mistake)')
    })
    const broken = await textOf(grace.page)
    await ada.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, broken)

    // Ada previews the version: the editor gives way to a read-only view of it.
    await ada.page.locator('.version', { hasText: 'Plan agreed on Monday' }).locator('button').click()
    await ada.page.waitForSelector('#preview:not([hidden])')
    expect(await ada.page.textContent('#preview-text')).toBe(plan)
    expect(await ada.page.isHidden('#editor')).toBe(true)

    // Restore: both pages show the version without reloading.
    await ada.page.click('#restore')
    await ada.page.waitForSelector('#preview', { state: 'hidden' })
    await ada.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, plan)
    await grace.page.waitForFunction((want) => (globalThis as any).example.text.toString() === want, plan)
    expect(await grace.page.evaluate(() => (globalThis as any).example.view.state.doc.toString())).toBe(plan)
    // The text before the restore is kept and listed on both pages.
    await ada.page.locator('.version[data-kind="backup"]').waitFor()
    await grace.page.locator('.version[data-kind="backup"]').waitFor()

    // Grace previews what was there before the restore (the screenshot in the README).
    await grace.page.locator('.version[data-kind="backup"] button').click()
    await grace.page.waitForSelector('#preview:not([hidden])')
    expect(await grace.page.textContent('#preview-text')).toBe(broken)
    await waitForSave(grace.page, 'saved')
    await grace.page.screenshot({ path: historyScreenshot })
    await grace.page.click('#close-preview')
    await grace.page.waitForSelector('#editor:not([hidden])')

    expect(ada.errors).toEqual([])
    expect(grace.errors).toEqual([])
    await ada.context.close()
    await grace.context.close()
  })

  it('gives two pages that drew the same name and color different ones', async () => {
    const doc = uniqueDoc('text-editor-names')
    // Both pages draw the same "random" name and color.
    const sameDraw = async (): Promise<Awaited<ReturnType<typeof openAs>>> => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } })
      await context.addInitScript(() => { Math.random = () => 0 })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (err) => errors.push(err.message))
      await page.goto(`${example.url}?${new URLSearchParams({ doc }).toString()}`)
      await page.waitForFunction(() => (globalThis as any).example !== undefined)
      return { context, page, errors }
    }
    const first = await sameDraw()
    const second = await sameDraw()
    const identityOf = (page: typeof first.page): Promise<{ name: string; color: string }> => page.evaluate(() => {
      const local = (globalThis as any).example.client.presence.local
      return { name: local.name, color: local.color }
    })
    await first.page.waitForFunction(() => (globalThis as any).example.client.presence.peers().length === 1)
    await second.page.waitForFunction(() => (globalThis as any).example.client.presence.peers().length === 1)
    // Each sees the other's final identity, and the two differ in both.
    await first.page.waitForFunction(() => {
      const { client } = (globalThis as any).example
      const [peer] = client.presence.peers()
      return peer !== undefined && peer.name !== client.presence.local.name && peer.color !== client.presence.local.color
    })
    const a = await identityOf(first.page)
    const b = await identityOf(second.page)
    expect(a.name).not.toBe(b.name)
    expect(a.color).not.toBe(b.color)
    expect(first.errors).toEqual([])
    expect(second.errors).toEqual([])
    await first.context.close()
    await second.context.close()
  })

  it('shows your own row offline while offline, and a remote name on line 1 inside the editor', async () => {
    const doc = uniqueDoc('text-editor-polish')
    const ada = await openAs(browser, example.url, { doc, name: 'Ada', color: '#e11d48' })
    const grace = await openAs(browser, example.url, { doc, name: 'Grace', color: '#2563eb' })
    await waitForSave(ada.page, 'saved')
    await ada.page.click('.cm-content')
    await ada.page.keyboard.type('first line')
    // Ada's caret is on line 1: Grace sees its name label whole, below the editor's top edge.
    const label = grace.page.locator('.cm-ySelectionInfo', { hasText: 'Ada' })
    await label.waitFor()
    const labelBox = await label.boundingBox()
    const editorBox = await grace.page.locator('#editor').boundingBox()
    expect(labelBox!.y).toBeGreaterThanOrEqual(editorBox!.y)

    await ada.page.locator('#people .person[data-status="online"]', { hasText: 'Ada (you)' }).waitFor()
    await ada.context.setOffline(true)
    await waitForSave(ada.page, 'offline')
    await ada.page.locator('#people .person[data-status="offline"]', { hasText: 'Ada (you)' }).waitFor()
    expect(await ada.page.locator('#people .person', { hasText: 'Ada (you)' }).locator('.status').textContent()).toBe('offline')
    await ada.context.setOffline(false)
    await ada.page.locator('#people .person[data-status="online"]', { hasText: 'Ada (you)' }).waitFor()
    expect(grace.errors).toEqual([])
    await ada.context.close()
    await grace.context.close()
  })
})
