import { once } from 'node:events'
import type { Writable } from 'node:stream'

/** Writes `text`, waiting while the stream's buffer is full, so output never piles up in memory. */
export async function write (stream: Writable | NodeJS.WritableStream, text: string): Promise<void> {
  // A reader that went away destroys the stream; stop at once rather than write into nothing.
  if ((stream as Writable).destroyed) throw Object.assign(new Error('the output was closed'), { code: 'EPIPE' })
  if (stream.write(text)) return
  // Whichever comes first; the other listener is removed.
  const ac = new AbortController()
  try {
    await Promise.race([
      once(stream as Writable, 'drain', { signal: ac.signal }),
      once(stream as Writable, 'error', { signal: ac.signal }).then(([err]) => { throw err })
    ])
  } finally {
    ac.abort()
  }
}

/** The reader went away (`tandem list | head`): not worth a stack trace. */
export function isBrokenPipe (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED'
}
