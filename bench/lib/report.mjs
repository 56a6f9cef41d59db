// Markdown tables: one per scenario, rows = target × configuration, cells =
// median (min–max over repetitions), and ratio columns against the raw relay
// and against y-websocket of the same persistence class.
import { summarize } from './stats.mjs'
import { TARGETS } from '../servers/targets.mjs'

const num = (v, digits) => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–'
  const abs = Math.abs(v)
  if (digits !== undefined) return v.toFixed(digits)
  if (abs >= 10000) return Math.round(v).toLocaleString('en-US')
  if (abs >= 100) return v.toFixed(0)
  if (abs >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

export function cell (s, col) {
  if (s === null) return '–'
  const f = (v) => col.format ? col.format(v) : num(v, col.digits)
  if (s.n === 1 || s.min === s.max) return f(s.median)
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}

const ratio = (a, b) => (a === null || b === null || b === 0) ? '–' : `${(a / b).toFixed(2)}×`

/**
 * @param scenario  the scenario object (name, title, columns)
 * @param runs      Map target → Map row → array of metric objects (one per repetition)
 */
export function scenarioTable (scenario, runs) {
  const cols = scenario.columns
  const ratioCols = cols.filter((c) => c.ratio)
  const head = ['server', 'load', ...cols.map((c) => c.label)]
  for (const c of ratioCols) head.push(`${c.short ?? c.label} ×raw`, `${c.short ?? c.label} ×y-ws`)
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  const med = (target, row, key) => {
    const reps = runs.get(target)?.get(row)
    if (!reps) return null
    return summarize(reps.map((m) => m[key]))?.median ?? null
  }
  for (const [target, rows] of runs) {
    for (const [row, reps] of rows) {
      const cells = cols.map((c) => cell(summarize(reps.map((m) => m[c.key])), c))
      for (const c of ratioCols) {
        const v = med(target, row, c.key)
        cells.push(ratio(v, med('raw', row, c.key)), ratio(v, med(TARGETS[target].counterpart, row, c.key)))
      }
      lines.push(`| ${TARGETS[target].label} | ${row} | ${cells.join(' | ')} |`)
    }
  }
  return lines.join('\n')
}

export function median (runs, target, row, key) {
  const reps = runs.get(target)?.get(row)
  if (!reps) return null
  return summarize(reps.map((m) => m[key]))?.median ?? null
}
