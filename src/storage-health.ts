import type { Logger } from 'pino'

/**
 * Whether storage is answering, as the documents see it. An outage is logged
 * once when it starts and once when it ends (with its duration), however
 * many documents keep retrying meanwhile.
 */
export class StorageHealth {
  private downSince: number | null = null
  private lastError = ''
  /** Retries waiting out their backoff; woken as soon as any storage operation succeeds. */
  private readonly waiting = new Set<() => void>()

  constructor (private readonly logger: Logger) {}

  /** A storage operation failed (it will be retried). */
  failed (op: string, err: Error): void {
    this.lastError = err.message
    if (this.downSince !== null) return
    this.downSince = Date.now()
    this.logger.error({ err, op }, 'storage is unavailable: changes are held (nothing unstored is relayed or acknowledged) and retried until it returns')
  }

  /** A storage operation succeeded: every retry waiting for storage goes now. */
  succeeded (): void {
    if (this.downSince === null) return
    for (const wake of this.waiting) wake()
    this.waiting.clear()
    const outageMs = Date.now() - this.downSince
    this.downSince = null
    this.logger.info({ outageMs, lastError: this.lastError }, `storage is back after ${outageMs} ms`)
  }

  /**
   * Waits before retry `attempt` (1, 2, …) of a failed operation: the backoff
   * delay, cut short when storage answers another operation, or by `cancel`.
   */
  wait (attempt: number, cancel?: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.waiting.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, retryDelay(attempt))
      this.waiting.add(wake)
      cancel?.(wake)
    })
  }

  /** True while an outage is going on. */
  get down (): boolean {
    return this.downSince !== null
  }
}

/** First and largest delay between retries of a failed storage operation. */
export const RETRY_BASE_MS = 100
export const RETRY_MAX_MS = 1000

/** The delay before retry `attempt` (1, 2, …): doubling from RETRY_BASE_MS up to RETRY_MAX_MS, with jitter. */
export function retryDelay (attempt: number): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1))
  return ceiling / 2 + Math.random() * ceiling / 2
}
