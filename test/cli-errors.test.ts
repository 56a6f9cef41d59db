/**
 * The built CLI refusing bad flags and unusable resources: one line on
 * stderr naming the flag, the value and the reason, no stack trace, exit
 * code 2 for a wrong command line and 1 for a resource that does not work,
 * and quickly (the `/proc/x` data directory used to hang at full CPU).
 */
import { chmod, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { spawnCli, tempDir, until } from './helpers.js'
import { runCli, type CliResult } from './cli-helpers.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function dir (): Promise<string> {
  const d = await tempDir('tandem-cli-errors-')
  cleanup.push(d.remove)
  return d.path
}

/** One line on stderr, nothing on stdout, no stack trace. */
function oneLine (res: CliResult, code: number, message: string | RegExp): void {
  expect(res.code, res.stderr).toBe(code)
  expect(res.stdout).toBe('')
  const lines = res.stderr.trimEnd().split('\n')
  expect(lines, res.stderr).toHaveLength(1)
  expect(res.stderr).not.toMatch(/\n\s+at /)
  if (typeof message === 'string') expect(lines[0]).toBe(message)
  else expect(lines[0]).toMatch(message)
}

const serve = (args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> =>
  runCli(['serve', '--host', '127.0.0.1', '--port', '0', ...args], { env, timeoutMs: 20_000 })

describe('usage errors exit 2', () => {
  it('for an unknown command, flag, or missing value', async () => {
    oneLine(await runCli(['frobnicate']), 2, 'tandem: unknown command "frobnicate" (commands: serve, list, export, import, delete, compact; see tandem help)')
    oneLine(await runCli(['export', '--bogus']), 2, 'tandem: unknown flag --bogus for export (see tandem export --help)')
    oneLine(await runCli(['delete']), 2, 'tandem: delete needs at least one document name (see tandem delete --help)')
  })

  it('for --log-level verbose, listing the valid levels', async () => {
    oneLine(await serve(['--log-level', 'verbose']), 2, 'tandem: --log-level must be one of trace, debug, info, warn, error, fatal, silent; got "verbose"')
    oneLine(await serve([], { TANDEM_LOG_LEVEL: 'verbose' }), 2, /^tandem: TANDEM_LOG_LEVEL must be one of trace, debug, info/)
  })

  it('for malformed numbers and contradictions, in flag names', async () => {
    oneLine(await runCli(['serve', '--port', 'http']), 2, 'tandem: --port needs an integer from 0 to 65535, got "http"')
    oneLine(await serve(['--auth-secret', 'too-short']), 2, 'tandem: --auth-secret must be at least 16 characters')
    oneLine(await runCli(['list', '--persistence', 'postgres']), 2, /^tandem: --persistence postgres needs a connection string/)
  })
})

describe('help and version exit 0', () => {
  it('prints the version, the commands and each command\'s flags', async () => {
    const version = await runCli(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
    const help = await runCli(['help'])
    expect(help.code).toBe(0)
    for (const c of ['serve', 'list', 'export', 'import', 'delete', 'compact']) expect(help.stdout).toContain(c)
    const importHelp = await runCli(['import', '--help'])
    expect(importHelp.code).toBe(0)
    expect(importHelp.stdout).toMatch(/^Usage: tandem import \[FILE\]/)
    expect((await runCli(['help', 'serve'])).stdout).toContain('--log-format FORMAT')
  })
})

describe('unusable resources exit 1 with the flag named', () => {
  it('--data on a path that cannot be created, within a second or so', async () => {
    const res = await serve(['--data', '/proc/x'])
    oneLine(res, 1, 'tandem: --data /proc/x: cannot create the directory: the file system does not allow it (ENOENT)')
    // It used to spin forever; a few seconds of slack for a loaded machine.
    expect(res.ms).toBeLessThan(5000)
    oneLine(await runCli(['list', '--data', '/proc/x']), 1, /^tandem: --data \/proc\/x: cannot create the directory/)
  })

  it('--data on a directory that cannot be written', async () => {
    oneLine(await serve(['--data', '/proc']), 1, 'tandem: --data /proc: the directory is not writable: the file system does not allow it (ENOENT)')
    oneLine(await serve([], { TANDEM_DATA_DIR: '/proc' }), 1, /^tandem: TANDEM_DATA_DIR \/proc: the directory is not writable/)
  })

  it('--data on a regular file, or below one', async () => {
    const file = join(await dir(), 'plain-file')
    await writeFile(file, 'x')
    oneLine(await serve(['--data', file]), 1, `tandem: --data ${file}: is not a directory`)
    oneLine(await runCli(['export', '--data', join(file, 'sub')]), 1, `tandem: --data ${join(file, 'sub')}: cannot use the path: a part of the path is not a directory (ENOTDIR)`)
  })

  it('--auth-public-key on a missing, unreadable or wrong file', async () => {
    const d = await dir()
    oneLine(await serve(['--data', d, '--auth-public-key', join(d, 'missing.pem')]), 1,
      `tandem: --auth-public-key ${join(d, 'missing.pem')}: cannot read the key file: no such file or directory (ENOENT)`)
    oneLine(await serve(['--data', d, '--auth-public-key', d]), 1, `tandem: --auth-public-key ${d}: cannot read the key file: it is a directory (EISDIR)`)
    const garbage = join(d, 'garbage.pem')
    await writeFile(garbage, 'not a key')
    await chmod(garbage, 0o600)
    oneLine(await serve(['--data', d, '--auth-public-key', garbage]), 1, new RegExp(`^tandem: --auth-public-key ${garbage}: `))
  })

  it('--redis that nothing answers: gives up within about 5 s and names the flag', async () => {
    // A port that is certainly closed: bound, then released.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const res = await serve(['--data', await dir(), '--redis', `redis://:secret@127.0.0.1:${port}`, '--log-level', 'silent'])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(new RegExp(`^tandem: --redis redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: Redis is not reachable \\(.*ECONNREFUSED.*\\); tandem does not start without the fan-out it was asked for\\n$`))
    expect(res.stderr).not.toContain('secret')
    // 3 s of waiting for Redis, plus starting Node; slack for a loaded machine.
    expect(res.ms).toBeLessThan(10_000)
  }, 20_000)

  it('--port already taken by another process', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    cleanup.push(() => new Promise((resolve) => holder.close(() => resolve())))
    const port = (holder.address() as { port: number }).port
    const res = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', await dir(), '--log-level', 'silent'])
    oneLine(res, 1, `tandem: --port ${port}: 127.0.0.1:${port} is already in use by another process`)
  })
})

describe('serve start-up', () => {
  it('logs one summary with the URLs, storage, auth, cluster and the limits that differ, never a password', async () => {
    const d = await dir()
    const running = await spawnCli(['--data', d, '--max-message-bytes', '1000', '--log-format', 'json'])
    cleanup.push(async () => {
      running.child.kill('SIGTERM')
      await running.exited
    })
    await until(() => running.output().includes(' ready: ws://'), 'the start-up summary')
    const lines = running.output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const summary = lines.find((l) => typeof l.msg === 'string' && /^tandem \S+ ready: ws:\/\//.test(l.msg))
    expect(summary).toMatchObject({
      url: running.url,
      health: `${running.http}/healthz`,
      storage: `leveldb ${d}`,
      auth: expect.stringMatching(/^off/),
      cluster: expect.stringMatching(/^off/),
      limits: { '--max-message-bytes': 1000 }
    })
    expect((await fetch(summary?.health as string)).status).toBe(200)
  })

  it('logs readable lines with --log-format pretty', async () => {
    const running = await spawnCli(['--data', await dir(), '--log-format', 'pretty'])
    cleanup.push(async () => {
      running.child.kill('SIGTERM')
      await running.exited
    })
    await until(() => /storage: "leveldb/.test(running.output()), 'the start-up summary')
    expect(running.output()).toMatch(/INFO.*: tandem \S+ ready: ws:\/\/127\.0\.0\.1:\d+/)
    expect(running.output()).toMatch(/storage: "leveldb /)
    expect(running.output()).not.toMatch(/^\{"level"/m)
    running.child.kill('SIGTERM')
    expect(await running.exited).toBe(0)
  })
})
