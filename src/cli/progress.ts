/**
 * Progress of long commands, on standard error (standard output carries only
 * data): a bar when stderr is a terminal, otherwise a plain line every few
 * seconds, and a one-line summary at the end either way.
 */
import cliProgress from 'cli-progress'

export interface ProgressOptions {
  /** Where progress goes: standard error. */
  stream: NodeJS.WritableStream & { isTTY?: boolean }
  /** Past-tense verb of the summary: `exported`, `imported`, `compacted`. */
  verb: string
  /** Interval of the plain lines when the stream is not a terminal. @default 5000 */
  intervalMs?: number
  /** Whether the work has a size in bytes worth showing (compaction has none). @default true */
  bytes?: boolean
  /** @default Date.now */
  now?: () => number
}

export interface Totals {
  documents: number
  bytes: number
}

export class Progress {
  private readonly startedAt: number
  private readonly now: () => number
  private documents = 0
  private bytes = 0
  private total: number | undefined
  private bar: cliProgress.SingleBar | undefined
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor (private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now
    this.startedAt = this.now()
  }

  /** Starts showing progress; `total` documents when known. */
  start (total?: number): void {
    this.total = total
    if (this.options.stream.isTTY === true) {
      const sizeField = this.options.bytes === false ? '' : ' | {size}'
      this.bar = new cliProgress.SingleBar({
        stream: this.options.stream as NodeJS.WritableStream,
        format: total === undefined
          ? ` ${this.options.verb} {value} documents${sizeField} | {duration_formatted}`
          : ` {bar} {percentage}% | {value}/{total} documents${sizeField} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        // Redraws only on change; the terminal is never flooded.
        fps: 5,
        noTTYOutput: false
      }, cliProgress.Presets.shades_classic)
      this.bar.start(total ?? 0, 0, { size: formatBytes(0) })
      return
    }
    this.timer = setInterval(() => this.line(), this.options.intervalMs ?? 5000)
    this.timer.unref()
  }

  /** One more document of `bytes` bytes is done. */
  advance (bytes: number): void {
    this.documents++
    this.bytes += bytes
    this.bar?.update(this.documents, { size: formatBytes(this.bytes) })
  }

  get totals (): Totals {
    return { documents: this.documents, bytes: this.bytes }
  }

  /** Stops the bar or the lines; safe to call twice. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.bar?.stop()
  }

  /** Stops, then writes the summary: `exported 12 documents (3.4 MB) in 1.2 s`, plus `detail`. */
  finish (detail?: string): void {
    this.stop()
    const seconds = (this.now() - this.startedAt) / 1000
    const count = `${this.documents} document${this.documents === 1 ? '' : 's'}`
    this.options.stream.write(`${this.options.verb} ${count}${this.size(' (', ')')} in ${seconds.toFixed(1)} s${detail !== undefined ? `; ${detail}` : ''}\n`)
  }

  private line (): void {
    const of = this.total === undefined ? '' : `/${this.total}`
    const seconds = Math.round((this.now() - this.startedAt) / 1000)
    this.options.stream.write(`${this.options.verb} ${this.documents}${of} documents${this.size(' (', ')')} after ${seconds} s\n`)
  }

  private size (before: string, after: string): string {
    return this.options.bytes === false ? '' : `${before}${formatBytes(this.bytes)}${after}`
  }
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}
