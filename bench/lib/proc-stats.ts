/**
 * CPU and memory of one process (and of the whole machine) from /proc, so a benchmark measures the
 * server it benchmarks and not everything else sharing the box.
 */
import {readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'

/** USER_HZ: 100 on every Linux build this runs on (getconf CLK_TCK); /proc counts in these ticks. */
const TICKS_PER_SECOND = 100

export interface ProcessSample {
  /** utime + stime of all its threads, in seconds. */
  cpuSeconds: number
  rssBytes: number
  /** performance.now() when read. */
  at: number
}

export function sampleProcess(pid: number): ProcessSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN)
  return {cpuSeconds: (utime + stime) / TICKS_PER_SECOND, rssBytes: rssKb * 1024, at: performance.now()}
}

/** The direct children of a process (every thread's, from /proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  } catch {
    // It exited while being read: it has no children any more.
    return []
  }
}

export interface TreeSample extends ProcessSample {
  /** The processes counted: the root and its descendants alive when read. */
  pids: number[]
}

/**
 * A process and all its descendants (a relay and the nginx it started, an nginx master and its
 * worker): CPU and RSS summed. A descendant that exits between two samples takes its CPU with it.
 */
export function sampleTree(root: number): TreeSample {
  const pids: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift() as number
    pids.push(pid)
    queue.push(...childrenOf(pid))
  }
  let cpuSeconds = 0
  let rssBytes = 0
  const alive: number[] = []
  for (const pid of pids) {
    let sample: ProcessSample
    try {
      sample = sampleProcess(pid)
    } catch (error) {
      if (pid === root) throw error
      continue
    }
    cpuSeconds += sample.cpuSeconds
    // An exited child not yet reaped (a zombie) has no VmRSS.
    if (Number.isFinite(sample.rssBytes)) rssBytes += sample.rssBytes
    alive.push(pid)
  }
  return {cpuSeconds, rssBytes, at: performance.now(), pids: alive}
}

/** Cores used between two samples (1.0 = one core busy all the time). */
export const coresBetween = (from: ProcessSample, to: ProcessSample): number => (to.cpuSeconds - from.cpuSeconds) / ((to.at - from.at) / 1000)

export interface MachineSample {
  busyTicks: number
  totalTicks: number
}

/** The aggregate "cpu" line of /proc/stat: busy is everything but idle and iowait. */
export function sampleMachine(): MachineSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = ticks.reduce((a, b) => a + b, 0)
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
  return {busyTicks: total - idle, totalTicks: total}
}

/** Share of the whole machine's CPU time that was busy between two samples (0…1). */
export const machineBusyBetween = (from: MachineSample, to: MachineSample): number =>
  (to.busyTicks - from.busyTicks) / Math.max(1, to.totalTicks - from.totalTicks)

/**
 * The PID of a direct child of this process whose command line contains `needle` (for a server a
 * harness helper started without exposing its PID). Reads /proc/self/task/<tid>/children.
 */
export function childPidByCommand(needle: string): number {
  const children = readdirSync('/proc/self/task').flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  for (const pid of children) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
    if (cmdline.includes(needle)) return pid
  }
  throw new Error(`no child process of ${process.pid} runs ${needle}`)
}

/** Bytes of the files under a directory (a tmpfs cache: its pages are no process's RSS). */
export function directoryBytes(dir: string): number {
  let bytes = 0
  let entries
  try {
    entries = readdirSync(dir, {withFileTypes: true, recursive: true})
  } catch {
    return 0
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue
    try {
      bytes += statSync(path.join(entry.parentPath, entry.name)).size
    } catch {
      // Removed while being read (evicted, or a temp file renamed into place).
    }
  }
  return bytes
}
