/**
 * The production install, exactly as the Docker image does it: `npm pack`
 * builds dist/ from the sources, the tarball is installed with
 * `--omit=dev` into an empty app, and the installed `tandem` binary serves
 * `/healthz`. Uses the npm registry for the production dependencies.
 */
import { execFile, spawn } from 'node:child_process'
import { cp, mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, tempDir, until } from './helpers.js'
import { cleanEnv } from './cli-helpers.js'

const run = promisify(execFile)

/** npm without the variables of the npm that may be running this suite (`npm test`). */
function npmEnv (): NodeJS.ProcessEnv {
  const env = cleanEnv()
  for (const key of Object.keys(env)) if (key.toLowerCase().startsWith('npm_')) delete env[key]
  return env
}

async function npm (args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run('npm', args, { cwd, env: npmEnv(), timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`npm ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

let dir: Awaited<ReturnType<typeof tempDir>>
let tarball: string
let app: string

beforeAll(async () => {
  dir = await tempDir('tandem-package-')
  // A copy of the sources without dist/, so the pack below has to build it.
  // Its node_modules is this checkout's (the dev dependencies, TypeScript).
  const source = join(dir.path, 'source')
  await mkdir(source)
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'scripts', 'src', 'persistence']) {
    await cp(join(ROOT, entry), join(source, entry), { recursive: true })
  }
  await symlink(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir')
  const packDir = join(dir.path, 'pack')
  await mkdir(packDir)
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', packDir], source)) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(packDir, packed[0].filename)
  packedFiles = packed[0].files.map((f) => f.path)

  app = join(dir.path, 'app')
  await mkdir(app)
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', private: true }))
  await npm(['install', '--omit=dev', '--no-audit', '--no-fund', tarball], app)
}, 300_000)

afterAll(async () => {
  await dir?.remove()
})

let packedFiles: string[] = []

describe('the packed package installed with --omit=dev', () => {
  it('carries the build, the license and the changelog, and no sources or tests', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['dist/src/cli.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/persistence/leveldb.js', 'README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']))
    expect(packedFiles.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('bench/'))).toEqual([])
  })

  it('installs no development dependency', async () => {
    const installed = await readdir(join(app, 'node_modules'))
    expect(installed).toContain('tandem')
    for (const dev of ['typescript', 'vitest', 'esbuild', 'y-websocket-ref', 'playwright-core', 'sqlite3']) expect(installed).not.toContain(dev)
    expect(existsSync(join(app, 'node_modules', '@hocuspocus'))).toBe(false)
  })

  it('runs `tandem serve` from the installed binary and answers /healthz', async () => {
    const bin = join(app, 'node_modules', '.bin', 'tandem')
    const version = await run(bin, ['--version'], { env: npmEnv() })
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/)

    const child = spawn(bin, ['serve', '--port', '0', '--host', '127.0.0.1', '--data', join(app, 'data'), '--log-format', 'json'], {
      cwd: app,
      env: npmEnv(),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      await until(() => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 'the installed tandem to listen', 30_000)
      const port = Number(/listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1])
      expect(port, output).toBeGreaterThan(0)
      const res = await fetch(`http://127.0.0.1:${port}/healthz`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ status: 'ok' })
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  }, 60_000)
})
