// Latency histograms with ~2.5 % resolution that merge by addition, so several
// load-generator processes can be summarised as one, and summary statistics.

const BASE_MICROS = 10
const GROWTH = 1.025
const LOG_GROWTH = Math.log(GROWTH)
const BUCKETS = 1200 // 10 µs × 1.025^1200 is far beyond any bounded run

export function createHistogram () {
  return new Float64Array(BUCKETS)
}

export function record (hist, micros) {
  let i = micros <= BASE_MICROS ? 0 : Math.floor(Math.log(micros / BASE_MICROS) / LOG_GROWTH)
  if (i >= BUCKETS) i = BUCKETS - 1
  hist[i]++
}

export function mergeInto (target, source) {
  for (let i = 0; i < BUCKETS; i++) target[i] += source[i] ?? 0
}

export function count (hist) {
  let n = 0
  for (let i = 0; i < BUCKETS; i++) n += hist[i]
  return n
}

/** The q-quantile (0..1) in milliseconds, or null for an empty histogram. */
export function quantileMs (hist, q) {
  const n = count(hist)
  if (n === 0) return null
  const rank = Math.max(1, Math.ceil(q * n))
  let seen = 0
  for (let i = 0; i < BUCKETS; i++) {
    seen += hist[i]
    if (seen >= rank) return (BASE_MICROS * Math.pow(GROWTH, i + 0.5)) / 1000
  }
  return null
}

/** Median, minimum and maximum of the finite numbers in `values`. */
export function summarize (values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  const mid = xs.length >> 1
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
  return { median, min: xs[0], max: xs[xs.length - 1], n: xs.length }
}
