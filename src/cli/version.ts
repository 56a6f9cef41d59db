import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The version in tandem's own package.json. The file sits a different number
 * of levels above this module in the source tree (`src/cli/`) and in the
 * build (`dist/src/cli/`), so walk up to the first one that names tandem.
 */
export function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 5; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'tandem' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // no package.json at this level
    }
    dir = dirname(dir)
  }
  return 'unknown'
}
