/** The bot example end to end: a bot in the server's process answers a client's checks with summary lines. */
import { expect, it } from 'vitest'
import { main } from '../examples/bot/main.mjs'

it('the bot appends a summary line each time the client checks an item', async () => {
  const lines: string[] = []
  const summary = await main({ log: (line: string) => lines.push(line), timeoutMs: 15_000 })
  expect(summary).toEqual(['1 of 3 done', '2 of 3 done'])
  expect(lines).toContain('client: sees the bot\'s line "2 of 3 done"')
})
