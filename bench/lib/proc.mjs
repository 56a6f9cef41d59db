// Readings from /proc about another process, and small filesystem helpers.
// Linux only: the suite measures servers by their own accounting, not by
// what the load generator thinks it observed.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

// USER_HZ is 100 on every Linux this suite targets; /proc/<pid>/stat counts in it.
const TICK_MICROS = 10_000

/** CPU time (user + system) a process has used so far, in microseconds; null if gone. */
export function cpuMicros (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) * TICK_MICROS
  } catch {
    return null
  }
}

/** Resident set size of a process in bytes; null if gone. */
export function rssBytes (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

/** Kernel-wide TCP listen-queue overflow and drop counters. */
export function listenCounters () {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n')
    for (let i = 0; i + 1 < lines.length; i++) {
      if (!lines[i].startsWith('TcpExt:')) continue
      const names = lines[i].split(/\s+/)
      const values = lines[i + 1].split(/\s+/)
      const at = (name) => Number(values[names.indexOf(name)] ?? 0)
      return { overflows: at('ListenOverflows'), drops: at('ListenDrops') }
    }
  } catch {}
  return { overflows: 0, drops: 0 }
}

/** Total size in bytes of every regular file below `dir` (0 if it does not exist). */
export function dirBytes (dir) {
  return walk(dir, { bytes: 0, mtimeMs: 0, files: 0 }).bytes
}

/**
 * A value that changes whenever anything below `dir` is written: total size,
 * newest modification time and file count. Size alone misses in-place page
 * rewrites (SQLite), modification time alone misses coarse timestamps.
 */
export function dirSignature (dir) {
  const s = walk(dir, { bytes: 0, mtimeMs: 0, files: 0 })
  return `${s.bytes}:${s.mtimeMs}:${s.files}`
}

function walk (dir, acc) {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return acc
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    try {
      if (entry.isDirectory()) walk(path, acc)
      else if (entry.isFile()) {
        const st = statSync(path)
        acc.bytes += st.size
        acc.mtimeMs = Math.max(acc.mtimeMs, st.mtimeMs)
        acc.files++
      }
    } catch {
      // a file removed by compaction between readdir and stat
    }
  }
  return acc
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Wall clock in milliseconds with sub-millisecond resolution, comparable across processes. */
export const wallMs = () => performance.timeOrigin + performance.now()
