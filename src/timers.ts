/** setTimeout's largest delay (~24.8 days); Node fires longer delays after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** The clock `callAt` uses; injectable so tests never wait. */
export interface TimerClock {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout)
}

/**
 * Calls `fn` once at `atMs` (ms since the epoch), however far away that is:
 * a delay longer than a timer can wait is waited in steps. Returns a cancel
 * function; whoever calls `callAt` cancels it when its owner goes away.
 */
export function callAt (atMs: number, fn: () => void, clock: TimerClock = systemClock): () => void {
  let handle: unknown
  let cancelled = false
  const arm = (): void => {
    const left = atMs - clock.now()
    if (left <= 0) {
      fn()
      return
    }
    handle = clock.setTimeout(() => { if (!cancelled) arm() }, Math.min(left, MAX_TIMER_MS))
  }
  arm()
  return () => {
    cancelled = true
    clock.clearTimeout(handle)
  }
}
