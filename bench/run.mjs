#!/usr/bin/env node
// npm run bench [-- --quick] [--only fanout,storm] [--servers raw,yws-mem] [--repeats N] [--profile]
//
// Starts every server as its own process, drives it from separate load
// generator processes over loopback, repeats each measurement alternating the
// order of servers, and writes a Markdown report to bench/results/.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { TARGETS, unavailable, ROOT, killAllServers } from './servers/targets.mjs'
import { SCENARIOS } from './scenarios/index.mjs'
import { FULL, QUICK } from './lib/params.mjs'
import { scenarioTable, median } from './lib/report.mjs'
import { wallMs } from './lib/proc.mjs'
import { targetSummary } from './lib/targets.mjs'

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name) => {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? null : argv[i + 1]
}
if (flag('help')) {
  console.log(`usage: npm run bench -- [--quick] [--only a,b] [--servers a,b] [--repeats N] [--profile] [--out FILE]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
servers:   ${Object.keys(TARGETS).join(', ')}`)
  process.exit(0)
}

const quick = flag('quick')
const params = structuredClone(quick ? QUICK : FULL)
if (option('repeats')) params.repeats = Math.max(1, Number(option('repeats')))
const only = option('only')?.split(',')
const wanted = option('servers')?.split(',') ?? Object.keys(TARGETS)
for (const s of wanted) if (!TARGETS[s]) { console.error(`unknown server ${s}`); process.exit(2) }
for (const s of only ?? []) if (!SCENARIOS.some((x) => x.name === s)) { console.error(`unknown scenario ${s}`); process.exit(2) }

// Hocuspocus (with SQLite, which compiles) is not a dependency of tandem: it
// lives in bench/package.json and is installed on the first run that needs it.
if (wanted.some((s) => s.startsWith('hp-')) && !existsSync(join(ROOT, 'bench', 'node_modules', '@hocuspocus', 'server'))) {
  console.log('installing the reference servers into bench/node_modules (first run only)')
  const install = spawnSync('npm', ['ci', '--prefix', join(ROOT, 'bench'), '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (install.status !== 0) {
    console.error('npm ci --prefix bench failed; run it by hand, or leave out the hp-* servers (--servers)')
    process.exit(1)
  }
}

const notes = []
const servers = wanted.filter((s) => {
  const why = unavailable(s)
  if (why) notes.push(`${TARGETS[s].label}: skipped — ${why}`)
  return !why
})
for (const n of notes) console.log(n)

const profileDir = join(ROOT, 'bench', 'results', 'profiles')
const ctx = {
  params,
  root: ROOT,
  seq: 0,
  built: {},
  dataRoot: join(tmpdir(), `tandem-bench-${process.pid}`),
  nodeArgs: (name) => flag('profile') && TARGETS[name].tandem ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
}
mkdirSync(ctx.dataRoot, { recursive: true })
const cleanup = () => rmSync(ctx.dataRoot, { recursive: true, force: true })
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { killAllServers(); cleanup(); process.exit(130) })
}

const COLUMNS = {
  fanout: [
    { key: 'cpuPerDelivery', label: 'server CPU µs/delivery', short: 'CPU/delivery', ratio: true },
    { key: 'deliveriesPerS', label: 'deliveries/s', short: 'deliveries/s', ratio: true },
    { key: 'expectedPerS', label: 'offered deliveries/s' },
    { key: 'p50', label: 'p50 ms' },
    { key: 'p99', label: 'p99 ms' },
    { key: 'serverCpu', label: 'server cores', digits: 2 },
    { key: 'rssMB', label: 'RSS MB' },
    { key: 'rssGrowthMB', label: 'RSS growth MB in window' },
    { key: 'genCpu', label: 'load-gen cores (max proc)', digits: 2 }
  ],
  manydocs: [
    { key: 'perConnKB', label: 'RSS KB/connection', short: 'KB/conn', ratio: true },
    { key: 'rssMB', label: 'RSS MB' },
    { key: 'connectPerS', label: 'connects+syncs/s', short: 'connect rate', ratio: true },
    { key: 'connectCpuUs', label: 'server CPU µs per connect', digits: 0 },
    { key: 'connectGenCpu', label: 'load-gen cores while connecting', digits: 2 },
    { key: 'idleCpuPct', label: 'idle CPU % of a core (all connected)', digits: 2 },
    { key: 'delivered', label: 'edits delivered', digits: 2 }
  ],
  storm: [
    { key: 'allMs', label: 'all synced ms', short: 'all synced', ratio: true },
    { key: 'p50', label: 'p50 ms' },
    { key: 'p99', label: 'p99 ms' },
    { key: 'failed', label: 'failed', digits: 0 },
    { key: 'overflows', label: 'listen overflows', digits: 0 },
    { key: 'genCpu', label: 'load-gen cores', digits: 2 }
  ],
  coldload: [
    { key: 'syncMs', label: 'first sync step 2 ms', short: 'sync', ratio: true },
    { key: 'firstShare', label: 'share of content in first reply', digits: 2 },
    { key: 'completeMs', label: 'all content received ms' },
    { key: 'startMs', label: 'process start → ready ms' },
    { key: 'rssMB', label: 'RSS MB after load' },
    { key: 'diskMB', label: 'bytes on disk MB', digits: 2 },
    { key: 'fillPerS', label: 'fill updates/s' }
  ],
  build: [
    { key: 'updatesPerS', label: 'updates/s', short: 'updates/s', ratio: true },
    { key: 'cpuPerUpdate', label: 'server CPU µs/update (until the disk settled)' },
    { key: 'relayCpuPerUpdate', label: 'server CPU µs/update while relaying' },
    { key: 'diskMB', label: 'disk MB after', digits: 2 },
    { key: 'p99', label: 'relay p99 ms' },
    { key: 'maxGapMs', label: 'longest silence at the peer ms' },
    { key: 'settleMs', label: 'disk settled after last delivery ms' },
    { key: 'rssMB', label: 'RSS MB' },
    { key: 'genCpu', label: 'load-gen cores', digits: 2 }
  ],
  crowd: [
    { key: 'allMs', label: 'all served ms', short: 'all served', ratio: true },
    { key: 'p50', label: 'p50 ms' },
    { key: 'cpuPerClientMs', label: 'server CPU ms per joining client', digits: 2 },
    { key: 'failed', label: 'failed', digits: 0 },
    { key: 'docKB', label: 'document KB', digits: 0 },
    { key: 'genCpu', label: 'load-gen cores (max proc)', digits: 2 }
  ],
  durable: [
    { key: 'relayPerS', label: 'relayed updates/s', short: 'relayed/s', ratio: true },
    { key: 'durablePerS', label: 'durable updates/s' },
    { key: 'lagMs', label: 'disk lag behind relay ms' },
    { key: 'cpuPerUpdate', label: 'server CPU µs/update' },
    { key: 'genCpu', label: 'load-gen cores (max proc)', digits: 2 }
  ],
  kill: [
    { key: 'seen', label: 'seen by peer', digits: 0 },
    { key: 'stored', label: 'stored after restart', digits: 0 },
    { key: 'lost', label: 'lost', digits: 0 },
    { key: 'killedOnTime', label: 'killed right after last', digits: 0 }
  ],
  redis: [
    { key: 'crossP50', label: 'cross-instance p50 ms' },
    { key: 'crossP99', label: 'cross-instance p99 ms' },
    { key: 'localP50', label: 'same-instance p50 ms' },
    { key: 'localP99', label: 'same-instance p99 ms' },
    { key: 'crossPerS', label: 'cross deliveries/s' },
    { key: 'crossShare', label: 'cross delivered / offered', digits: 2 },
    { key: 'cpuPerDelivery', label: 'CPU µs/delivery (A+B+Redis)' },
    { key: 'genCpu', label: 'load-gen cores', digits: 2 }
  ]
}
COLUMNS.hotdoc = COLUMNS.fanout
for (const s of SCENARIOS) s.columns = COLUMNS[s.name]

const started = wallMs()
const broken = new Set()
const sections = []
const all = {}
for (const scenario of SCENARIOS) {
  if (only && !only.includes(scenario.name)) continue
  if (scenario.skipReason) {
    const why = scenario.skipReason(ctx)
    if (why) {
      console.log(`\n${scenario.title}: skipped — ${why}`)
      sections.push(`### ${scenario.title}\n\nSkipped: ${why}.`)
      continue
    }
  }
  const targets = servers.filter((s) => scenario.applies(s, ctx))
  if (targets.length === 0) continue
  console.log(`\n${scenario.title}`)
  const runs = new Map(targets.map((t) => [t, new Map()]))
  const prepared = new Map()
  const failures = []
  if (scenario.prepare) {
    for (const t of targets) {
      const t0 = wallMs()
      try {
        prepared.set(t, await scenario.prepare(ctx, t))
        console.log(`  prepared ${t} in ${((wallMs() - t0) / 1000).toFixed(1)} s`)
      } catch (err) {
        failures.push(`${TARGETS[t].label}: prepare failed: ${firstLine(err)}`)
        console.log(`  ${t}: prepare failed: ${err.stack ?? err}`)
      }
    }
  }
  const repeats = Math.min(params.repeats, params[scenario.name]?.repeats ?? Infinity)
  for (let rep = 0; rep < repeats; rep++) {
    // Alternate: each repetition starts with a different server.
    const order = targets.map((_, i) => targets[(i + rep) % targets.length])
    for (const t of order) {
      if (scenario.prepare && !prepared.has(t)) continue
      if (broken.has(t)) continue
      const t0 = wallMs()
      try {
        const rows = await scenario.measure(ctx, t, prepared.get(t))
        for (const { row, metrics } of rows) {
          const byRow = runs.get(t)
          if (!byRow.has(row)) byRow.set(row, [])
          byRow.get(row).push(metrics)
        }
        console.log(`  rep ${rep + 1} ${t.padEnd(15)} ${((wallMs() - t0) / 1000).toFixed(1).padStart(5)} s  ${rows.map((r) => `${r.row}: ${brief(r.metrics)}`).join(' | ')}`)
      } catch (err) {
        failures.push(`${TARGETS[t].label} (rep ${rep + 1}): ${firstLine(err)}`)
        // A server that cannot start will not start on the next repetition either.
        if (/did not become ready|exited during start/.test(String(err?.message))) broken.add(t)
        console.log(`  rep ${rep + 1} ${t}: failed: ${err.stack ?? err}`)
      }
    }
  }
  all[scenario.name] = runs
  for (const [t, byRow] of runs) if (byRow.size === 0) runs.delete(t)
  let text = `### ${scenario.title}\n\n${scenarioTable(scenario, runs)}\n`
  if (failures.length) text += `\n\nFailures: ${failures.map((f) => `\n- ${f}`).join('')}`
  sections.push(text)
}
cleanup()

function firstLine (err) { return String(err?.message ?? err).split('\n')[0] }
function brief (m) {
  return Object.entries(m).slice(0, 3).map(([k, v]) => `${k}=${typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v) : v.toFixed(2)) : v}`).join(' ')
}

const minutes = (wallMs() - started) / 60000
const date = new Date().toISOString().slice(0, 10)
const header = [
  `# tandem benchmark — ${date}${quick ? ' (quick smoke run: tiny parameters, not comparable)' : ''}`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${params.repeats} repetition(s) per measurement, servers alternated; ` +
    `cells are median (min–max). Run took ${minutes.toFixed(1)} min. Reproduce: \`npm run bench${quick ? ' -- --quick' : ''}\` (see bench/README.md).`,
  '',
  ...notes.map((n) => `- ${n}`)
]
const targetsTable = targetSummary(all)
const report = [...header, '', targetsTable, '', ...sections.map((x) => x + '\n'), ''].join('\n')
console.log('\n' + report)
const resultsDir = join(ROOT, 'bench', 'results')
mkdirSync(resultsDir, { recursive: true })
const out = option('out')
if (out) {
  writeFileSync(out, report)
} else if (quick || only || option('servers')) {
  writeFileSync(join(resultsDir, 'partial.md'), report)
  console.log('written to bench/results/partial.md (a full run writes latest.md)')
} else {
  writeFileSync(join(resultsDir, `${date}.md`), report)
  writeFileSync(join(resultsDir, 'latest.md'), report)
  console.log(`written to bench/results/${date}.md and bench/results/latest.md`)
}

