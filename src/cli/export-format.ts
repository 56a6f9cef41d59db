/**
 * The tandem export format, version 1: UTF-8 JSON lines, `\n`-separated.
 *
 *   {"format":"tandem-export","version":1,"exportedAt":"2026-11-30T10:00:00.000Z","source":"leveldb"}
 *   {"name":"notes/today","update":"AQG2..."}
 *   {"name":"lobby","update":"AQK..."}
 *   {"end":true,"documents":2}
 *
 * - Line 1, the header: `format` is `"tandem-export"`, `version` the format
 *   version. Other header fields are informative. A reader refuses a version
 *   it does not know.
 * - One line per document: `name` (any non-empty string) and `update`, the
 *   whole document as one Yjs update (v1 encoding, as `Y.encodeStateAsUpdate`
 *   or `Y.mergeUpdates` make it) in standard base64 with padding.
 * - Last line: `{"end":true,"documents":N}` with the number of document
 *   lines, so an export cut short, even at a line boundary, is detected.
 *
 * Readers ignore fields they do not know on any line, so a later version can
 * add fields without breaking them; anything that changes the meaning of the
 * fields above gets a new version number.
 */

export const FORMAT_NAME = 'tandem-export'
export const FORMAT_VERSION = 1

/** A damaged line: its number (1-based) and what is wrong with it. */
export class FormatError extends Error {
  constructor (readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`)
    this.name = 'FormatError'
  }
}

export function headerLine (source: string, now = new Date()): string {
  return JSON.stringify({ format: FORMAT_NAME, version: FORMAT_VERSION, exportedAt: now.toISOString(), source }) + '\n'
}

export function documentLine (name: string, update: Uint8Array): string {
  return JSON.stringify({ name, update: Buffer.from(update.buffer, update.byteOffset, update.byteLength).toString('base64') }) + '\n'
}

export function endLine (documents: number): string {
  return JSON.stringify({ end: true, documents }) + '\n'
}

export interface ExportedDocument {
  /** Line number in the input, for messages. */
  line: number
  name: string
  update: Uint8Array
  /** Length of the line, to report progress in bytes. */
  lineBytes: number
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Reads an export line by line and yields its documents. Throws a
 * `FormatError` at the first line that is not what the format says, and at
 * the end of an input that lacks its end line or has something after it.
 * Holds one line at a time.
 */
export async function * readExport (lines: AsyncIterable<string>): AsyncGenerator<ExportedDocument> {
  let n = 0
  let documents = 0
  let ended = false
  for await (const raw of lines) {
    n++
    const text = n === 1 ? raw.replace(/^\uFEFF/, '') : raw
    if (ended) throw new FormatError(n, 'content after the end line')
    const value = parseObject(text, n)
    if (n === 1) {
      checkHeader(value, n)
      continue
    }
    if ('end' in value) {
      if (value.end !== true || !Number.isSafeInteger(value.documents)) throw new FormatError(n, 'the end line must be {"end":true,"documents":N}')
      if (value.documents !== documents) throw new FormatError(n, `the end line counts ${String(value.documents)} documents, but ${documents} came before it`)
      ended = true
      continue
    }
    const { name, update } = value
    if (typeof name !== 'string' || name === '') throw new FormatError(n, 'a document line needs a non-empty "name" string')
    if (typeof update !== 'string') throw new FormatError(n, `document ${JSON.stringify(name)}: "update" must be a base64 string`)
    if (!BASE64.test(update)) throw new FormatError(n, `document ${JSON.stringify(name)}: "update" is not valid base64`)
    documents++
    yield { line: n, name, update: new Uint8Array(Buffer.from(update, 'base64')), lineBytes: Buffer.byteLength(raw) + 1 }
  }
  if (n === 0) throw new FormatError(1, 'the input is empty, not a tandem export')
  if (!ended) throw new FormatError(n, 'the input ends here, without its end line: the export is truncated')
}

function parseObject (text: string, n: number): Record<string, unknown> {
  if (text.trim() === '') throw new FormatError(n, 'empty line')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new FormatError(n, n === 1 ? 'not a tandem export (the first line is not JSON)' : 'not valid JSON (damaged or cut off)')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FormatError(n, 'not a JSON object')
  return value as Record<string, unknown>
}

function checkHeader (value: Record<string, unknown>, n: number): void {
  if (value.format !== FORMAT_NAME) throw new FormatError(n, `not a tandem export (the header needs "format":"${FORMAT_NAME}")`)
  const version = value.version
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw new FormatError(n, 'the header has no valid "version"')
  if (version > FORMAT_VERSION) {
    throw new FormatError(n, `export format version ${version} is newer than this tandem reads (${FORMAT_VERSION}); import with a newer tandem`)
  }
}
