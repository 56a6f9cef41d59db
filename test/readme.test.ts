/**
 * The README's first clients, as printed. Code blocks marked with an HTML
 * comment are taken from README.md:
 *
 *   <!-- readme-test: file NAME -->    a Node snippet, written to NAME
 *   <!-- readme-test: run -->          a transcript: `$ node NAME` lines and
 *                                      the output each one prints
 *   <!-- readme-test: bundle NAME -->  a browser snippet, which must bundle
 *
 * The transcripts run in README order against one real server (the CLI, as
 * `npm start` runs it, with LevelDB in a temp directory) on a free port; the
 * only change to a snippet is that port in its URL. Each run must exit by
 * itself, with code 0, printing exactly what the README shows.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, ROOT, spawnCli, tempDir } from './helpers.js'

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
/** The server URL the snippets print: `npm start`'s default port. */
const README_URL = 'ws://localhost:1234'
const RUN_TIMEOUT_MS = 15_000

interface Block { kind: 'file' | 'run' | 'bundle'; name: string; code: string }

function markedBlocks (markdown: string): Block[] {
  const pattern = /<!-- readme-test: (file|run|bundle)(?: (\S+))? -->\n```[^\n]*\n([\s\S]*?)\n```/g
  return [...markdown.matchAll(pattern)].map((m) => ({ kind: m[1] as Block['kind'], name: m[2] ?? '', code: m[3] }))
}

/** `$ node NAME` lines, each followed by the lines it prints. */
function commands (transcript: string): Array<{ file: string; output: string }> {
  const steps: Array<{ file: string; lines: string[] }> = []
  for (const line of transcript.split('\n')) {
    if (line.startsWith('$ ')) {
      const m = /^\$ node (\S+)$/.exec(line)
      if (m === null) throw new Error(`a README transcript runs something other than "node FILE": ${line}`)
      steps.push({ file: m[1], lines: [] })
    } else if (steps.length === 0) {
      throw new Error(`a README transcript prints before any command: ${line}`)
    } else {
      steps[steps.length - 1].lines.push(line)
    }
  }
  return steps.map(({ file, lines }) => ({ file, output: lines.join('\n') }))
}

interface Ran { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }

function runNode (file: string, cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    const started = Date.now()
    execFile(process.execPath, [file], { cwd, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string; killed?: boolean }) | null
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        signal: e?.signal ?? null,
        stdout,
        stderr,
        timedOut: e?.killed === true && Date.now() - started >= RUN_TIMEOUT_MS
      })
    })
  })
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function headingAnchors (markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '')
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const m of withoutCode.matchAll(/^#{1,6} +(.+)$/gm)) {
    const base = m[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  return anchors
}

const blocks = markedBlocks(README)

describe('README', () => {
  it('marks a browser snippet, two Node snippets and their transcripts', () => {
    expect(blocks.filter((b) => b.kind === 'bundle').map((b) => b.name)).toEqual(['app.js'])
    expect(blocks.filter((b) => b.kind === 'file').map((b) => b.name)).toEqual(['first-client.mjs', 'saved.mjs'])
    const files = new Set(blocks.filter((b) => b.kind === 'file').map((b) => b.name))
    const ran = blocks.filter((b) => b.kind === 'run').flatMap((b) => commands(b.code).map((c) => c.file))
    expect(new Set(ran)).toEqual(files)
    for (const b of blocks.filter((b) => b.kind !== 'run')) {
      expect(b.code, `${b.name} connects to the URL npm start serves`).toContain(README_URL)
    }
  })

  it('has every link to one of its sections land on a heading', () => {
    const anchors = headingAnchors(README)
    const links = [...README.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1])
    expect(links.length).toBeGreaterThan(0)
    expect(links.filter((a) => !anchors.has(a))).toEqual([])
  })

  it('has a browser snippet that bundles for the browser', async () => {
    for (const b of blocks.filter((b) => b.kind === 'bundle')) {
      const result = await build({
        stdin: { contents: b.code, resolveDir: ROOT, sourcefile: b.name, loader: 'js' },
        bundle: true,
        write: false,
        platform: 'browser',
        format: 'esm',
        logLevel: 'silent'
      })
      expect(result.errors).toEqual([])
      expect(result.outputFiles[0].text).toContain('WebsocketProvider')
    }
  })

  describe('first clients, run as printed against the real server', () => {
    let server: Awaited<ReturnType<typeof spawnCli>> | undefined
    let data: Awaited<ReturnType<typeof tempDir>> | undefined
    const dir = join(ROOT, '.tmp', `readme-${randomBytes(4).toString('hex')}`)

    beforeAll(async () => {
      if (!existsSync(CLI)) throw new Error('dist/ is missing: npm run build first')
      data = await tempDir('tandem-readme-')
      server = await spawnCli(['--data', data.path])
      // Inside the checkout, so that `tandem/client` resolves to this package and
      // `ws`, `yjs` and `y-websocket` to its node_modules, as the README says.
      await mkdir(dir, { recursive: true })
      for (const b of blocks.filter((b) => b.kind === 'file')) {
        await writeFile(join(dir, b.name), b.code.replaceAll(README_URL, server.url))
      }
    }, 30_000)

    afterAll(async () => {
      if (server !== undefined && server.child.exitCode === null) {
        server.child.kill('SIGTERM')
        expect(await server.exited).toBe(0)
      }
      await data?.remove()
      await rm(dir, { recursive: true, force: true })
    })

    it('prints what the README says, run after run', async () => {
      for (const step of blocks.filter((b) => b.kind === 'run').flatMap((b) => commands(b.code))) {
        const ran = await runNode(step.file, dir)
        const what = `node ${step.file}\nstdout: ${ran.stdout}\nstderr: ${ran.stderr}\nserver: ${server?.output() ?? ''}`
        expect(ran.timedOut, `did not exit within ${RUN_TIMEOUT_MS} ms: ${what}`).toBe(false)
        expect(ran.code, what).toBe(0)
        expect(ran.stdout.trimEnd(), what).toBe(step.output)
      }
    }, 90_000)
  })
})
