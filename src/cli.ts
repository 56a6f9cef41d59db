#!/usr/bin/env node
/**
 * The `tandem` command: argv and env in, an exit code out. With the command
 * modules under `src/cli/`, the only code that touches `process` (argv, env,
 * standard streams, signals, exit).
 *
 * Exit codes: 0 done, 1 the command failed, 2 the command line is wrong.
 * Errors are one line on standard error, without a stack trace.
 */
import { CliError } from './cli/errors.js'
import { parseCommandLine, type Invocation, type ServeInvocation } from './cli/flags.js'
import type { Started } from './cli/serve.js'
import { commandUsage, generalUsage } from './cli/usage.js'
import { packageVersion } from './cli/version.js'

// The commands are loaded when chosen: `tandem --version` or a usage error
// should not pay for loading the server, and a refused start should be quick.

async function main (): Promise<number> {
  let inv: Invocation
  try {
    inv = parseCommandLine(process.argv.slice(2), process.env)
  } catch (err) {
    return report(err)
  }
  switch (inv.command) {
    case 'help':
      process.stdout.write(inv.topic === undefined ? generalUsage(packageVersion()) : commandUsage(inv.topic))
      return 0
    case 'version':
      process.stdout.write(`${packageVersion()}\n`)
      return 0
    case 'serve':
      return serve(inv)
    default:
      // A reader that goes away (`tandem list | head`) surfaces as EPIPE in the command.
      process.stdout.on('error', () => {})
      // Each document is written in one atomic step, so stopping between two is safe.
      // (Explicit handlers: as PID 1 in a container, a signal without one is ignored.)
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.on(signal, () => {
          process.stderr.write(`tandem: stopped by ${signal}\n`)
          process.exit(signal === 'SIGINT' ? 130 : 143)
        })
      }
      try {
        const { runStorageCommand } = await import('./cli/commands.js')
        return await runStorageCommand(inv, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
      } catch (err) {
        return report(err)
      }
  }
}

/** Serves until SIGTERM or SIGINT, then closes cleanly and exits 0. */
async function serve (inv: ServeInvocation): Promise<number> {
  let started: Started | undefined
  let stopping = false
  let resolveExit: (code: number) => void = () => {}
  const exit = new Promise<number>((resolve) => { resolveExit = resolve })
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    // Still starting: nothing was accepted, so nothing is waiting to be stored.
    if (started === undefined) process.exit(0)
    started.logger.info({ signal }, 'shutting down')
    started.server.close().then(() => resolveExit(0), (err) => {
      started?.logger.error({ err }, 'shutdown failed')
      resolveExit(1)
    })
  }
  // Installed first: as PID 1 in a container, a signal without a handler is ignored.
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  try {
    const { startServer } = await import('./cli/serve.js')
    started = await startServer(inv, { version: packageVersion(), stdoutIsTTY: process.stdout.isTTY === true })
  } catch (err) {
    return report(err)
  }
  // The readiness line is part of the contract, whatever the log level.
  if (!started.logger.isLevelEnabled('info')) process.stdout.write(`tandem listening on ${started.url}\n`)
  return exit
}

/** One line on standard error; the exit code for the kind of failure. */
function report (err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`tandem: ${err.message}\n`)
    return err.exitCode
  }
  // Not a failure the CLI anticipated: still one line; the cause chain is the useful part.
  const e = err as Error
  const cause = (e?.cause as Error | undefined)?.message
  process.stderr.write(`tandem: ${e?.message ?? String(err)}${cause !== undefined && cause !== e.message ? ` (${cause})` : ''}\n`)
  return 1
}

// A command that never settles would otherwise end with exit code 0 once
// nothing is left to wait for; that is a bug, and it must not look like success.
let settled = false
process.on('beforeExit', () => {
  if (!settled) {
    process.stderr.write('tandem: stopped before finishing (internal error)\n')
    process.exit(1)
  }
})

main().then((code) => {
  settled = true
  // Let standard output drain (it may be a pipe) before leaving.
  process.exitCode = code
  process.stdout.write('', () => process.exit(code))
}, (err) => {
  settled = true
  process.exit(report(err))
})
