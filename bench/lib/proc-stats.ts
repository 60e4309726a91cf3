/**
 * CPU and memory of one process (and of the whole machine) from /proc, so a benchmark measures the
 * server it benchmarks and not everything else sharing the box.
 */
import {readFileSync, readdirSync} from 'node:fs'

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
