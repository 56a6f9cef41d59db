/**
 * Headless Chromium (Debian's, through playwright-core) for the example tests.
 * Each simulated person gets a browser context of their own, so pages share no
 * storage, no BroadcastChannel and no network state: only the server links them.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Skip the browser suites outside `npm run test:e2e` (which sets TANDEM_E2E). */
export const e2eEnabled = process.env.TANDEM_E2E === '1'

export async function launch (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'
    ],
    timeout: 30_000
  })
}

export interface Person {
  context: BrowserContext
  page: Page
  /** Collected page errors and console errors; tests assert it stays empty. */
  errors: string[]
}

/** Opens `url` with `?name=&color=&doc=` in a fresh context. */
export async function openAs (browser: Browser, url: string, query: Record<string, string>): Promise<Person> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 })
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`)
  })
  await page.goto(`${url}?${new URLSearchParams(query).toString()}`)
  await page.waitForFunction(() => (globalThis as any).example !== undefined)
  return { context, page, errors }
}

/** Waits until the page's saved indicator shows `status`. */
export async function waitForSave (page: Page, status: 'saved' | 'saving' | 'offline'): Promise<void> {
  await page.waitForSelector(`#save[data-status="${status}"]`)
}

/** Unique document names, so runs never see each other's data. */
export function uniqueDoc (prefix: string): string {
  return `e2e/${prefix}/${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
}
