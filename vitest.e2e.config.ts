import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (file: string): string => fileURLToPath(new URL(`./src/${file}`, import.meta.url))

export default defineConfig({
  resolve: {
    // The examples import the package by name; under test they use the sources.
    alias: [
      { find: /^tandem$/, replacement: src('index.ts') },
      { find: /^tandem\/client$/, replacement: src('client/index.ts') }
    ]
  },
  test: {
    include: ['test/e2e/**/*.test.ts'],
    env: { TANDEM_E2E: '1' },
    testTimeout: 90_000,
    hookTimeout: 90_000,
    // One browser at a time: the machine has two cores.
    fileParallelism: false,
    maxWorkers: 1,
    pool: 'forks'
  }
})
