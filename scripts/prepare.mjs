// `npm install` in this folder builds dist/ (npm runs `prepare` after
// installing). A production install (`npm ci --omit=dev`) has no TypeScript:
// it skips the build instead of failing, and runs the dist/ that `npm pack`
// built. `npm pack` and `npm publish` must build, so they fail without it.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
let tsc
try {
  tsc = require.resolve('typescript/bin/tsc')
} catch {
  if (['pack', 'publish'].includes(process.env.npm_command ?? '')) {
    console.error('tandem: TypeScript is missing; `npm ci` (with dev dependencies) first, then pack')
    process.exit(1)
  }
  console.log('tandem: production install (no TypeScript): dist/ is not rebuilt')
  process.exit(0)
}
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
process.exit(build.status ?? 1)
