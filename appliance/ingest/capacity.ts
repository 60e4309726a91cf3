/**
 * Capacity measured, not assumed. Every second the ingest samples the box's CPU (all of it: other
 * ingests or a worker may share the box) and how fast each live ladder writes media; from that it
 * knows when the box falls behind realtime (refuse new publishes, show no free slot) and which
 * running stream should give up its top rendition so that the rest keep up.
 */
import {readFileSync} from 'node:fs'
import os from 'node:os'

/** The box's CPU time from /proc/stat (the host's, also inside a container): busy share between samples. */
export class BoxCpu {
  private last: {busy: number; total: number} | undefined

  constructor(private readonly read: () => string = () => readFileSync('/proc/stat', 'utf8')) {}

  /** Share of all CPUs busy since the last call (0..1); undefined on the first call or without /proc. */
  sample(): number | undefined {
    let line: string | undefined
    try {
      line = this.read().split('\n').find((l) => l.startsWith('cpu '))
    } catch {
      return undefined // not Linux: the speed of the ladders alone decides
    }
    if (line === undefined) return undefined
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number)
    const total = user + nice + system + idle + iowait + irq + softirq + steal
    const busy = total - idle - iowait
    const previous = this.last
    this.last = {busy, total}
    if (previous === undefined || total <= previous.total) return undefined
    return Math.min(1, Math.max(0, (busy - previous.busy) / (total - previous.total)))
  }
}

export interface LadderSample {
  id: string
  /** Media seconds ffmpeg has written (its -progress out_time). */
  outTime: number
  /** Renditions it encodes now. */
  rungs: number
  /** Its processes' CPU time so far (µs). */
  cpuMicros: number
}

export interface CapacityOptions {
  /** Over how long speeds are measured. */
  windowMs?: number
  /** Below this many media seconds per wall second a ladder is behind realtime. */
  behindBelow?: number
  /** Above this share of the box's CPU no new ladder is taken. */
  busyAbove?: number
  /** Above this share the box is overloaded: renditions are shed even before a ladder slows down. */
  overloadedAbove?: number
  /** A ladder's first seconds (its start reads a burst of cached media) do not count. */
  warmupMs?: number
  /** After shedding a rendition, wait this long for the effect before shedding another. */
  holdMs?: number
  cores?: number
}

interface History {
  startedAt: number
  samples: Array<{at: number; outTime: number; cpuMicros: number}>
  rungs: number
}

export interface CapacityState {
  /** No new publish should be taken. */
  full: boolean
  /** Why, for the log and the refusal. */
  reason?: string
  /** Ladders behind realtime now. */
  behind: string[]
  /** The box's CPU share busy (last sample). */
  boxBusy?: number
}

/** The decisions, from samples; no I/O (tests drive it with numbers). */
export class CapacityMonitor {
  private readonly windowMs: number
  private readonly behindBelow: number
  private readonly busyAbove: number
  private readonly overloadedAbove: number
  private readonly warmupMs: number
  private readonly holdMs: number
  private readonly cores: number
  private readonly ladders = new Map<string, History>()
  private busy: Array<{at: number; value: number}> = []
  private lastShedAt = -Infinity

  constructor(options: CapacityOptions = {}) {
    this.windowMs = options.windowMs ?? 6000
    this.behindBelow = options.behindBelow ?? 0.97
    this.busyAbove = options.busyAbove ?? 0.9
    this.overloadedAbove = options.overloadedAbove ?? 0.95
    this.warmupMs = options.warmupMs ?? 8000
    this.holdMs = options.holdMs ?? 10_000
    this.cores = options.cores ?? os.availableParallelism()
  }

  observe(now: number, sample: {boxBusy: number | undefined; ladders: readonly LadderSample[]}): void {
    if (sample.boxBusy !== undefined) this.busy.push({at: now, value: sample.boxBusy})
    this.busy = this.busy.filter((b) => now - b.at <= this.windowMs)
    const ids = new Set(sample.ladders.map((l) => l.id))
    for (const id of [...this.ladders.keys()]) if (!ids.has(id)) this.ladders.delete(id)
    for (const l of sample.ladders) {
      const history = this.ladders.get(l.id) ?? {startedAt: now, samples: [], rungs: l.rungs}
      // A restarted encode (fewer rungs) starts its measurements afresh.
      if (history.rungs !== l.rungs) {
        history.samples = []
        history.startedAt = now
        history.rungs = l.rungs
      }
      history.samples.push({at: now, outTime: l.outTime, cpuMicros: l.cpuMicros})
      history.samples = history.samples.filter((s) => now - s.at <= this.windowMs)
      this.ladders.set(l.id, history)
    }
  }

  /** Media seconds per wall second over the window; undefined while warming up or short of samples. */
  speed(id: string, now: number): number | undefined {
    const h = this.ladders.get(id)
    if (h === undefined || now - h.startedAt < this.warmupMs) return undefined
    const first = h.samples[0]
    const last = h.samples.at(-1)
    if (first === undefined || last === undefined || last.at - first.at < this.windowMs * 0.8) return undefined
    return (last.outTime - first.outTime) / ((last.at - first.at) / 1000)
  }

  /** CPU cores a ladder uses, measured over the window. */
  private ladderCores(id: string): number | undefined {
    const h = this.ladders.get(id)
    const first = h?.samples[0]
    const last = h?.samples.at(-1)
    if (first === undefined || last === undefined || last.at <= first.at) return undefined
    return (last.cpuMicros - first.cpuMicros) / 1000 / (last.at - first.at)
  }

  private boxBusy(): number | undefined {
    if (this.busy.length === 0) return undefined
    return this.busy.reduce((sum, b) => sum + b.value, 0) / this.busy.length
  }

  state(now: number): CapacityState {
    const behind = [...this.ladders.keys()].filter((id) => {
      const speed = this.speed(id, now)
      return speed !== undefined && speed < this.behindBelow
    })
    const busy = this.boxBusy()
    const out: CapacityState = {full: false, behind, ...(busy === undefined ? {} : {boxBusy: busy})}
    if (behind.length > 0) {
      out.full = true
      out.reason = `${behind.length} live ladder(s) behind realtime`
    } else if (busy !== undefined && busy > this.busyAbove) {
      out.full = true
      out.reason = `the box's CPU is ${Math.round(busy * 100)}% busy`
    }
    return out
  }

  /**
   * How many more ladders the box has room for, measured: the idle cores over what a running
   * ladder costs (undefined when none runs yet to measure by).
   */
  headroom(now: number): number | undefined {
    const costs = [...this.ladders.keys()].map((id) => this.ladderCores(id)).filter((c): c is number => c !== undefined && c > 0)
    const busy = this.boxBusy()
    if (costs.length === 0 || busy === undefined) return undefined
    if (this.state(now).full) return 0
    const perLadder = costs.reduce((a, b) => a + b, 0) / costs.length
    const idleCores = Math.max(0, (this.busyAbove - busy) * this.cores)
    return Math.floor(idleCores / perLadder)
  }

  /**
   * The one stream that should give up its top rendition now: some ladder is behind realtime, or
   * the box's CPU is saturated (every ladder is about to be); the last shed had time to take
   * effect; the stream keeps at least one rendition. Among the ladders behind (or, on a
   * saturated box, all of them), the one with the most renditions (then the slowest) goes first.
   */
  shedCandidate(now: number): string | undefined {
    if (now - this.lastShedAt < this.holdMs) return undefined
    const {behind, boxBusy} = this.state(now)
    const saturated = boxBusy !== undefined && boxBusy > this.overloadedAbove
    const pool = behind.length > 0 ? behind : saturated ? [...this.ladders.keys()].filter((id) => this.speed(id, now) !== undefined) : []
    const candidates = pool
      .map((id) => ({id, rungs: this.ladders.get(id)?.rungs ?? 0, speed: this.speed(id, now) ?? 1}))
      .filter((c) => c.rungs > 1)
      .sort((a, b) => b.rungs - a.rungs || a.speed - b.speed)
    return candidates[0]?.id
  }

  recordShed(now: number): void {
    this.lastShedAt = now
  }
}
