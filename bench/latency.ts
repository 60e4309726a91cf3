/**
 * npm run bench:latency — glass-to-glass latency of the live path, measured in Chromium.
 *
 * A publisher (bench/lib-media/flash-publisher.ts) pushes a dark 720p30 video over RTMP to
 * node-media-server as OBS would, flashing a numbered white frame once a second and noting the
 * wall-clock instant each flash entered its encoder. LiveTranscode (cpu-small ladder) reads the
 * stream back and our LL-HLS packager serves it over HTTP on 127.0.0.1. hls.js plays it in
 * Chromium; requestVideoFrameCallback draws every presented frame onto a small canvas, and a
 * white frame's number is read from its block band. Latency = presentation time − flash time,
 * both on this machine's clock (the page's performance.timeOrigin + presentationTime).
 *
 * Three paths in, one after the other: RTMP as OBS sends it; ws, the Go-live page's: the same
 * encoder writing Matroska (H.264 + Opus, as Chromium's MediaRecorder) over a WebSocket into the
 * ingest's bridge (bench/lib-media/browser-publisher.ts), which publishes it to RTMP; and whip: a
 * Chromium page drawing the same frames on a canvas sends them over WebRTC to a mediasoup router,
 * whose plain RTP goes to the ingest's WHIP bridge ffmpeg (H.264 copied, Opus to AAC), which
 * publishes to RTMP (bench/lib-media/whip-publisher.ts).
 *
 * Two players on the RTMP path, one after the other, on the same stream and packager (ws: ll-hls):
 * - ll-hls: hls.js lowLatencyMode, catching up at up to 1.5× (parts, blocking reload);
 * - hls: lowLatencyMode off (whole segments, hls.js's default 3-segment live sync).
 * Once playing, a player holds a steady offset, so every flash of one page load shows nearly the
 * same latency; where it settles depends on when it joined. Each mode therefore loads the page
 * --sessions times and counts --samples flashes across them, after --warmup seconds of each.
 *
 * And one path out besides LL-HLS: whep, real-time playback through the real components (an
 * ingest, an SFU process, the web; see measureWhep), the page playing over WebRTC.
 *
 *   npm run bench:latency -- [--samples 21] [--sessions 3] [--warmup 8] [--paths rtmp,ws,whip,whep]
 * Last line: latency: ll-hls p50=<s> p95=<s> hls p50=<s> ws p50=<s> ws p95=<s> whip p50=<s> whip p95=<s> whep p50=<s> whep p95=<s>
 */
import {once} from 'node:events'
import {createServer, type Server} from 'node:http'
import {setTimeout as sleep} from 'node:timers/promises'
import os from 'node:os'
import {parseArgs} from 'node:util'

import type {Page} from 'playwright-core'

import {MONGO_DATABASE, realtimeKey, RTMP_APP, type HardwareProfile} from '../appliance/contract/index.js'
import {LiveTranscode} from '../appliance/hls/live-transcode.js'
import {findProfile, loadProfiles} from '../src/hardware/profiles.js'
import {launchChromium, type RunningChromium} from '../test/harness/chromium.js'
import {startLiveSite} from '../test/harness/live-site.js'
import {freePort, waitFor} from '../test/harness/process.js'
import {startMediaServer, type MediaServer} from '../test/harness/rtmp.js'
import {requireTool} from '../test/harness/tools.js'
import {FRAME_HEIGHT, FRAME_WIDTH, ID_BAND, ID_BITS, startFlashPublisher, type FlashPublisher} from './lib-media/flash-publisher.js'
import {servePackager, type PackagerServer} from './lib-media/packager-server.js'
import {webSocketIngest, type BrowserPublisher} from './lib-media/browser-publisher.js'
import {startWhipPublisher, type WhipPublisher} from './lib-media/whip-publisher.js'

const {values: flags} = parseArgs({
  options: {
    /** Flashes measured per player mode, after the warm-up. */
    samples: {type: 'string', default: '21'},
    /** Page loads per mode; the samples are split evenly across them. */
    sessions: {type: 'string', default: '3'},
    /** Seconds of playback before flashes count: hls.js settles on its live offset. */
    warmup: {type: 'string', default: '8'},
    /** Which paths to measure (the last line names only those). */
    paths: {type: 'string', default: 'rtmp,ws,whip,whep'},
  },
})
const samplesWanted = Number(flags.samples)
const sessions = Number(flags.sessions)
const perSession = Math.ceil(samplesWanted / sessions)
const warmupMs = Number(flags.warmup) * 1000

type Mode = 'll-hls' | 'hls' | 'whep'
const hlsConfigs: Record<Exclude<Mode, 'whep'>, Record<string, unknown>> = {
  'll-hls': {lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5},
  hls: {lowLatencyMode: false},
}

// The canvas is the frame at 1/10: the id band's blocks are 16 px wide, its rows 60…68.
const SCALE = 10
/** Reads each presented frame of #v: a white frame's number, and when it was presented. */
const detect = `
  const video = document.getElementById('v')
  const w = ${FRAME_WIDTH / SCALE}, h = ${FRAME_HEIGHT / SCALE}
  const canvas = new OffscreenCanvas(w, h)
  const ctx = canvas.getContext('2d', {willReadFrequently: true})
  window.flashes = []
  window.errors = []
  window.frames = 0
  window.latencies = []
  const seen = new Set()
  const luma = (px, x, y) => px[(y * w + x) * 4]
  const onFrame = (now, meta) => {
    window.frames++
    ctx.drawImage(video, 0, 0, w, h)
    const px = ctx.getImageData(0, 0, w, h).data
    let sum = 0, n = 0
    for (let y = 4; y < ${ID_BAND.top / SCALE - 4}; y += 6) for (let x = 4; x < w; x += 8) { sum += luma(px, x, y); n++ }
    if (sum / n > 180) {
      const block = w / ${ID_BITS}, row = ${Math.round((ID_BAND.top + ID_BAND.bottom) / 2 / SCALE)}
      let id = 0
      for (let bit = 0; bit < ${ID_BITS}; bit++) if (luma(px, Math.round(bit * block + block / 2), row) > 128) id |= 1 << bit
      if (!seen.has(id)) {
        seen.add(id)
        window.flashes.push({id, at: performance.timeOrigin + meta.presentationTime, callbackAt: performance.timeOrigin + now})
      }
    }
    video.requestVideoFrameCallback(onFrame)
  }
  video.requestVideoFrameCallback(onFrame)`
const page = `<!doctype html>
<video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script>
<script>
  const config = JSON.parse(decodeURIComponent(location.hash.slice(1)))
${detect}
  const hls = new Hls(config)
  window.hls = hls
  hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.errors.push(data.type + ': ' + data.details) })
  hls.loadSource('/live/bench/master.m3u8')
  hls.attachMedia(video)
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play())
  // hls.js's own estimate of the distance to the live edge, for comparison.
  setInterval(() => { if (video.currentTime > 0) window.latencies.push(hls.latency) }, 1000)
</script>`
/** The channel page's real-time player, reduced: a WHEP offer to the web, the answer, the stream in #v. */
const whepPage = `<!doctype html>
<video id="v" muted autoplay playsinline></video>
<script>
  const config = JSON.parse(decodeURIComponent(location.hash.slice(1)))
${detect}
  ;(async () => {
    const pc = new RTCPeerConnection()
    pc.addTransceiver('video', {direction: 'recvonly'})
    pc.addTransceiver('audio', {direction: 'recvonly'})
    const stream = new MediaStream()
    pc.ontrack = (event) => { stream.addTrack(event.track); video.srcObject = stream; video.play() }
    pc.onconnectionstatechange = () => { if (pc.connectionState === 'failed') window.errors.push('connection failed') }
    await pc.setLocalDescription(await pc.createOffer())
    const response = await fetch(config.whep, {method: 'POST', headers: {'content-type': 'application/sdp'}, body: pc.localDescription.sdp})
    const text = await response.text()
    if (response.status !== 201) { window.errors.push(response.status + ' ' + text); return }
    await pc.setRemoteDescription({type: 'answer', sdp: text})
    window.pc = pc
  })().catch((error) => window.errors.push(String(error)))
  setInterval(() => { if (video.currentTime > 0) window.latencies.push(0) }, 1000)
</script>`

interface Detection {
  id: number
  at: number
  callbackAt: number
}

interface ModeResult {
  mode: Mode
  latenciesMs: number[]
  /** Detections whose number matched no flash sent, or gave an implausible latency. */
  unmatched: number
  /** Flashes sent during the window that the player never showed (dropped or skipped). */
  missed: number
  hlsJsLatencyS: number
  droppedFrames: number
  totalFrames: number
  errors: string[]
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN
const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 0.5)
const seconds = (ms: number): string => (ms / 1000).toFixed(2)

/** The player page of a mode: hls.js with its settings, or the WHEP player with the URL to offer to. */
const playerUrl = (base: string, mode: Mode, whep?: string): string =>
  mode === 'whep' ? `${base}/whep.html#${encodeURIComponent(JSON.stringify({whep}))}` : `${base}/player.html#${encodeURIComponent(JSON.stringify(hlsConfigs[mode]))}`

async function measure(chromium: RunningChromium, url: string, mode: Mode, publisher: {flashes: Map<number, number>}, samplesWanted: number): Promise<ModeResult> {
  const tab: Page = await chromium.newPage()
  try {
    await tab.goto(url)
    await tab.waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).currentTime > 0, undefined, {timeout: 30_000})
    const countFrom = Date.now() + warmupMs
    const read = (): Promise<{flashes: Detection[]; errors: string[]}> =>
      tab.evaluate(() => {
        const w = window as unknown as {flashes: Detection[]; errors: string[]}
        return {flashes: w.flashes, errors: w.errors}
      })
    const counted = (detections: Detection[]): {latenciesMs: number[]; unmatched: number} => {
      const latenciesMs: number[] = []
      let unmatched = 0
      for (const d of detections) {
        const sent = publisher.flashes.get(d.id)
        if (sent === undefined || d.at - sent < 0 || d.at - sent > 60_000) unmatched++
        else if (sent >= countFrom) latenciesMs.push(d.at - sent)
      }
      return {latenciesMs, unmatched}
    }
    // Enough flashes, or the time they would take plus a generous margin.
    const deadline = countFrom + samplesWanted * 1000 + 30_000
    let state = await read()
    while (counted(state.flashes).latenciesMs.length < samplesWanted && Date.now() < deadline && state.errors.length === 0) {
      await sleep(500)
      state = await read()
    }
    const {latenciesMs, unmatched} = counted(state.flashes)
    const lastCounted = Math.max(...state.flashes.map((d) => publisher.flashes.get(d.id) ?? 0))
    const sentInWindow = [...publisher.flashes.values()].filter((at) => at >= countFrom && at <= lastCounted).length
    const player = await tab.evaluate(() => {
      const v = document.getElementById('v') as HTMLVideoElement
      const q = v.getVideoPlaybackQuality()
      return {latencies: (window as unknown as {latencies: number[]}).latencies, dropped: q.droppedVideoFrames, total: q.totalVideoFrames}
    })
    return {
      mode,
      latenciesMs,
      unmatched,
      missed: Math.max(0, sentInWindow - latenciesMs.length),
      hlsJsLatencyS: median(player.latencies.slice(Math.floor(warmupMs / 1000))),
      droppedFrames: player.dropped,
      totalFrames: player.total,
      errors: state.errors,
    }
  } finally {
    await tab.close()
  }
}

/** The page's clock against ours: both should read the same wall clock. */
async function clockSkewMs(chromium: RunningChromium, base: string): Promise<number> {
  const tab = await chromium.newPage()
  try {
    await tab.goto(`${base}/blank.html`)
    const before = Date.now()
    const theirs = await tab.evaluate(() => performance.timeOrigin + performance.now())
    const after = Date.now()
    return theirs - (before + after) / 2
  } finally {
    await tab.close()
  }
}

/** Where the flash publisher's stream enters: RTMP as OBS sends it, the Go-live page's WebSocket, or WHIP (WebRTC through the SFU). */
type Path = 'rtmp' | 'ws' | 'whip'

/** One path end to end (publisher → ingest → ladder → packager → Chromium), each of its modes measured. */
async function measurePath(path: Path, profile: HardwareProfile, modes: readonly Mode[]): Promise<ModeResult[]> {
  let nms: MediaServer | undefined
  let publisher: FlashPublisher | WhipPublisher | undefined
  let ingest: BrowserPublisher | undefined
  let encoderBrowser: RunningChromium | undefined
  let transcode: LiveTranscode | undefined
  let server: PackagerServer | undefined
  let chromium: RunningChromium | undefined
  const results: ModeResult[] = []
  try {
    nms = await startMediaServer()
    const url = nms.rtmpUrl(RTMP_APP, 'bench')
    if (path === 'ws') {
      // The encoder's Matroska goes over a WebSocket into the ingest's bridge, which publishes it to RTMP.
      const top = {fps: profile.ladder[0]!.fps, videoKbps: profile.ladder[0]!.videoKbps, segmentSeconds: profile.hls.segmentSeconds}
      const bridge = await webSocketIngest(url, top)
      ingest = bridge
      publisher = await startFlashPublisher({url: bridge.url, format: 'matroska'})
    } else if (path === 'whip') {
      // The encoder is a browser of its own (as on a streamer's machine), sending WebRTC to the SFU's router.
      encoderBrowser = await launchChromium()
      const top = {fps: profile.ladder[0]!.fps, videoKbps: profile.ladder[0]!.videoKbps, height: profile.ladder[0]!.height, segmentSeconds: profile.hls.segmentSeconds}
      const whip = await startWhipPublisher(encoderBrowser, url, top)
      console.log(`whip: the page sends ${whip.codec}`)
      publisher = whip
    } else {
      publisher = await startFlashPublisher({url})
    }
    await nms.waitForPublish(RTMP_APP, 'bench')
    transcode = new LiveTranscode({profile, input: url, ffmpegPath: requireTool('ffmpeg')})
    const speeds: number[] = []
    transcode.on('progress', (p) => speeds.push(p.speed))
    transcode.on('error', (error) => console.error(`transcode: ${error.message}`))
    const packager = transcode.packager
    server = await servePackager(packager, {'/player.html': page, '/blank.html': '<!doctype html>'})
    await waitFor('two segments in every rendition', async () => packager.renditions.every((r) => packager.segments(r.name).length >= 2), {timeoutMs: 30_000})
    chromium = await launchChromium()
    console.log(`${path}: chromium ${chromium.version}, page clock − node clock: ${(await clockSkewMs(chromium, server.base)).toFixed(1)} ms`)

    for (const mode of modes) {
      const runs: ModeResult[] = []
      for (let session = 0; session < sessions; session++) runs.push(await measure(chromium, playerUrl(server.base, mode), mode, publisher, perSession))
      const result: ModeResult = {
        mode,
        latenciesMs: runs.flatMap((r) => r.latenciesMs),
        unmatched: runs.reduce((n, r) => n + r.unmatched, 0),
        missed: runs.reduce((n, r) => n + r.missed, 0),
        hlsJsLatencyS: median(runs.map((r) => r.hlsJsLatencyS)),
        droppedFrames: runs.reduce((n, r) => n + r.droppedFrames, 0),
        totalFrames: runs.reduce((n, r) => n + r.totalFrames, 0),
        errors: runs.flatMap((r) => r.errors),
      }
      results.push(result)
      const sorted = [...result.latenciesMs].sort((a, b) => a - b)
      console.log(
        `${path} ${mode}: n=${sorted.length} p50=${seconds(percentile(sorted, 0.5))} p95=${seconds(percentile(sorted, 0.95))} ` +
          `min=${seconds(sorted[0] ?? Number.NaN)} max=${seconds(sorted.at(-1) ?? Number.NaN)} s; ` +
          `hls.js live-edge latency ${result.hlsJsLatencyS.toFixed(2)} s; missed ${result.missed}, unmatched ${result.unmatched}; ` +
          `dropped frames ${result.droppedFrames}/${result.totalFrames}${result.errors.length > 0 ? `; errors: ${result.errors.join(', ')}` : ''}`,
      )
      for (const [i, run] of runs.entries()) console.log(`  ${path} ${mode} load ${i + 1} (s): ${run.latenciesMs.map(seconds).join(' ')}`)
    }
    const tail = speeds.slice(-30)
    console.log(`${path}: ladder speed (last ${tail.length} s): min ${Math.min(...tail).toFixed(3)}x; publisher frame lag max ${publisher.maxLagMs().toFixed(0)} ms; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    if (transcode.error !== undefined) throw transcode.error
  } finally {
    const step = async (what: string, stop: (() => Promise<void>) | undefined): Promise<void> => {
      const since = Date.now()
      await stop?.()
      console.error(`stopped ${what} in ${Date.now() - since} ms`)
    }
    await step('chromium', chromium?.close)
    await step('transcode', transcode === undefined ? undefined : () => transcode!.stop())
    await step('server', server?.close)
    await step('publisher', publisher?.stop)
    await step('encoder chromium', encoderBrowser?.close)
    await step('websocket bridge', ingest?.stop)
    await step('nms', nms?.stop)
  }
  for (const r of results) {
    if (r.errors.length > 0) throw new Error(`${path} ${r.mode}: hls.js failed: ${r.errors.join(', ')}`)
    if (r.latenciesMs.length < samplesWanted) throw new Error(`${path} ${r.mode}: only ${r.latenciesMs.length} flashes detected (wanted ${samplesWanted})`)
  }
  return results
}

/**
 * WHEP through the real components (test/harness/live-site.ts): the flash publisher's RTMP into an
 * ingest whose channel has real time on; its ladder sends the top rendition and Opus to a real SFU
 * process; a page offers WHEP to the web and plays over WebRTC. Glass-to-glass as for LL-HLS.
 */
async function measureWhep(): Promise<ModeResult> {
  const site = await startLiveSite()
  let publisher: FlashPublisher | undefined
  let chromium: RunningChromium | undefined
  let server: Server | undefined
  try {
    await Promise.all([site.start('web'), site.start('ingest'), site.start('sfu-a')])
    const key = await site.streamKey('bench')
    await site.mongoClient.db(MONGO_DATABASE).collection('channels').updateOne({name: 'bench'}, {$set: {realtime: true}})
    publisher = await startFlashPublisher({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/${RTMP_APP}/${key}`})
    await waitFor('the real-time tracks on the SFU', async () => ((await site.client.exists(realtimeKey('bench'))) === 1 ? true : undefined), {timeoutMs: 60_000, intervalMs: 500})
    const port = await freePort()
    server = createServer((req, res) => {
      if (req.url === '/whep.html') res.writeHead(200, {'content-type': 'text/html; charset=utf-8'}).end(whepPage)
      else if (req.url === '/blank.html') res.writeHead(200, {'content-type': 'text/html; charset=utf-8'}).end('<!doctype html>')
      else res.writeHead(404).end()
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const base = `http://127.0.0.1:${port}`
    chromium = await launchChromium()
    console.log(`whep: chromium ${chromium.version}, page clock − node clock: ${(await clockSkewMs(chromium, base)).toFixed(1)} ms`)
    const whep = `http://127.0.0.1:${site.get('web').httpPort}/whep/bench`
    const runs: ModeResult[] = []
    for (let session = 0; session < sessions; session++) runs.push(await measure(chromium, playerUrl(base, 'whep', whep), 'whep', publisher, perSession))
    const result: ModeResult = {
      mode: 'whep',
      latenciesMs: runs.flatMap((r) => r.latenciesMs),
      unmatched: runs.reduce((n, r) => n + r.unmatched, 0),
      missed: runs.reduce((n, r) => n + r.missed, 0),
      hlsJsLatencyS: Number.NaN,
      droppedFrames: runs.reduce((n, r) => n + r.droppedFrames, 0),
      totalFrames: runs.reduce((n, r) => n + r.totalFrames, 0),
      errors: runs.flatMap((r) => r.errors),
    }
    const sorted = [...result.latenciesMs].sort((a, b) => a - b)
    console.log(
      `whep: n=${sorted.length} p50=${seconds(percentile(sorted, 0.5))} p95=${seconds(percentile(sorted, 0.95))} min=${seconds(sorted[0] ?? Number.NaN)} max=${seconds(sorted.at(-1) ?? Number.NaN)} s; ` +
        `missed ${result.missed}, unmatched ${result.unmatched}; dropped frames ${result.droppedFrames}/${result.totalFrames}${result.errors.length > 0 ? `; errors: ${result.errors.join(', ')}` : ''}`,
    )
    for (const [i, run] of runs.entries()) console.log(`  whep load ${i + 1} (s): ${run.latenciesMs.map(seconds).join(' ')}`)
    console.log(`whep: publisher frame lag max ${publisher.maxLagMs().toFixed(0)} ms; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    if (result.errors.length > 0) throw new Error(`whep: the player failed: ${result.errors.join(', ')}`)
    if (result.latenciesMs.length < samplesWanted) throw new Error(`whep: only ${result.latenciesMs.length} flashes detected (wanted ${samplesWanted})`)
    return result
  } finally {
    await chromium?.close().catch(() => undefined)
    await publisher?.stop().catch(() => undefined)
    server?.close()
    await site.stop()
  }
}

async function main(): Promise<void> {
  const profile = findProfile(await loadProfiles(), 'cpu-small')
  console.log(`bench:latency — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`profile cpu-small: ${profile.ladder.map((r) => r.name).join('/')}, segments ${profile.hls.segmentSeconds} s, parts ${profile.hls.partSeconds} s`)
  // One path at a time: the two pipelines would share the box's two cores.
  const paths = new Set(flags.paths.split(','))
  const p = (results: ModeResult[], mode: Mode, q: number): string => seconds(percentile([...results.find((r) => r.mode === mode)!.latenciesMs].sort((a, b) => a - b), q))
  const line: string[] = []
  if (paths.has('rtmp')) {
    const rtmp = await measurePath('rtmp', profile, ['ll-hls', 'hls'])
    line.push(`ll-hls p50=${p(rtmp, 'll-hls', 0.5)} p95=${p(rtmp, 'll-hls', 0.95)} hls p50=${p(rtmp, 'hls', 0.5)}`)
  }
  for (const path of ['ws', 'whip'] as const) {
    if (!paths.has(path)) continue
    const results = await measurePath(path, profile, ['ll-hls'])
    line.push(`${path} p50=${p(results, 'll-hls', 0.5)} ${path} p95=${p(results, 'll-hls', 0.95)}`)
  }
  if (paths.has('whep')) {
    const whep = await measureWhep()
    const sorted = [...whep.latenciesMs].sort((a, b) => a - b)
    line.push(`whep p50=${seconds(percentile(sorted, 0.5))} whep p95=${seconds(percentile(sorted, 0.95))}`)
  }
  console.log(`latency: ${line.join(' ')}`)
}

await main()
