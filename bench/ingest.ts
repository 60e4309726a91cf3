/**
 * npm run bench:ingest — how many live ladders this box transcodes in parallel at ≥0.99× realtime
 * through Shing's path (LiveTranscode: the cpu-small ffmpeg ladder → fMP4 pipes → LL-HLS packager
 * in this Node process), against the same ffmpeg command run bare (same argv, its rendition pipes
 * on /dev/null, no Node reading them). A third side, ws, is the browser's path: each stream comes
 * as WebM over a WebSocket into the ingest's bridge (bench/lib-media/browser-publisher.ts), which
 * publishes it to RTMP, where Shing's ladder reads it; its ladder count goes against RTMP's.
 *
 * Both sides read the same N RTMP streams from node-media-server: N publishers loop one cached
 * 60 s 720p30 3 Mbit/s x264 + AAC clip with `-re -c copy` (bench/lib/source-clip.ts, shared with
 * bench:relay), which costs the box almost nothing next to the ladders. For N = 1, 2, 3, … each
 * side runs N ladders; after --warmup its speed is ffmpeg's written media time over wall time
 * across --window seconds (from -progress), per ladder. A side's max N is the largest N at which
 * every ladder held ≥ --realtime; the sides alternate which goes first at each N.
 *
 *   npm run bench:ingest -- [--max 6] [--window 20] [--warmup 10] [--realtime 0.99]
 */
import os from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {RTMP_APP} from '../appliance/contract/index.js'
import {LiveTranscode} from '../appliance/hls/live-transcode.js'
import {findProfile, loadProfiles} from '../src/hardware/profiles.js'
import {waitFor} from '../test/harness/process.js'
import {startMediaServer, type MediaServer} from '../test/harness/rtmp.js'
import {requireTool} from '../test/harness/tools.js'
import {coresBetween, machineBusyBetween, sampleMachine, sampleProcess} from './lib/proc-stats.js'
import {publishRtmp, type RtmpPublisher} from './lib/publishers.js'
import {ensureSourceClip} from './lib/source-clip.js'
import {BareLadder, type ProgressSample} from './lib-media/bare-ladder.js'
import {publishOverWebSocket, type BrowserPublisher} from './lib-media/browser-publisher.js'

const {values: flags} = parseArgs({
  options: {
    max: {type: 'string', default: '6'},
    window: {type: 'string', default: '20'},
    warmup: {type: 'string', default: '10'},
    realtime: {type: 'string', default: '0.99'},
  },
})
const maxLadders = Number(flags.max)
const windowMs = Number(flags.window) * 1000
const warmupMs = Number(flags.warmup) * 1000
const realtime = Number(flags.realtime)

type Side = 'ffmpeg' | 'shing' | 'ws'

/** One running ladder of either side, as the trial sees it. */
interface Ladder {
  pid: number
  samples: ProgressSample[]
  failure(): string | undefined
  stop(): Promise<void>
}

interface Trial {
  side: Side
  n: number
  /** Per ladder: media seconds per wall second over the window. */
  speeds: number[]
  /** CPU over the window: the ffmpeg processes together, and this Node process (the packagers). */
  ffmpegCores: number
  /** ws: the bridges' ffmpeg processes (WebM → RTMP), beside the ladders. */
  bridgeCores: number
  nodeCores: number
  machineBusy: number
  ok: boolean
}

const ffmpegPath = requireTool('ffmpeg')
const profile = findProfile(await loadProfiles(), 'cpu-small')

function startLadder(side: Side, input: string): Ladder {
  const samples: ProgressSample[] = []
  if (side === 'ffmpeg') {
    const bare = new BareLadder({profile, input, ffmpegPath})
    bare.on('progress', (s) => samples.push(s))
    return {
      pid: bare.pid!,
      samples,
      failure: () => (bare.hasExited ? `ffmpeg exited early:\n${bare.log}` : undefined),
      stop: () => bare.stop(),
    }
  }
  const transcode = new LiveTranscode({profile, input, ffmpegPath})
  transcode.on('progress', (p) => samples.push({at: performance.now(), outTime: p.outTime}))
  transcode.on('error', () => undefined) // read from transcode.error below
  return {
    pid: transcode.pid!,
    samples,
    failure: () => transcode.error?.message,
    stop: () => transcode.stop(),
  }
}

/** Written media time over wall time between the first reports at or after `from` and `to`. */
function speedBetween(samples: ProgressSample[], from: number, to: number): number {
  const a = samples.find((s) => s.at >= from)
  const b = samples.find((s) => s.at >= to)
  if (a === undefined || b === undefined || b.at <= a.at) return 0
  return (b.outTime - a.outTime) / ((b.at - a.at) / 1000)
}

async function runTrial(side: Side, inputs: string[], bridges: BrowserPublisher[] = []): Promise<Trial> {
  const ladders = inputs.map((input) => startLadder(side, input))
  try {
    await waitFor(`${side}: every ladder reporting progress`, async () => {
      const failed = ladders.map((l) => l.failure()).find((f) => f !== undefined)
      if (failed !== undefined) throw new Error(failed)
      return ladders.every((l) => l.samples.length > 0)
    }, {timeoutMs: 30_000})
    await sleep(warmupMs)
    const from = performance.now()
    const cpu0 = ladders.map((l) => sampleProcess(l.pid))
    const bridgePids = bridges.map((b) => b.bridgePid()).filter((pid): pid is number => pid !== undefined)
    const bridge0 = bridgePids.map((pid) => sampleProcess(pid))
    const node0 = process.cpuUsage()
    const machine0 = sampleMachine()
    await sleep(windowMs)
    const to = performance.now()
    const cpu1 = ladders.map((l) => sampleProcess(l.pid))
    const bridge1 = bridgePids.map((pid) => sampleProcess(pid))
    const node1 = process.cpuUsage(node0)
    const machine1 = sampleMachine()
    // The report that closes the window (one a second).
    await waitFor(`${side}: a progress report after the window`, async () => ladders.every((l) => (l.samples.at(-1)?.at ?? 0) >= to), {timeoutMs: 10_000})
    const failed = ladders.map((l) => l.failure()).find((f) => f !== undefined)
    if (failed !== undefined) throw new Error(`${side}: ${failed}`)
    const speeds = ladders.map((l) => speedBetween(l.samples, from, to))
    return {
      side,
      n: inputs.length,
      speeds,
      ffmpegCores: cpu0.reduce((sum, c0, i) => sum + coresBetween(c0, cpu1[i]!), 0),
      bridgeCores: bridge0.reduce((sum, c0, i) => sum + coresBetween(c0, bridge1[i]!), 0),
      nodeCores: (node1.user + node1.system) / 1e6 / ((to - from) / 1000),
      machineBusy: machineBusyBetween(machine0, machine1),
      ok: speeds.every((s) => s >= realtime),
    }
  } finally {
    await Promise.all(ladders.map((l) => l.stop()))
  }
}

async function main(): Promise<void> {
  const cpus = os.cpus()
  console.log(`bench:ingest — ${cpus.length} cores (${cpus[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`ladder cpu-small: ${profile.ladder.map((r) => `${r.name} ${r.videoKbps}k`).join(', ')} (${profile.encoder.videoArgs.join(' ')}); window ${windowMs / 1000} s after ${warmupMs / 1000} s warm-up; realtime ≥ ${realtime}`)
  const clip = await ensureSourceClip(60)
  console.log(`source: ${clip.file} (${(clip.bitsPerSecond / 1e6).toFixed(2)} Mbit/s${clip.encodedMs === undefined ? ', cached' : `, encoded now in ${(clip.encodedMs / 1000).toFixed(1)} s`})`)
  let nms: MediaServer | undefined
  const publishers: RtmpPublisher[] = []
  const best: Record<Side, number> = {ffmpeg: 0, shing: 0, ws: 0}
  const alive: Record<Side, boolean> = {ffmpeg: true, shing: true, ws: true}
  const top = {fps: profile.ladder[0]!.fps, videoKbps: profile.ladder[0]!.videoKbps, segmentSeconds: profile.hls.segmentSeconds}
  const trials: Trial[] = []
  try {
    nms = await startMediaServer()
    for (let n = 1; n <= maxLadders && (alive.ffmpeg || alive.shing || alive.ws); n++) {
      const inputs: string[] = []
      for (let i = 0; i < n; i++) inputs.push(nms.rtmpUrl(RTMP_APP, `ingest${i}`))
      while (publishers.length < n) {
        const key = `ingest${publishers.length}`
        publishers.push(await publishRtmp(clip, nms.rtmpUrl(RTMP_APP, key)))
        await nms.waitForPublish(RTMP_APP, key)
      }
      const order: Side[] = n % 2 === 1 ? ['ffmpeg', 'shing', 'ws'] : ['ws', 'shing', 'ffmpeg']
      for (const side of order) {
        if (!alive[side]) continue
        // The browser's path: N WebSocket publishers for this trial only (their recorders' Opus
        // encode would otherwise load the other sides' trials).
        const bridges: BrowserPublisher[] = []
        const wsInputs: string[] = []
        if (side === 'ws') {
          for (let i = 0; i < n; i++) {
            const key = `browser${n}-${i}`
            bridges.push(await publishOverWebSocket(clip, nms.rtmpUrl(RTMP_APP, key), top))
            await nms.waitForPublish(RTMP_APP, key)
            wsInputs.push(nms.rtmpUrl(RTMP_APP, key))
          }
        }
        const trial = await runTrial(side, side === 'ws' ? wsInputs : inputs, bridges).finally(() => Promise.all(bridges.map((b) => b.stop())))
        trials.push(trial)
        if (trial.ok) best[side] = n
        else alive[side] = false
        console.log(
          `N=${n} ${side.padEnd(6)}: speed ${trial.speeds.map((s) => s.toFixed(3)).join(' ')} → ${trial.ok ? 'realtime' : 'BEHIND'}; ` +
            `ffmpeg ${trial.ffmpegCores.toFixed(2)} cores (${(trial.ffmpegCores / n).toFixed(2)}/ladder)${side === 'ws' ? `, bridges ${trial.bridgeCores.toFixed(3)} cores` : ''}, node ${trial.nodeCores.toFixed(3)} cores; machine ${(trial.machineBusy * 100).toFixed(0)}% busy`,
        )
      }
    }
  } finally {
    await Promise.all(publishers.map((p) => p.stop()))
    await nms?.stop()
  }
  const at1 = (side: Side): Trial | undefined => trials.find((t) => t.side === side && t.n === 1)
  const bare1 = at1('ffmpeg')
  const shing1 = at1('shing')
  if (bare1 !== undefined && shing1 !== undefined) {
    const bareCost = bare1.ffmpegCores + bare1.nodeCores
    const shingCost = shing1.ffmpegCores + shing1.nodeCores
    console.log(`one ladder: ffmpeg ${bareCost.toFixed(2)} cores, shing ${shingCost.toFixed(2)} cores (ffmpeg ${shing1.ffmpegCores.toFixed(2)} + node ${shing1.nodeCores.toFixed(3)}) → shing ${shingCost >= bareCost ? '+' : ''}${((shingCost / bareCost - 1) * 100).toFixed(1)}%`)
  }
  const ws1 = at1('ws')
  if (ws1 !== undefined && shing1 !== undefined) {
    const rtmpCost = shing1.ffmpegCores + shing1.nodeCores
    const wsCost = ws1.ffmpegCores + ws1.bridgeCores + ws1.nodeCores
    console.log(`one broadcast: rtmp ${rtmpCost.toFixed(2)} cores, ws ${wsCost.toFixed(2)} cores (ladder ${ws1.ffmpegCores.toFixed(2)} + bridge ${ws1.bridgeCores.toFixed(3)} + node ${ws1.nodeCores.toFixed(3)}) → ws ${wsCost >= rtmpCost ? '+' : ''}${((wsCost / rtmpCost - 1) * 100).toFixed(1)}%`)
  }
  console.log(`max ladders at ≥${realtime}× realtime: ffmpeg ${best.ffmpeg}, shing ${best.shing}, ws ${best.ws}`)
  if (best.ffmpeg === 0 || best.shing === 0) throw new Error('the box cannot run even one ladder in realtime: no ratio to report')
  console.log(`ingest: ws/rtmp ratio=${(best.ws / best.shing).toFixed(2)}`)
  console.log(`ingest: shing/ffmpeg ratio=${(best.shing / best.ffmpeg).toFixed(2)}`)
}

await main()
