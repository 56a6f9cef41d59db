/**
 * Checks a LevelDB directory before LevelDB sees it. LevelDB's own errors for
 * an unusable path are vague ("Database is not open"), and Node's recursive
 * mkdir never returns for some paths (`/proc/x` spins at full CPU), so the
 * directory is created one level at a time and tried with a probe file.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { CliError, systemReason } from './errors.js'

/**
 * Makes sure `dir` is a directory this process can write, creating it and
 * its missing parents. Throws a `CliError` naming `label` (the flag or
 * environment variable), the path and the reason.
 */
export async function prepareDataDir (dir: string, label: string): Promise<string> {
  const path = resolve(dir)
  const fail = (what: string, err?: unknown): never => {
    throw new CliError(`${label} ${dir}: ${what}${err !== undefined ? `: ${reason(err)}` : ''}`, 1, { cause: err })
  }
  await ensureDirectory(path, fail)
  const probe = join(path, `.tandem-write-check-${randomBytes(6).toString('hex')}`)
  try {
    await writeFile(probe, 'tandem checks that it can write here\n', { flag: 'wx' })
  } catch (err) {
    fail('the directory is not writable', err)
  }
  await unlink(probe).catch(() => {})
  return path
}

async function ensureDirectory (path: string, fail: (what: string, err?: unknown) => never): Promise<void> {
  // The missing levels, deepest first; bounded by the depth of the path.
  const missing: string[] = []
  let current = path
  for (;;) {
    let info
    try {
      info = await stat(current)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') fail(current === path ? 'cannot use the path' : `cannot use ${current}`, err)
      missing.push(current)
      const parent = dirname(current)
      if (parent === current) fail('no part of the path exists')
      current = parent
      continue
    }
    if (!info.isDirectory()) fail(current === path ? 'is not a directory' : `${current} is not a directory`)
    break
  }
  for (const level of missing.reverse()) {
    try {
      await mkdir(level)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(level).catch(() => null))?.isDirectory() === true) continue
      fail(level === path ? 'cannot create the directory' : `cannot create ${level}`, err)
    }
  }
}

/** ENOENT for a path whose parent exists means a file system that refuses (`/proc`), not a missing file. */
function reason (err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file system does not allow it (ENOENT)' : systemReason(err)
}
