/**
 * The command-line parser, the export format and the name escaping as pure
 * functions: what each argument list means, and which ones are usage errors.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { UsageError } from '../src/cli/errors.js'
import { documentLine, endLine, FormatError, headerLine, readExport } from '../src/cli/export-format.js'
import { COMMAND_FLAGS, parseCommandLine, type ServeInvocation } from '../src/cli/flags.js'
import { escapeName } from '../src/cli/names.js'
import { Progress } from '../src/cli/progress.js'
import { commandUsage, generalUsage } from '../src/cli/usage.js'

const parse = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(argv, env)
const usageError = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parse(argv, env)
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).exitCode).toBe(2)
    return (err as Error).message
  }
  throw new Error(`no usage error for ${argv.join(' ')}`)
}

describe('parseCommandLine', () => {
  it('serves without a command, as before', () => {
    const inv = parse(['--port', '0', '--data', '/tmp/x']) as ServeInvocation
    expect(inv.command).toBe('serve')
    expect(inv.options.port).toBe(0)
    expect(inv.storage).toMatchObject({ kind: 'leveldb', dataDir: '/tmp/x' })
    expect(parse([]).command).toBe('serve')
  })

  it('reads every flag from its environment variable, and a flag wins', () => {
    const inv = parse(['serve', '--port', '99'], {
      PORT: '1', HOST: '127.0.0.1', TANDEM_DATA_DIR: '/d', TANDEM_LOG_LEVEL: 'warn', TANDEM_LOG_FORMAT: 'json',
      TANDEM_TRUST_PROXY: 'true', TANDEM_ALLOWED_ORIGINS: 'https://a, https://b', TANDEM_RATE_MESSAGES: '5'
    }) as ServeInvocation
    expect(inv.options).toMatchObject({ port: 99, host: '127.0.0.1', logLevel: 'warn', trustProxy: true, allowedOrigins: ['https://a', 'https://b'], rateLimitMessagesPerSec: 5 })
    expect(inv.logFormat).toBe('json')
    expect(inv.storage.dataDir).toBe('/d')
    expect(inv.storage.labels.dataDir).toBe('TANDEM_DATA_DIR')
    expect(inv.labels.port).toBe('--port')
  })

  it('treats an empty environment variable as unset', () => {
    const inv = parse(['serve'], { PORT: '', TANDEM_DATA_DIR: '' }) as ServeInvocation
    expect(inv.options.port).toBeUndefined()
    expect(inv.storage.dataDir).toBe('./data')
  })

  it('gives every command the storage flags and their variables', () => {
    for (const command of ['list', 'export', 'import', 'delete', 'compact'] as const) {
      const flags = COMMAND_FLAGS[command].map((f) => f.flag)
      expect(flags).toEqual(expect.arrayContaining(['data', 'persistence', 'database-url', 'database-schema']))
    }
    const inv = parse(['export', '--out', 'x.jsonl'], { TANDEM_PERSISTENCE: 'postgres', DATABASE_URL: 'postgres://u:p@h/db', TANDEM_DATABASE_SCHEMA: 's' })
    expect(inv).toMatchObject({ command: 'export', out: 'x.jsonl', storage: { kind: 'postgres', databaseUrl: 'postgres://u:p@h/db', schema: 's' } })
  })

  it('parses each command\'s arguments', () => {
    expect(parse(['list', '--data', 'd'])).toMatchObject({ command: 'list', storage: { dataDir: 'd' } })
    expect(parse(['export'])).toMatchObject({ command: 'export', out: undefined })
    expect(parse(['export', '-o', '-'])).toMatchObject({ command: 'export', out: undefined })
    expect(parse(['import'])).toMatchObject({ command: 'import', file: undefined })
    expect(parse(['import', '-'])).toMatchObject({ command: 'import', file: undefined })
    expect(parse(['import', 'in.jsonl'])).toMatchObject({ command: 'import', file: 'in.jsonl' })
    expect(parse(['delete', 'a/b', 'c d', 'ü'])).toMatchObject({ command: 'delete', names: ['a/b', 'c d', 'ü'] })
    expect(parse(['compact'])).toMatchObject({ command: 'compact', names: [] })
    expect(parse(['compact', 'x'])).toMatchObject({ command: 'compact', names: ['x'] })
    // A name that starts with a dash goes after --.
    expect(parse(['delete', '--', '-odd'])).toMatchObject({ names: ['-odd'] })
  })

  it('answers help and version', () => {
    expect(parse(['--version'])).toEqual({ command: 'version' })
    expect(parse(['-V'])).toEqual({ command: 'version' })
    expect(parse(['help'])).toEqual({ command: 'help' })
    expect(parse(['--help'])).toEqual({ command: 'help' })
    expect(parse(['help', 'import'])).toEqual({ command: 'help', topic: 'import' })
    expect(parse(['export', '--help'])).toEqual({ command: 'help', topic: 'export' })
    expect(parse(['serve', '-h'])).toEqual({ command: 'help', topic: 'serve' })
  })

  it('refuses malformed command lines with a message naming the problem', () => {
    expect(usageError(['frobnicate'])).toMatch(/unknown command "frobnicate".*serve, list, export, import, delete, compact/)
    expect(usageError(['help', 'frobnicate'])).toMatch(/unknown command "frobnicate"/)
    expect(usageError(['export', '--bogus'])).toMatch(/unknown flag --bogus for export/)
    expect(usageError(['list', '--port', '1'])).toMatch(/unknown flag --port for list/)
    expect(usageError(['export', '--out'])).toMatch(/--out needs a value/)
    expect(usageError(['serve', '--trust-proxy=yes'])).toMatch(/--trust-proxy takes no value/)
    expect(usageError(['list', 'extra'])).toMatch(/unexpected argument "extra" for list/)
    expect(usageError(['import', 'a', 'b'])).toMatch(/unexpected argument "b" for import/)
    expect(usageError(['delete'])).toMatch(/delete needs at least one document name/)
    expect(usageError(['serve', '--data', ''])).toMatch(/--data needs a value/)
  })

  it('lists the valid values of a flag that has a fixed set', () => {
    expect(usageError(['serve', '--log-level', 'verbose'])).toBe('--log-level must be one of trace, debug, info, warn, error, fatal, silent; got "verbose"')
    expect(usageError(['serve'], { TANDEM_LOG_LEVEL: 'loud' })).toMatch(/^TANDEM_LOG_LEVEL must be one of trace, debug/)
    expect(usageError(['serve', '--log-format', 'xml'])).toMatch(/--log-format must be one of pretty, json/)
    expect(usageError(['list', '--persistence', 'sqlite'])).toMatch(/--persistence must be one of leveldb, postgres, memory/)
  })

  it('checks numbers and booleans, naming the flag or variable', () => {
    expect(usageError(['serve', '--port', 'eighty'])).toMatch(/--port needs an integer from 0 to 65535, got "eighty"/)
    expect(usageError(['serve', '--port', '70000'])).toMatch(/--port needs an integer from 0 to 65535/)
    expect(usageError(['serve', '--max-message-bytes', '0'])).toMatch(/--max-message-bytes needs a positive integer, got "0"/)
    expect(usageError(['serve', '--rate-bytes', '1.5'])).toMatch(/--rate-bytes needs a positive integer/)
    expect(usageError(['serve'], { PORT: 'x' })).toMatch(/^PORT needs an integer/)
    expect(usageError(['serve'], { TANDEM_TRUST_PROXY: 'maybe' })).toMatch(/TANDEM_TRUST_PROXY needs true or false/)
  })

  it('rejects contradictions in flag names', () => {
    expect(usageError(['serve', '--auth-secret', 'x'.repeat(20), '--auth-public-key', 'k.pem'])).toMatch(/either --auth-secret .* or --auth-public-key/)
    expect(usageError(['serve', '--auth-secret', 'short'])).toMatch(/--auth-secret must be at least 16 characters/)
    expect(usageError(['serve', '--redis-heartbeat-ms', '5000', '--redis-instance-ttl-ms', '1000'])).toMatch(/--redis-instance-ttl-ms must be greater than --redis-heartbeat-ms/)
    expect(usageError(['serve', '--webhook-secret', 's'])).toMatch(/--webhook-secret needs a --webhook-url/)
    expect(usageError(['list', '--persistence', 'postgres'])).toMatch(/--persistence postgres needs a connection string: --database-url/)
    expect(usageError(['export', '--persistence', 'memory'])).toMatch(/memory storage, which keeps nothing/)
  })

  it('documents every flag of every command in its help', () => {
    for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
      const help = commandUsage(command as keyof typeof COMMAND_FLAGS)
      for (const f of flags) {
        expect(help).toContain(`--${f.flag}`)
        if (f.env !== undefined) expect(help).toContain(f.env)
      }
    }
    expect(generalUsage('1.2.3')).toMatch(/tandem 1\.2\.3/)
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    for (const f of Object.values(COMMAND_FLAGS).flat()) {
      expect(readme, `--${f.flag} in the README`).toContain(`--${f.flag}`)
      if (f.env !== undefined) expect(readme, `${f.env} in the README`).toContain(f.env)
    }
    expect(commandUsage('import')).toMatch(/from a FILE, the whole file is checked before anything is written: nothing is imported/)
    expect(commandUsage('import')).toMatch(/from standard input, documents are merged as they arrive: those before the bad line are\s+imported/)
  })
})

describe('escapeName', () => {
  it('leaves slashes, spaces and Unicode alone and escapes what would break a line', () => {
    expect(escapeName('notes/2024/plan')).toBe('notes/2024/plan')
    expect(escapeName('a b ü ✓ 日本')).toBe('a b ü ✓ 日本')
    expect(escapeName('two\nlines')).toBe('two\\nlines')
    expect(escapeName('back\\slash')).toBe('back\\\\slash')
    expect(escapeName('cr\rtab\t')).toBe('cr\\rtab\\t')
    expect(escapeName('bell\u0007del\u007f')).toBe('bell\\x07del\\x7f')
    // Escaping is reversible: a literal "\n" (backslash, n) differs from a newline.
    expect(escapeName('\\n')).not.toBe(escapeName('\n'))
  })
})

describe('export format', () => {
  async function * from (lines: string[]): AsyncGenerator<string> { yield * lines }
  async function read (text: string): Promise<Array<{ line: number; name: string; update: Uint8Array }>> {
    const out = []
    for await (const d of readExport(from(text.split('\n').filter((l, i, a) => i < a.length - 1 || l !== '')))) out.push(d)
    return out
  }
  async function failure (text: string): Promise<FormatError> {
    try {
      await read(text)
    } catch (err) {
      expect(err).toBeInstanceOf(FormatError)
      return err as FormatError
    }
    throw new Error('no format error')
  }
  const update = Y.encodeStateAsUpdate(new Y.Doc())

  it('round-trips names and updates', async () => {
    const names = ['plain', 'with/slash', 'line\nbreak', 'ü ✓', '"quoted"']
    const text = headerLine('leveldb') + names.map((n, i) => documentLine(n, new Uint8Array([i, 0]))).join('') + endLine(names.length)
    const docs = await read(text)
    expect(docs.map((d) => d.name)).toEqual(names)
    expect(docs.map((d) => [...d.update])).toEqual(names.map((_, i) => [i, 0]))
    expect(docs.map((d) => d.line)).toEqual([2, 3, 4, 5, 6])
  })

  it('says which line is damaged and why', async () => {
    const good = headerLine('leveldb') + documentLine('a', update)
    expect((await failure('')).message).toMatch(/line 1: the input is empty/)
    expect((await failure('hello\n')).message).toMatch(/line 1: not a tandem export/)
    expect((await failure('{"format":"other","version":1}\n')).message).toMatch(/line 1: not a tandem export/)
    expect((await failure('{"format":"tandem-export","version":2}\n')).message).toMatch(/line 1: export format version 2 is newer/)
    expect((await failure(good + '{"name":"b","upd\n' + endLine(2))).line).toBe(3)
    expect((await failure(good + '{"name":"b","update":"***"}\n' + endLine(2))).message).toMatch(/line 3: document "b": "update" is not valid base64/)
    expect((await failure(good + '{"name":"","update":""}\n')).message).toMatch(/line 3: a document line needs a non-empty "name"/)
    expect((await failure(good + '\n' + endLine(1))).message).toMatch(/line 3: empty line/)
    expect((await failure(good + endLine(5))).message).toMatch(/line 3: the end line counts 5 documents, but 1 came before it/)
    expect((await failure(good + endLine(1) + documentLine('late', update))).message).toMatch(/line 4: content after the end line/)
    // Cut at a line boundary: only the missing end line tells.
    expect((await failure(good)).message).toMatch(/line 2: the input ends here, without its end line: the export is truncated/)
  })

  it('ignores fields it does not know, for later versions', async () => {
    const text = '{"format":"tandem-export","version":1,"extra":true}\n{"name":"a","update":"AAA=","meta":{}}\n{"end":true,"documents":1,"sha":"x"}\n'
    expect((await read(text)).map((d) => d.name)).toEqual(['a'])
  })
})

describe('Progress', () => {
  it('writes a plain line at each interval when stderr is not a terminal, and a summary at the end', async () => {
    const lines: string[] = []
    const stream = { isTTY: false, write: (s: string) => { lines.push(s); return true } } as unknown as NodeJS.WritableStream
    let now = 0
    const progress = new Progress({ stream, verb: 'exported', intervalMs: 5, now: () => now })
    progress.start(3)
    progress.advance(1024)
    now = 2000
    const deadline = Date.now() + 2000
    while (lines.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(lines[0]).toBe('exported 1/3 documents (1.0 KiB) after 2 s\n')
    progress.advance(2048)
    now = 3500
    progress.finish()
    expect(lines[lines.length - 1]).toBe('exported 2 documents (3.0 KiB) in 3.5 s\n')
  })
})
