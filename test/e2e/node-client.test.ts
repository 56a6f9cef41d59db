/**
 * The Node client example end to end (server stop, offline edits, restart,
 * merge), plus a picture of its output for the README.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { main } from '../../examples/node-client/main.mjs'
import { e2eEnabled, launch } from './browser.js'

const screenshot = fileURLToPath(new URL('../../examples/node-client/screenshot.png', import.meta.url))

describe.skipIf(!e2eEnabled)('node-client example', () => {
  it('merges the edits two clients made while the server was down', async () => {
    const lines: string[] = []
    const result = await main({ log: (line: string) => lines.push(line), timeoutMs: 30_000 })
    expect(result.same).toBe(true)
    for (const item of ['Shopping list', '- milk', '- coffee', '- bread']) expect(result.text).toContain(item)
    expect(['alice', 'bob']).toContain(result.owner)
    expect(lines.some((line) => line.includes('[alice] offline'))).toBe(true)

    // The output as a terminal would show it.
    const browser = await launch()
    try {
      const page = await browser.newPage({ viewport: { width: 960, height: 48 + (lines.length + 1) * 20 }, deviceScaleFactor: 1 })
      await page.setContent('<body style="margin:0;background:#0f172a"><pre id="out" style="margin:0;padding:20px 24px;color:#e2e8f0;font:14px/20px \'DejaVu Sans Mono\',monospace;white-space:pre-wrap"></pre></body>')
      await page.evaluate((text) => {
        document.getElementById('out')!.textContent = text
      }, ['$ npm run example -- node-client', ...lines].join('\n'))
      await page.screenshot({ path: screenshot, fullPage: true })
    } finally {
      await browser.close()
    }
  })
})
