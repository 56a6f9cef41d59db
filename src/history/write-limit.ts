import { TokenBucket } from '../limits.js'

/**
 * Version writes (create, restore, delete) per identity: a token bucket of
 * `perMinute` tokens refilled over a minute. Identities whose bucket is full
 * again are forgotten by `sweep`, so memory follows the active ones.
 */
export class HistoryWriteLimit {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (private readonly perMinute: number, private readonly now?: () => number) {}

  /** Spends one write of `identity`; false (nothing spent) when it has used its budget. */
  take (identity: string): boolean {
    let bucket = this.buckets.get(identity)
    if (bucket === undefined) {
      bucket = new TokenBucket({ ratePerSec: this.perMinute / 60, burst: this.perMinute, now: this.now })
      this.buckets.set(identity, bucket)
    }
    return bucket.take(1)
  }

  sweep (): void {
    for (const [identity, bucket] of this.buckets) {
      if (bucket.available() >= bucket.capacity) this.buckets.delete(identity)
    }
  }

  get size (): number {
    return this.buckets.size
  }
}
