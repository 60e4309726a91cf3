/**
 * npm run bench:relay — viewers per CPU core of the Shing relay against node-media-server 4
 * (HTTP-FLV) in the same run, for one 3 Mbit/s 720p stream, at 100…1,600 viewers on 127.0.0.1.
 *
 * Each side runs as its own process; its CPU is read from /proc/<pid>/stat over a measurement
 * window, so the load clients (other processes) and the publisher do not count against it.
 * A viewer keeps up when it received ≥ --keep-up (0.98) of the stream's bytes of the window:
 * - HLS: the bytes of every segment the origin listed during the window, each counted when it was
 *   complete by the window's end + --grace seconds (a player's buffer);
 * - HTTP-FLV: the bytes ffmpeg sent to the server during the window (its -progress report).
 * A side's ladder stops at the first count where a viewer did not keep up. Viewers per core =
 * the largest count where all kept up / the cores the server used at that count.
 *
 *   npm run bench:relay -- [--viewers 100,200,400,800,1600] [--window 20] [--sides nms,shing]
 *                          [--soak <minutes>] [--soak-viewers N] …   (see `flags` below)
 */
import {randomBytes} from 'node:crypto'
import {readFile, writeFile} from 'node:fs/promises'
import {availableParallelism} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {Redis} from 'ioredis'
import YAML from 'yaml'

import {LIVE_PREFIX, RTMP_APP, secretFiles, streamStateKey, type StreamState} from '../appliance/contract/index.js'
import {repoRoot} from '../test/harness/cli.js'
import {freePort, startProcess, tempDir, waitFor} from '../test/harness/process.js'
import {startRedis} from '../test/harness/redis.js'
import {startMediaServer} from '../test/harness/rtmp.js'
import {LoadClients} from './lib/load-clients.js'
import {childPidByCommand, coresBetween, machineBusyBetween, sampleMachine, sampleProcess, type MachineSample, type ProcessSample} from './lib/proc-stats.js'
import {publishRtmp, startHlsOrigin, type HlsOrigin, type PublishedSegment} from './lib/publishers.js'
import type {ViewerMode} from './lib/relay-load-protocol.js'
import {ensureSourceClip, type SourceClip} from './lib/source-clip.js'

const {values: flags} = parseArgs({
  options: {
    viewers: {type: 'string', default: '100,200,400,800,1600'},
    /** Seconds measured per step, after the viewers joined and --warmup. */
    window: {type: 'string', default: '20'},
    warmup: {type: 'string', default: '4'},
    /** HLS: how late after the window a segment may complete and still count. */
    grace: {type: 'string', default: '3'},
    /** Viewers join at this many per second (and over at least one segment, 2 s). */
    'join-rate': {type: 'string', default: '200'},
    /** Load client processes. */
    clients: {type: 'string', default: '2'},
    /** Seconds after the ramp for every viewer to receive its first bytes. */
    'join-timeout': {type: 'string', default: '60'},
    sides: {type: 'string', default: 'nms,shing'},
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
const sides = (flags.sides ?? '').split(',').filter((s): s is SideName => s === 'shing' || s === 'nms')

type SideName = 'shing' | 'nms'
const CHANNEL = 'bench'
const NMS_KEY = 'bench'

interface Side {
  name: SideName
  label: string
  mode: ViewerMode
  url: string
  pid: number
  /** A window edge. FLV: the bytes the publisher had sent, taken as ffmpeg reports them. */
  edge(): Promise<{wall: number; sentBytes: number | undefined}>
  /** HLS: the segments the origin listed so far. */
  published(): readonly PublishedSegment[]
  /** Extra figures for the report (the origin's request counts). */
  notes(): string
  stop(): Promise<void>
}

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
  rssIdle: number
  rssStart: number
  rssEnd: number
  clientCores: number
  /** Cores everything else on the box used meanwhile (publisher, orchestrator, other work). */
  otherCores: number
  machineBusy: number
  failures: number
  /** HLS: segment complete at the viewer minus listed at the origin, p95 and max (ms). */
  lagP95Ms: number | undefined
  lagMaxMs: number | undefined
  error: string | undefined
}

const MB = 1024 * 1024
const fmt = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : '-')
const passed = (s: Step): boolean => s.joined && s.error === undefined && s.keptUp === s.viewers
const percentile = (values: number[], p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

function sampleAll(server: number, clients: number[]): {server: ProcessSample; clients: ProcessSample[]; machine: MachineSample} {
  return {server: sampleProcess(server), clients: clients.map(sampleProcess), machine: sampleMachine()}
}

async function startNms(clip: SourceClip): Promise<Side> {
  const server = await startMediaServer()
  try {
    const publisher = await publishRtmp(clip, server.rtmpUrl(RTMP_APP, NMS_KEY))
    await server.waitForPublish(RTMP_APP, NMS_KEY)
    return {
      name: 'nms',
      label: `${server.version} (HTTP-FLV)`,
      mode: 'flv',
      url: server.flvUrl(RTMP_APP, NMS_KEY),
      pid: childPidByCommand('node-media-server'),
      edge: async () => {
        const sentBytes = await publisher.nextSentBytes()
        return {wall: Date.now(), sentBytes}
      },
      published: () => [],
      notes: () => '',
      stop: async () => {
        await publisher.stop()
        await server.stop()
      },
    }
  } catch (error) {
    await server.stop()
    throw error
  }
}

async function startShing(clip: SourceClip): Promise<Side> {
  const password = randomBytes(12).toString('hex')
  const redis = await startRedis({password})
  const client = new Redis({port: redis.port, host: '127.0.0.1', password, maxRetriesPerRequest: 1})
  const secrets = await tempDir('bench-relay-secrets')
  let origin: HlsOrigin | undefined
  let refresh: NodeJS.Timeout | undefined
  const cleanup = async (): Promise<void> => {
    clearInterval(refresh)
    await origin?.stop()
    client.disconnect()
    await redis.stop()
    await secrets.remove()
  }
  try {
    await writeFile(path.join(secrets.dir, secretFiles.redisPassword), `${password}\n`, {mode: 0o600})
    const bandwidth = Math.round(clip.bitsPerSecond * 1.1)
    origin = await startHlsOrigin(clip, CHANNEL, bandwidth)
    // What the ingest holding the stream writes (and refreshes) in Redis.
    const state: StreamState = {
      channel: CHANNEL,
      streamId: `bench-${Date.now()}`,
      since: new Date().toISOString(),
      ingestId: 'bench-origin',
      origin: origin.origin,
      renditions: [{name: origin.rendition, height: 720, bandwidth}],
    }
    const writeState = (): Promise<unknown> => client.set(streamStateKey(CHANNEL), JSON.stringify(state), 'EX', 60)
    await writeState()
    refresh = setInterval(() => void writeState().catch(() => undefined), 20_000)

    const profile: unknown = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8'))
    const port = await freePort()
    const relay = await startProcess({
      name: 'appliance relay',
      command: process.execPath,
      args: [path.join(repoRoot, 'appliance/dist/main.js'), 'relay'],
      env: {
        PATH: process.env.PATH,
        // The relay never connects to MongoDB or S3; the environment schema only wants them named.
        SHING_MONGO_HOST: '127.0.0.1:9',
        SHING_S3_ENDPOINT: 'http://127.0.0.1:9',
        SHING_S3_BUCKET: 'unused',
        SHING_REDIS_HOST: `127.0.0.1:${redis.port}`,
        SHING_PUBLIC_URL: 'https://live.example.test',
        SHING_PUBLIC_HOST: 'live.example.test',
        SHING_PROFILE: JSON.stringify(profile),
        SHING_SECRETS_DIR: secrets.dir,
        SHING_BIND_HOST: '127.0.0.1',
        SHING_HTTP_PORT: String(port),
        SHING_TASK_NAME: 'bench-relay',
        SHING_RELAY_CACHE_MB: String(cacheMb),
      },
      ready: {probe: async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200},
      timeoutMs: 30_000,
    })
    const base = `http://127.0.0.1:${port}${LIVE_PREFIX}/${CHANNEL}/`
    const live = origin
    // Probed with a media object: a playlist request would count the probe as a viewer.
    await waitFor('the channel live at the relay', async () => (await fetch(`${base}${live.rendition}/init.mp4`)).status === 200, {timeoutMs: 10_000})
    return {
      name: 'shing',
      label: `shing relay (${cacheMb} MiB cache) <- ffmpeg HLS fMP4 origin`,
      mode: 'hls',
      url: base,
      pid: relay.pid,
      edge: async () => ({wall: Date.now(), sentBytes: undefined}),
      published: () => live.published(),
      notes: () => {
        const r = live.requests()
        return `origin requests: master=${r.master} playlist=${r.playlist} init=${r.init} segment=${r.segment} other=${r.other}`
      },
      stop: async () => {
        await relay.stop()
        await cleanup()
      },
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** HLS: what each viewer got of the window's segments, from the clients' receipts. */
function hlsRatios(segments: readonly PublishedSegment[], report: {bytes: number[]; doneAt: number[]}, viewers: number, deadline: number): {ratios: number[]; lags: number[]} {
  const total = segments.reduce((sum, s) => sum + s.bytes, 0)
  const ratios: number[] = []
  const lags: number[] = []
  for (let v = 0; v < viewers; v++) {
    let credited = 0
    segments.forEach((segment, j) => {
      const at = report.doneAt[v * segments.length + j] ?? -1
      if (at === -1) return
      lags.push(at - segment.publishedAt)
      if (at <= deadline) credited += Math.min(segment.bytes, report.bytes[v * segments.length + j] ?? 0)
    })
    ratios.push(total === 0 ? 0 : credited / total)
  }
  return {ratios, lags}
}

async function runStep(side: Side, viewers: number): Promise<Step> {
  const rssIdle = sampleProcess(side.pid).rssBytes
  const step: Step = {
    viewers, joined: false, joinSeconds: Number.NaN, joinCores: Number.NaN, keptUp: 0, minRatio: Number.NaN, streamBps: Number.NaN, deliveredBps: Number.NaN, serverCores: Number.NaN,
    rssIdle, rssStart: Number.NaN, rssEnd: Number.NaN, clientCores: Number.NaN, otherCores: Number.NaN, machineBusy: Number.NaN, failures: 0,
    lagP95Ms: undefined, lagMaxMs: undefined, error: undefined,
  }
  const joinStart = sampleProcess(side.pid)
  const clients = LoadClients.start({mode: side.mode, url: side.url, viewers, processes: clientProcesses, rampMs: rampSeconds(viewers) * 1000})
  try {
    try {
      await clients.ready((rampSeconds(viewers) + joinTimeoutSeconds) * 1000)
      step.joined = true
      step.joinSeconds = (performance.now() - joinStart.at) / 1000
    } catch (error) {
      step.joinCores = coresBetween(joinStart, sampleProcess(side.pid))
      const started = (await clients.snapshot().catch(() => ({bytes: []}))).bytes.filter((b) => b > 0).length
      step.error = `${started}/${viewers} viewers received anything: ${(error as Error).message}`
      return step
    }
    step.joinCores = coresBetween(joinStart, sampleProcess(side.pid))
    await sleep(warmupSeconds * 1000)
    const edge0 = await side.edge()
    const [snap0, s0] = [await clients.snapshot(), sampleAll(side.pid, clients.pids)]
    await sleep(windowSeconds * 1000)
    const edge1 = await side.edge()
    const [snap1, s1] = [await clients.snapshot(), sampleAll(side.pid, clients.pids)]
    const seconds = (s1.server.at - s0.server.at) / 1000
    step.serverCores = coresBetween(s0.server, s1.server)
    step.clientCores = s0.clients.reduce((sum, c, i) => sum + coresBetween(c, s1.clients[i] ?? c), 0)
    step.machineBusy = machineBusyBetween(s0.machine, s1.machine)
    step.otherCores = step.machineBusy * availableParallelism() - step.serverCores - step.clientCores
    step.rssStart = s0.server.rssBytes
    step.rssEnd = s1.server.rssBytes
    const received = snap1.bytes.map((b, i) => b - (snap0.bytes[i] ?? 0))
    step.deliveredBps = (received.reduce((a, b) => a + b, 0) * 8) / seconds
    let ratios: number[]
    if (side.mode === 'flv') {
      const sent = (edge1.sentBytes ?? 0) - (edge0.sentBytes ?? 0)
      step.streamBps = (sent * 8) / ((edge1.wall - edge0.wall) / 1000)
      ratios = received.map((r) => (sent === 0 ? 0 : r / sent))
    } else {
      const segments = side.published().filter((s) => s.publishedAt >= edge0.wall && s.publishedAt < edge1.wall)
      const deadline = edge1.wall + graceSeconds * 1000
      await sleep(Math.max(0, deadline - Date.now()))
      const report = await clients.report(segments.map((s) => s.n))
      step.streamBps = (segments.reduce((sum, s) => sum + s.bytes, 0) * 8) / ((edge1.wall - edge0.wall) / 1000)
      const result = hlsRatios(segments, report, viewers, deadline)
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
  }
}

const header = 'viewers  join-s  join-cores  kept-up  min-ratio  stream-Mbit/s  delivered-Gbit/s  server-cores  Gbit/s/core  viewers/core  rss-MiB idle>start>end  client-cores  other-cores  box-busy  failures  lag-p95/max-s'
function row(s: Step): string {
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
    fmt(s.clientCores).padStart(12),
    fmt(s.otherCores).padStart(11),
    `${fmt(s.machineBusy * 100, 0)}%`.padStart(8),
    String(s.failures).padStart(8),
    s.lagP95Ms === undefined ? '            -' : `${fmt(s.lagP95Ms / 1000, 1)}/${fmt((s.lagMaxMs ?? 0) / 1000, 1)}`.padStart(13),
  ]
  return `${cells.join('  ')}${s.error === undefined ? '' : `  (${s.error})`}${passed(s) ? '' : '  FAIL'}`
}

interface SideResult {
  side: SideName
  label: string
  steps: Step[]
  best: Step | undefined
}

async function runLadder(side: Side): Promise<SideResult> {
  console.log(`\n== ${side.name}: ${side.label}, pid ${side.pid}, viewers ${side.mode === 'hls' ? 'HLS players' : 'HTTP-FLV GETs'}`)
  console.log(header)
  const steps: Step[] = []
  for (const viewers of ladder) {
    const step = await runStep(side, viewers)
    steps.push(step)
    console.log(row(step))
    if (!passed(step)) break
  }
  const notes = side.notes()
  if (notes !== '') console.log(notes)
  const best = steps.filter(passed).at(-1)
  return {side: side.name, label: side.label, steps, best}
}

/** Holds `viewers` on the relay for `minutes`, printing its RSS every 10 s and keep-up every minute. */
async function soak(side: Side, viewers: number, minutes: number): Promise<void> {
  console.log(`\n== soak: ${viewers} viewers on ${side.name} for ${minutes} min (RSS every 10 s, keep-up per minute)`)
  const clients = LoadClients.start({mode: side.mode, url: side.url, viewers, processes: clientProcesses, rampMs: rampSeconds(viewers) * 1000})
  try {
    await clients.ready((rampSeconds(viewers) + joinTimeoutSeconds) * 1000)
    const start = performance.now()
    const rss: {minute: number; mb: number}[] = []
    let last = sampleAll(side.pid, clients.pids)
    let minutesOk = 0
    let minutesChecked = 0
    const endAt = start + minutes * 60_000
    for (let tick = 1; performance.now() < endAt; tick++) {
      await sleep(Math.max(0, start + tick * 10_000 - performance.now()))
      const now = sampleAll(side.pid, clients.pids)
      const minute = (now.server.at - start) / 60_000
      rss.push({minute, mb: now.server.rssBytes / MB})
      let line = `soak t=${fmt(minute * 60, 0)}s rss=${fmt(now.server.rssBytes / MB, 1)}MiB server-cores=${fmt(coresBetween(last.server, now.server), 3)} box-busy=${fmt(machineBusyBetween(last.machine, now.machine) * 100, 0)}%`
      last = now
      if (tick % 6 === 0 && side.mode === 'hls') {
        // The minute that ended --grace seconds ago: every segment must be complete at every viewer.
        const to = Date.now() - graceSeconds * 1000
        const segments = side.published().filter((s) => s.publishedAt >= to - 60_000 && s.publishedAt < to)
        const report = await clients.report(segments.map((s) => s.n))
        const {ratios} = hlsRatios(segments, report, viewers, Date.now())
        const ok = ratios.filter((r) => r >= keepUp).length
        minutesChecked++
        if (ok === viewers) minutesOk++
        line += ` kept-up=${ok}/${viewers} min-ratio=${fmt(Math.min(...ratios), 3)} failures-so-far=${report.failures}`
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

async function main(): Promise<void> {
  if (ladder.length === 0 || sides.length === 0) throw new Error('nothing to run: give --viewers and --sides (nms,shing)')
  const since = performance.now()
  const clip = await ensureSourceClip(number('clip-seconds', flags['clip-seconds']))
  console.log(`source: ${clip.file} (${fmt(clip.bitsPerSecond / 1e6)} Mbit/s incl. container, 720p30 x264 + AAC, GOP 2 s)${clip.encodedMs === undefined ? ' cached' : ` encoded in ${fmt(clip.encodedMs / 1000, 1)} s`}`)
  console.log(`ladder ${ladder.join(',')} viewers; window ${windowSeconds}s after ${warmupSeconds}s warm-up; keep-up >= ${keepUp}x; ${clientProcesses} client processes, viewers join at ${joinRate}/s; grace ${graceSeconds}s (HLS)`)
  const results: SideResult[] = []
  for (const name of sides) {
    const sideSince = performance.now()
    const side = name === 'nms' ? await startNms(clip) : await startShing(clip)
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
  const perCore = new Map<SideName, number>()
  for (const r of results) {
    if (r.best === undefined) {
      console.log(`relay: ${r.side} kept all viewers at no step (lowest ${ladder[0]})`)
      continue
    }
    const top = r.best.viewers === ladder.at(-1) ? ' (the top of the ladder: not saturated)' : ` (failed at ${r.steps.at(-1)?.viewers})`
    const vpc = r.best.viewers / r.best.serverCores
    perCore.set(r.side, vpc)
    console.log(`relay: ${r.side} kept ${r.best.viewers} viewers${top} with ${fmt(r.best.serverCores, 3)} cores: ${fmt(vpc, 0)} viewers/core, ${fmt(r.best.deliveredBps / 1e9 / r.best.serverCores)} Gbit/s per core, rss ${fmt(r.best.rssEnd / MB, 0)} MiB`)
  }
  console.log(`timing: total ${fmt((performance.now() - since) / 1000, 0)} s`)
  const shing = perCore.get('shing')
  const nms = perCore.get('nms')
  console.log(`relay: shing/nms viewers-per-core ratio=${shing === undefined || nms === undefined ? 'n/a' : fmt(shing / nms)}`)
}

await main()
// Sockets of stopped servers may keep handles open a moment; the benchmark is done.
process.exit(0)
