// The targets table at the top of a report: each target of the performance
// work, the other servers' figures from the same run, tandem's, and a verdict.
import { median } from './report.mjs'

const f = (v, d = 2) => (v === null || v === undefined || !Number.isFinite(v)) ? '–' : v.toFixed(d)
const r = (a, b) => (a === null || b === null || !b) ? null : a / b
const verdict = (ok) => ok === null ? 'not measured' : ok ? '**met**' : '**missed**'
const firstRow = (runs) => [...(runs.values().next().value?.keys() ?? [])][0]
const TL = 'tandem-leveldb'

/** @param all  scenario name → Map target → Map row → metric objects */
export function targetSummary (all) {
  const rows = []
  const add = (what, others, target, value, ok) => rows.push([what, others, target, value, verdict(ok)])

  const bu = all.build
  if (bu) {
    const m = (t, row, k) => median(bu, t, row, k)
    const sizes = [...(bu.get(TL)?.keys() ?? [])]
    const cpu = sizes.map((row) => m(TL, row, 'cpuPerUpdate'))
    const flat = cpu.length > 1 && cpu.every((x) => x !== null) ? Math.max(...cpu) / cpu[0] : null
    add(`amortized compaction: server CPU µs per update, builds of ${sizes.join(' / ')}`, '–',
      'the same at every size (largest ≤ 1.25× the smallest build\'s)',
      `${cpu.map((x) => f(x, 0)).join(' / ')} µs`, flat === null ? null : flat <= 1.25)
    const row = '100,000 updates'
    const rate = (t) => m(t, row, 'updatesPerS')
    const disk = (t) => m(t, row, 'diskMB')
    const x = r(rate(TL), rate('yws-leveldb'))
    add('build of 100,000 updates: updates/s, disk after',
      `y-ws+LevelDB ${f(rate('yws-leveldb'), 0)}/s, ${f(disk('yws-leveldb'))} MB; Hocuspocus+SQLite ${f(rate('hp-sqlite'), 0)}/s, ${f(disk('hp-sqlite'))} MB`,
      '≥ 1.0× y-ws+LevelDB\'s rate, disk ≤ Hocuspocus+SQLite\'s',
      `${f(rate(TL), 0)}/s = ${f(x)}×, ${f(disk(TL))} MB`,
      x === null || disk(TL) === null || disk('hp-sqlite') === null ? null : x >= 1 && disk(TL) <= disk('hp-sqlite'))
    const gaps = sizes.map((s) => m(TL, s, 'maxGapMs'))
    const p99s = sizes.map((s) => m(TL, s, 'p99'))
    const worst = gaps.every((g) => g !== null) && gaps.length ? Math.max(...gaps) : null
    add('compaction never delays relaying: relay p99 / longest silence at the receiving peer, per build size',
      `y-ws+LevelDB ${f(m('yws-leveldb', row, 'p99'), 0)} / ${f(m('yws-leveldb', row, 'maxGapMs'), 0)} ms; Hocuspocus+SQLite ${f(m('hp-sqlite', row, 'p99'), 0)} / ${f(m('hp-sqlite', row, 'maxGapMs'), 0)} ms (100k)`,
      'no pause: longest silence ≤ 100 ms at every size',
      sizes.map((_, i) => `${f(p99s[i], 0)} / ${f(gaps[i], 0)} ms`).join('; '), worst === null ? null : worst <= 100)
  }

  const cl = all.coldload
  if (cl) {
    const row = firstRow(cl)
    const s = (t) => median(cl, t, row, 'syncMs')
    const c = (t) => median(cl, t, row, 'firstShare')
    const x = r(s(TL), s('hp-sqlite'))
    add(`cold load of the ${row} document: a fresh client's first sync complete`,
      `y-ws+LevelDB ${f(s('yws-leveldb'), 0)} ms holding ${f(c('yws-leveldb'))} of the content; Hocuspocus+SQLite ${f(s('hp-sqlite'), 0)} ms holding ${f(c('hp-sqlite'))}`,
      '≤ 0.25× Hocuspocus+SQLite, first reply whole', `${f(s(TL), 0)} ms = ${f(x)}×, holding ${f(c(TL))}`,
      x === null ? null : x <= 0.25 && c(TL) === 1)
  }

  const cr = all.crowd
  if (cr) {
    for (const row of cr.get(TL)?.keys() ?? []) {
      const a = (t) => median(cr, t, row, 'allMs')
      const cpu = (t) => median(cr, t, row, 'cpuPerClientMs')
      const x = r(a(TL), a('raw'))
      add(`crowd of 500 on the automerge-paper document, ${row}: all served (server CPU per joining client)`,
        `raw ${f(a('raw'), 0)} ms (${f(cpu('raw'))} ms); y-ws+LevelDB ${f(a('yws-leveldb'), 0)} ms (${f(cpu('yws-leveldb'))} ms); Hocuspocus+SQLite ${f(a('hp-sqlite'), 0)} ms (${f(cpu('hp-sqlite'))} ms)`,
        '≤ 2× raw', `${f(a(TL), 0)} ms = ${f(x)}× raw (${f(cpu(TL))} ms)`, x === null ? null : x <= 2)
    }
  }

  const md = all.manydocs
  if (md) {
    const row = firstRow(md)
    const k = (t) => median(md, t, row, 'perConnKB')
    const c = (t) => median(md, t, row, 'connectPerS')
    const idle = (t) => median(md, t, row, 'idleCpuPct')
    add(`RSS per connection, ${row}`,
      `raw ${f(k('raw'), 1)} KB, y-ws+LevelDB ${f(k('yws-leveldb'), 1)} KB, y-ws ${f(k('yws-mem'), 1)} KB, Hocuspocus+SQLite ${f(k('hp-sqlite'), 1)} KB`,
      '≤ 10 KB and below y-ws+LevelDB', `${f(k(TL), 1)} KB (memory storage ${f(k('tandem-mem'), 1)} KB)`,
      k(TL) === null ? null : k(TL) <= 10 && (k('yws-leveldb') === null || k(TL) < k('yws-leveldb')))
    const x = r(c(TL), c('raw'))
    add(`connect + sync rate, ${row}`,
      `raw ${f(c('raw'), 0)}/s; y-ws+LevelDB ${f(r(c('yws-leveldb'), c('raw')))}×, Hocuspocus+SQLite ${f(r(c('hp-sqlite'), c('raw')))}×`,
      '≥ 0.9× raw', `${f(c(TL), 0)}/s = ${f(x)}× raw`, x === null ? null : x >= 0.9)
    const d = idle(TL) === null || idle('raw') === null ? null : idle(TL) - idle('raw')
    add(`idle CPU with every connection of ${row} open (% of one core)`,
      `raw ${f(idle('raw'))} %, y-ws+LevelDB ${f(idle('yws-leveldb'))} %`,
      'within 1 percentage point of raw', `${f(idle(TL))} % (+${f(d)} pp)`, d === null ? null : d <= 1)
  }

  const hd = all.hotdoc
  if (hd) {
    const row = firstRow(hd)
    const d = (t) => median(hd, t, row, 'deliveriesPerS')
    const p = (t) => median(hd, t, row, 'p99')
    const x = r(d(TL), d('raw'))
    add(`one hot document, ${row}: deliveries/s, p99`,
      `raw ${f(d('raw'), 0)}/s p99 ${f(p('raw'), 0)} ms; y-ws ${f(r(d('yws-mem'), d('raw')))}× p99 ${f(p('yws-mem'), 0)} ms; Hocuspocus ${f(r(d('hp-mem'), d('raw')))}× p99 ${f(p('hp-mem'), 0)} ms`,
      '≥ 1.0× raw, p99 reported', `${f(d(TL), 0)}/s = ${f(x)}×, p99 ${f(p(TL), 0)} ms`, x === null ? null : x >= 1)
  }

  // The wins to keep.
  const fo = all.fanout
  if (fo) {
    const row = 'K=50, 2000/s'
    const x = (t) => r(median(fo, t, row, 'cpuPerDelivery'), median(fo, 'raw', row, 'cpuPerDelivery'))
    add('fan-out K=50, 2,000 upd/s: server CPU per delivered update',
      `y-ws+LevelDB ${f(x('yws-leveldb'))}×, y-ws ${f(x('yws-mem'))}×, Hocuspocus ${f(x('hp-mem'))}× raw`, '≤ 1.0× raw',
      `${f(x(TL))}× (memory storage ${f(x('tandem-mem'))}×)`, x(TL) === null ? null : x(TL) <= 1)
    const row2 = 'K=200, 2000/s'
    const d = (t) => r(median(fo, t, row2, 'deliveriesPerS'), median(fo, 'raw', row2, 'deliveriesPerS'))
    add('fan-out K=200, 2,000 upd/s (overload): deliveries/s', `y-ws ${f(d('yws-mem'))}×, Hocuspocus ${f(d('hp-mem'))}× raw`, '≥ 1.0× raw',
      `${f(d(TL))}×, p99 ${f(median(fo, TL, row2, 'p99'), 0)} ms`, d(TL) === null ? null : d(TL) >= 1)
  }
  const du = all.durable
  if (du) {
    const one = firstRow(du)
    const v = (t, k) => median(du, t, one, k)
    const lag = v(TL, 'lagMs')
    add(`durable as fast as relayed (${one}): durable updates/s, disk lag behind the relay`,
      `y-ws+LevelDB ${f(v('yws-leveldb', 'durablePerS'), 0)}/s, lag ${f(v('yws-leveldb', 'lagMs'), 0)} ms; Hocuspocus+SQLite ${f(v('hp-sqlite', 'durablePerS'), 0)}/s, lag ${f(v('hp-sqlite', 'lagMs'), 0)} ms`,
      'lag ≤ 100 ms', `${f(v(TL, 'durablePerS'), 0)}/s (relayed ${f(v(TL, 'relayPerS'), 0)}/s), lag ${f(lag, 0)} ms`, lag === null ? null : lag <= 100)
  }
  const ki = all.kill
  if (ki) {
    const rowsK = [...(ki.values().next().value?.keys() ?? [])]
    const row = rowsK[rowsK.length - 1]
    const l = (t) => `${f(median(ki, t, row, 'lost'), 0)}/${f(median(ki, t, row, 'seen'), 0)}`
    const lv = median(ki, TL, row, 'lost')
    add(`kill -9 right after a peer received, ${row}: lost/seen`, `y-ws+LevelDB ${l('yws-leveldb')}, Hocuspocus+SQLite ${l('hp-sqlite')}`, '0 lost', l(TL), lv === null ? null : lv === 0)
  }
  const st = all.storm
  if (st) {
    const row = firstRow(st)
    const a = (t) => median(st, t, row, 'allMs')
    const o = (t) => median(st, t, row, 'overflows')
    add(`storm, ${row}: all synced / listen overflows`,
      `raw ${f(a('raw'), 0)} ms / ${f(o('raw'), 0)}, y-ws ${f(a('yws-mem'), 0)} ms / ${f(o('yws-mem'), 0)}, Hocuspocus ${f(a('hp-mem'), 0)} ms / ${f(o('hp-mem'), 0)}`,
      'at or below raw\'s time (≤ 1.1×), 0 overflows', `${f(a(TL), 0)} ms = ${f(r(a(TL), a('raw')))}× / ${f(o(TL), 0)}`,
      a(TL) === null || a('raw') === null ? null : a(TL) <= 1.1 * a('raw') && o(TL) === 0)
  }

  const lines = ['## Targets, this run', '', '| target | others, same run | target for tandem | tandem + LevelDB | verdict |', '|---|---|---|---|---|']
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`)
  return lines.join('\n')
}
