import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The browser tests have their own run: npm run test:e2e.
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers and child processes; a 2-core
    // machine is better served by a few files at a time.
    maxWorkers: 2,
    pool: 'forks'
  }
})
