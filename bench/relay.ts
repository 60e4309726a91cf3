/**
 * npm run bench:relay — viewers per CPU core of the Shing relay against node-media-server 4
 * (HTTP-FLV) and bare nginx proxy_cache in the same run, for one 3 Mbit/s 720p stream, at
 * 100…1,600 viewers on 127.0.0.1; a fourth side puts the edge (Caddy, as templates/Caddyfile,
 * over TLS) in front of the relay, and a fifth sends the viewers to the relay's own TLS port
 * (ports.relayHttps), as the watch page does.
 *
 * nginx and the relay sit in front of the project's own LL-HLS packager (2 s segments, 0.5 s
 * parts), and their viewers follow the live edge as hls.js `lowLatencyMode` does: a blocking
 * reload for the next part, then that part. Each side's CPU and RSS are those of its processes and
 * their descendants (/proc, over a measurement window), so load clients and origin do not count.
 * A viewer keeps up when it received ≥ --keep-up (0.98) of the stream's bytes of the window:
 * - LL-HLS: every segment whose last part became available during the window, credited when all
 *   its parts were complete at the viewer by the window's end + --grace seconds;
 * - HTTP-FLV: the bytes ffmpeg sent to the server during the window (its -progress report).
 * Lag: a part available at the origin → complete at the viewer. A side's ladder stops at the first
 * count where a viewer did not keep up; viewers per core = the largest count where all kept up /
 * the cores the side used at that count. The last line's ratios compare the relay with another
 * side at the largest count both kept (their cores at that count); direct/edge is the edge's cores
 * over the direct TLS port's: what a site saves by sending viewers to the relays.
 *
 *   npm run bench:relay -- [--viewers 100,200,400,800,1600] [--window 20] [--sides nms,nginx,shing,edge,direct]
 *                          [--soak <minutes>] [--soak-viewers N] …   (see `flags` below)
 */
import {availableParallelism} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {LoadClients, type ViewerReport} from './lib/load-clients.js'
import {coresBetween, directoryBytes, machineBusyBetween, sampleMachine, sampleProcess, sampleTree, type MachineSample, type ProcessSample, type TreeSample} from './lib/proc-stats.js'
import type {OriginRequests, PublishedPart, PublishedSegment} from './lib/publishers.js'
import {sideNames, startDirect, startEdge, startNginx, startNms, startShing, type Side, type SideName} from './lib/relay-sides.js'
import {ensureSourceClip, type SourceClip} from './lib/source-clip.js'

const {values: flags} = parseArgs({
  options: {
    viewers: {type: 'string', default: '100,200,400,800,1600'},
    /** Seconds measured per step, after the viewers joined and --warmup. */
    window: {type: 'string', default: '20'},
    warmup: {type: 'string', default: '4'},
    /** LL-HLS: how late after the window a segment may complete and still count. */
    grace: {type: 'string', default: '3'},
    /** Viewers join at this many per second (and over at least one segment, 2 s). */
    'join-rate': {type: 'string', default: '200'},
    /** Load client processes. */
    clients: {type: 'string', default: '2'},
    /** Seconds after the ramp for every viewer to receive its first bytes. */
    'join-timeout': {type: 'string', default: '60'},
    sides: {type: 'string', default: sideNames.join(',')},
    'keep-up': {type: 'string', default: '0.98'},
    'cache-mb': {type: 'string', default: '32'},
    'clip-seconds': {type: 'string', default: '60'},
    /** Minutes to hold the relay's largest passing count afterwards, sampling its RSS every 10 s. */
    soak: {type: 'string', default: '0'},
    'soak-viewers': {type: 'string'},
  },
  strict: true,
})

const number = (name: string, text: string | undefined): number => {
  const value = Number(text)
  if (text === undefined || !Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got ${text}`)
  return value
}
const ladder = (flags.viewers ?? '').split(',').map((v) => number('viewers', v)).filter((v) => v > 0)
const windowSeconds = number('window', flags.window)
const warmupSeconds = number('warmup', flags.warmup)
const graceSeconds = number('grace', flags.grace)
const joinRate = number('join-rate', flags['join-rate'])
const rampSeconds = (viewers: number): number => Math.max(2, viewers / joinRate)
const clientProcesses = number('clients', flags.clients)
const joinTimeoutSeconds = number('join-timeout', flags['join-timeout'])
const keepUp = number('keep-up', flags['keep-up'])
const cacheMb = number('cache-mb', flags['cache-mb'])
const soakMinutes = number('soak', flags.soak)
const sides = (flags.sides ?? '').split(',').filter(Boolean).map((s) => {
  if (!(sideNames as readonly string[]).includes(s)) throw new Error(`--sides: no side ${s} (${sideNames.join(', ')})`)
  return s as SideName
})

interface Step {
  viewers: number
  /** Every viewer received its first bytes. */
  joined: boolean
  /** Seconds from the first viewer's start until every viewer had bytes. */
  joinSeconds: number
  /** Server cores while the viewers joined (until all had bytes, or the join timed out). */
  joinCores: number
  keptUp: number
  minRatio: number
  /** The stream's own rate over the window (the reference), bits/s. */
  streamBps: number
  deliveredBps: number
  serverCores: number
  /** The side's processes (with their descendants), in Side.processes order. */
  coresBy: number[]
  rssBy: number[]
  rssIdle: number
  rssStart: number
  rssEnd: number
  /** The side's tmpfs cache at the window's end. */
  cacheBytes: number | undefined
  clientCores: number
  /** Cores everything else on the box used meanwhile (origin, publisher, orchestrator, other work). */
  otherCores: number
  machineBusy: number
  failures: number
  /** LL-HLS: part complete at the viewer minus available at the origin, p95 and max (ms). */
  lagP95Ms: number | undefined
  lagMaxMs: number | undefined
  /** LL-HLS: what the origin was asked over the step (join, warm-up and window). */
  origin: OriginRequests | undefined
  error: string | undefined
}

const MB = 1024 * 1024
/** A blocking reload is held about a part (0.5 s) and nginx's cache lock is polled every 0.5 s. */
const SETTLE_MS = 2000
const fmt = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : '-')
const passed = (s: Step): boolean => s.joined && s.error === undefined && s.keptUp === s.viewers
const percentile = (values: number[], p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

interface Sample {
  server: TreeSample[]
  clients: ProcessSample[]
  machine: MachineSample
}

const sampleServer = (side: Side): TreeSample[] => side.processes.map((p) => sampleTree(p.pid))
const treeCores = (from: TreeSample[], to: TreeSample[]): number[] => from.map((f, i) => coresBetween(f, to[i] ?? f))
const sampleAll = (side: Side, clients: number[]): Sample => ({server: sampleServer(side), clients: clients.map(sampleProcess), machine: sampleMachine()})

/** LL-HLS: what each viewer got of the window's segments, and each part's lag, from the clients' receipts. */
function llhlsResults(segments: readonly PublishedSegment[], parts: readonly PublishedPart[], report: ViewerReport, viewers: number, deadline: number): {ratios: number[]; lags: number[]} {
  const total = sum(segments.map((s) => s.bytes))
  const ratios: number[] = []
  const lags: number[] = []
  for (let v = 0; v < viewers; v++) {
    let credited = 0
    segments.forEach((segment, j) => {
      const at = report.doneAt[v * segments.length + j] ?? -1
      if (at !== -1 && at <= deadline) credited += Math.min(segment.bytes, report.bytes[v * segments.length + j] ?? 0)
    })
    ratios.push(total === 0 ? 0 : credited / total)
    parts.forEach((part, j) => {
      const at = report.partDoneAt[v * parts.length + j] ?? -1
      if (at !== -1) lags.push(at - part.at)
    })
  }
  return {ratios, lags}
}

const startClients = (side: Side, viewers: number): LoadClients =>
  LoadClients.start({mode: side.mode, url: side.url, ...(side.connectTo === undefined ? {} : {connectTo: side.connectTo}), viewers, processes: clientProcesses, rampMs: rampSeconds(viewers) * 1000})

async function runStep(side: Side, viewers: number): Promise<Step> {
  const step: Step = {
    viewers, joined: false, joinSeconds: Number.NaN, joinCores: Number.NaN, keptUp: 0, minRatio: Number.NaN, streamBps: Number.NaN, deliveredBps: Number.NaN,
    serverCores: Number.NaN, coresBy: [], rssBy: [], rssIdle: sum(sampleServer(side).map((s) => s.rssBytes)), rssStart: Number.NaN, rssEnd: Number.NaN, cacheBytes: undefined,
    clientCores: Number.NaN, otherCores: Number.NaN, machineBusy: Number.NaN, failures: 0, lagP95Ms: undefined, lagMaxMs: undefined, origin: undefined, error: undefined,
  }
  const countRequests = side.origin?.countRequests()
  const joinStart = sampleServer(side)
  const clients = startClients(side, viewers)
  try {
    try {
      await clients.ready((rampSeconds(viewers) + joinTimeoutSeconds) * 1000)
      step.joined = true
      step.joinSeconds = (performance.now() - (joinStart[0]?.at ?? 0)) / 1000
    } catch (error) {
      step.joinCores = sum(treeCores(joinStart, sampleServer(side)))
      const started = (await clients.snapshot().catch(() => ({bytes: []}))).bytes.filter((b) => b > 0).length
      step.error = `${started}/${viewers} viewers received anything: ${(error as Error).message}`
      return step
    }
    step.joinCores = sum(treeCores(joinStart, sampleServer(side)))
    await sleep(warmupSeconds * 1000)
    const mark0 = await side.mark()
    const [snap0, s0] = [await clients.snapshot(), sampleAll(side, clients.pids)]
    await sleep(windowSeconds * 1000)
    const mark1 = await side.mark()
    const [snap1, s1] = [await clients.snapshot(), sampleAll(side, clients.pids)]
    step.origin = countRequests?.()
    const seconds = ((s1.server[0]?.at ?? 0) - (s0.server[0]?.at ?? 0)) / 1000
    step.coresBy = treeCores(s0.server, s1.server)
    step.serverCores = sum(step.coresBy)
    step.clientCores = sum(s0.clients.map((c, i) => coresBetween(c, s1.clients[i] ?? c)))
    step.machineBusy = machineBusyBetween(s0.machine, s1.machine)
    step.otherCores = step.machineBusy * availableParallelism() - step.serverCores - step.clientCores
    step.rssBy = s1.server.map((s) => s.rssBytes)
    step.rssStart = sum(s0.server.map((s) => s.rssBytes))
    step.rssEnd = sum(step.rssBy)
    if (side.cacheDir !== undefined) step.cacheBytes = directoryBytes(side.cacheDir)
    const received = snap1.bytes.map((b, i) => b - (snap0.bytes[i] ?? 0))
    step.deliveredBps = (sum(received) * 8) / seconds
    let ratios: number[]
    if (side.origin === undefined) {
      const sent = (mark1.sentBytes ?? 0) - (mark0.sentBytes ?? 0)
      step.streamBps = (sent * 8) / ((mark1.wall - mark0.wall) / 1000)
      ratios = received.map((r) => (sent === 0 ? 0 : r / sent))
    } else {
      const deadline = mark1.wall + graceSeconds * 1000
      await sleep(Math.max(0, deadline - Date.now()))
      const inWindow = (at: number): boolean => at >= mark0.wall && at < mark1.wall
      const segments = side.origin.published().filter((s) => inWindow(s.publishedAt))
      const parts = side.origin.parts().filter((p) => inWindow(p.at))
      const report = await clients.report(segments.map((s) => s.n), parts.map((p) => [p.msn, p.part]))
      step.streamBps = (sum(segments.map((s) => s.bytes)) * 8) / ((mark1.wall - mark0.wall) / 1000)
      const result = llhlsResults(segments, parts, report, viewers, deadline)
      ratios = result.ratios
      step.lagP95Ms = percentile(result.lags, 0.95)
      step.lagMaxMs = result.lags.length === 0 ? undefined : Math.max(...result.lags)
      if (segments.length === 0) step.error = 'no segment was published during the window'
    }
    step.failures = snap1.failures - snap0.failures
    step.keptUp = ratios.filter((r) => r >= keepUp).length
    step.minRatio = ratios.length === 0 ? Number.NaN : Math.min(...ratios)
    return step
  } catch (error) {
    step.error = (error as Error).message
    return step
  } finally {
    await clients.stop()
    // Requests of viewers just gone may still be held (at the origin, or on nginx's cache lock):
    // let them end before the next step counts.
    await sleep(SETTLE_MS)
  }
}

/** Requests per distinct object: init, segment, part, and blocking reloads per msn/part ('-': none asked). */
function perObject(origin: OriginRequests | undefined): string {
  if (origin === undefined) return '-'
  const ratio = ({requests, objects}: {requests: number; objects: number}): string => (objects === 0 ? '-' : fmt(requests / objects))
  return [origin.init, origin.segment, origin.part, origin.blocking].map(ratio).join('/')
}

const header =
  'viewers  join-s  join-cores  kept-up  min-ratio  stream-Mbit/s  delivered-Gbit/s  server-cores  Gbit/s/core  viewers/core  rss-MiB idle>start>end  tmpfs-MiB  client-cores  other-cores  box-busy  failures  lag-p95/max-s  origin-req/object init/seg/part/blocking'
function row(side: Side, s: Step): string {
  const cells = [
    String(s.viewers).padStart(7),
    fmt(s.joinSeconds, 1).padStart(6),
    fmt(s.joinCores, 3).padStart(10),
    `${s.keptUp}/${s.viewers}`.padStart(9),
    fmt(s.minRatio, 3).padStart(9),
    fmt(s.streamBps / 1e6).padStart(13),
    fmt(s.deliveredBps / 1e9, 3).padStart(16),
    fmt(s.serverCores, 3).padStart(12),
    fmt(s.deliveredBps / 1e9 / s.serverCores).padStart(11),
    fmt(s.viewers / s.serverCores, 0).padStart(12),
    `${fmt(s.rssIdle / MB, 0)}>${fmt(s.rssStart / MB, 0)}>${fmt(s.rssEnd / MB, 0)}`.padStart(22),
    (s.cacheBytes === undefined ? '-' : fmt(s.cacheBytes / MB, 1)).padStart(9),
    fmt(s.clientCores).padStart(12),
    fmt(s.otherCores).padStart(11),
    `${fmt(s.machineBusy * 100, 0)}%`.padStart(8),
    String(s.failures).padStart(8),
    (s.lagP95Ms === undefined ? '-' : `${fmt(s.lagP95Ms / 1000)}/${fmt((s.lagMaxMs ?? 0) / 1000)}`).padStart(13),
    perObject(s.origin).padStart(23),
  ]
  // A side of several processes: each one's share, so the edge's own cost can be read off.
  const split = side.processes.length > 1 && s.coresBy.length > 0 ? `  [${side.processes.map((p, i) => `${p.name} ${fmt(s.coresBy[i] ?? Number.NaN, 3)} cores ${fmt((s.rssBy[i] ?? Number.NaN) / MB, 0)} MiB`).join(', ')}]` : ''
  return `${cells.join('  ')}${split}${s.error === undefined ? '' : `  (${s.error})`}${passed(s) ? '' : '  FAIL'}`
}

interface SideResult {
  side: SideName
  processes: string[]
  steps: Step[]
  best: Step | undefined
}

async function runLadder(side: Side): Promise<SideResult> {
  const processes = side.processes.map((p) => `${p.name} ${p.pid} (+${sampleTree(p.pid).pids.length - 1} children)`).join(', ')
  console.log(`\n== ${side.name}: ${side.label}; pids ${processes}; viewers ${side.mode === 'llhls' ? 'LL-HLS players (blocking reloads, parts; one connection each)' : 'HTTP-FLV GETs'}`)
  console.log(header)
  const steps: Step[] = []
  for (const viewers of ladder) {
    const step = await runStep(side, viewers)
    steps.push(step)
    console.log(row(side, step))
    if (!passed(step)) break
  }
  if (side.origin !== undefined) {
    const totals = side.origin.totals()
    console.log(`origin requests in all: ${Object.entries(totals).map(([kind, n]) => `${kind}=${n}`).join(' ')}`)
  }
  return {side: side.name, processes: side.processes.map((p) => p.name), steps, best: steps.filter(passed).at(-1)}
}

/** Holds `viewers` on the relay for `minutes`, printing its RSS every 10 s and keep-up every minute. */
async function soak(side: Side, viewers: number, minutes: number): Promise<void> {
  console.log(`\n== soak: ${viewers} viewers on ${side.name} for ${minutes} min (RSS every 10 s, keep-up and lag per minute)`)
  const clients = startClients(side, viewers)
  try {
    await clients.ready((rampSeconds(viewers) + joinTimeoutSeconds) * 1000)
    const start = performance.now()
    const startWall = Date.now()
    const rss: {minute: number; mb: number}[] = []
    let last = sampleAll(side, clients.pids)
    let minutesOk = 0
    let minutesChecked = 0
    const endAt = start + minutes * 60_000
    for (let tick = 1; performance.now() < endAt; tick++) {
      await sleep(Math.max(0, start + tick * 10_000 - performance.now()))
      const now = sampleAll(side, clients.pids)
      const minute = (performance.now() - start) / 60_000
      const rssBytes = sum(now.server.map((s) => s.rssBytes))
      rss.push({minute, mb: rssBytes / MB})
      let line = `soak t=${fmt(minute * 60, 0)}s rss=${fmt(rssBytes / MB, 1)}MiB server-cores=${fmt(sum(treeCores(last.server, now.server)), 3)} box-busy=${fmt(machineBusyBetween(last.machine, now.machine) * 100, 0)}%`
      last = now
      if (tick % 6 === 0 && side.origin !== undefined) {
        // The minute that ended --grace seconds ago (from when all had joined): every segment must be complete at every viewer.
        const to = Date.now() - graceSeconds * 1000
        const inMinute = (at: number): boolean => at >= Math.max(to - 60_000, startWall) && at < to
        const segments = side.origin.published().filter((s) => inMinute(s.publishedAt))
        const parts = side.origin.parts().filter((p) => inMinute(p.at))
        const report = await clients.report(segments.map((s) => s.n), parts.map((p) => [p.msn, p.part]))
        const {ratios, lags} = llhlsResults(segments, parts, report, viewers, Date.now())
        const ok = ratios.filter((r) => r >= keepUp).length
        minutesChecked++
        if (ok === viewers) minutesOk++
        line += ` kept-up=${ok}/${viewers} min-ratio=${fmt(Math.min(...ratios), 3)} lag-p95=${fmt((percentile(lags, 0.95) ?? Number.NaN) / 1000)}s failures-so-far=${report.failures}`
      }
      console.log(line)
    }
    const afterFirst = rss.filter((r) => r.minute >= 1)
    const values = afterFirst.map((r) => r.mb)
    const first = afterFirst[0]
    const final = afterFirst.at(-1)
    if (first !== undefined && final !== undefined) {
      // The highest sample of each minute: a leak shows as peaks that keep rising, GC as a sawtooth.
      const peaks: number[] = []
      for (const r of rss) peaks[Math.floor(r.minute - 1e-9)] = Math.max(peaks[Math.floor(r.minute - 1e-9)] ?? 0, r.mb)
      console.log(`soak: rss after 1 min ${fmt(first.mb, 1)} MiB, at the end ${fmt(final.mb, 1)} MiB, min ${fmt(Math.min(...values), 1)} max ${fmt(Math.max(...values), 1)} MiB; peak per minute ${peaks.map((p) => fmt(p, 0)).join(' ')} MiB; all viewers kept up in ${minutesOk}/${minutesChecked} minutes`)
    }
  } finally {
    await clients.stop()
  }
}

function summary(r: SideResult): string {
  const best = r.best
  if (best === undefined) return `relay: ${r.side} kept all viewers at no step (lowest ${ladder[0]})`
  const top = best.viewers === ladder.at(-1) ? ' (the top of the ladder: not saturated)' : ` (failed at ${r.steps.at(-1)?.viewers})`
  const vpc = best.viewers / best.serverCores
  const tmpfs = best.cacheBytes === undefined ? '' : ` + ${fmt(best.cacheBytes / MB, 1)} MiB tmpfs`
  const lag = best.lagP95Ms === undefined ? '' : `, lag p95 ${fmt(best.lagP95Ms / 1000)} s max ${fmt((best.lagMaxMs ?? 0) / 1000)} s`
  const origin = best.origin === undefined ? '' : `, origin requests per object init/seg/part/blocking ${perObject(best.origin)}`
  let line = `relay: ${r.side} kept ${best.viewers} viewers${top} with ${fmt(best.serverCores, 3)} cores: ${fmt(vpc, 0)} viewers/core, ${fmt(best.deliveredBps / 1e9 / best.serverCores)} Gbit/s per core, rss ${fmt(best.rssEnd / MB, 0)} MiB${tmpfs}${lag}${origin}`
  if (r.processes.length > 1) {
    // Per 1,000 viewers: what each part of the pair costs (the edge's own share is the note's figure).
    const shares = r.processes.map((name, i) => `${name} ${fmt(((best.coresBy[i] ?? Number.NaN) * 1000) / best.viewers, 3)} cores (${fmt((best.rssBy[i] ?? Number.NaN) / MB, 0)} MiB)`)
    line += `; per 1,000 viewers: ${shares.join(', ')}`
  }
  return line
}

const starters: Record<SideName, (clip: SourceClip, cacheMb: number) => Promise<Side>> = {nms: startNms, nginx: startNginx, shing: startShing, edge: startEdge, direct: startDirect}

async function main(): Promise<void> {
  if (ladder.length === 0 || sides.length === 0) throw new Error(`nothing to run: give --viewers and --sides (${sideNames.join(',')})`)
  const since = performance.now()
  const clip = await ensureSourceClip(number('clip-seconds', flags['clip-seconds']))
  console.log(`source: ${clip.file} (${fmt(clip.bitsPerSecond / 1e6)} Mbit/s incl. container, 720p30 x264 + AAC, GOP 2 s)${clip.encodedMs === undefined ? ' cached' : ` encoded in ${fmt(clip.encodedMs / 1000, 1)} s`}`)
  console.log(`ladder ${ladder.join(',')} viewers; window ${windowSeconds}s after ${warmupSeconds}s warm-up; keep-up >= ${keepUp}x; ${clientProcesses} client processes, viewers join at ${joinRate}/s; grace ${graceSeconds}s (LL-HLS)`)
  const results: SideResult[] = []
  for (const name of sides) {
    const sideSince = performance.now()
    const side = await starters[name](clip, cacheMb)
    console.log(`timing: ${name} up in ${fmt((performance.now() - sideSince) / 1000, 1)} s`)
    try {
      const result = await runLadder(side)
      results.push(result)
      if (name === 'shing' && soakMinutes > 0) {
        const viewers = flags['soak-viewers'] === undefined ? result.best?.viewers : number('soak-viewers', flags['soak-viewers'])
        if (viewers === undefined) console.log('soak: skipped, the relay kept no step of the ladder')
        else await soak(side, viewers, soakMinutes)
      }
    } finally {
      await side.stop()
    }
  }
  console.log('')
  for (const r of results) console.log(summary(r))
  console.log(`timing: total ${fmt((performance.now() - since) / 1000, 0)} s`)
  // Compared at the largest count both sides kept: on a small box the load clients may saturate
  // it before a server does, and one side's best step would then be another side's failed one.
  const ratio = (side: SideName, over: SideName): string => {
    const passedSteps = (name: SideName): Step[] => results.find((r) => r.side === name)?.steps.filter(passed) ?? []
    const other = passedSteps(over)
    const common = passedSteps(side).filter((s) => other.some((o) => o.viewers === s.viewers)).at(-1)
    const theirs = other.find((o) => o.viewers === common?.viewers)
    if (common === undefined || theirs === undefined) return 'n/a'
    console.log(`relay: ${side} against ${over} at ${common.viewers} viewers: ${fmt(common.serverCores, 3)} against ${fmt(theirs.serverCores, 3)} cores`)
    return fmt(theirs.serverCores / common.serverCores)
  }
  // direct/edge: what sending viewers to the relay's TLS port saves over sending them through the edge.
  if (sides.includes('direct') && sides.includes('edge')) console.log(`relay: direct/edge ratio=${ratio('direct', 'edge')}`)
  const [nginxRatio, nmsRatio] = [ratio('shing', 'nginx'), ratio('shing', 'nms')]
  console.log(`relay: shing/nginx ratio=${nginxRatio} shing/nms ratio=${nmsRatio}`)
}

await main()
// Sockets of stopped servers may keep handles open a moment; the benchmark is done.
process.exit(0)
