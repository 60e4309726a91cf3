/**
 * npm run bench:costream — what a studio broadcast (co-streaming) costs the ingest over an RTMP
 * one. Both run the same ladder (the cpu-small profile); a studio also runs the compositor, which
 * decodes every tile and encodes the picture once at the ladder's top (appliance/ingest/costream.ts,
 * the ingest's own arguments). The publisher that copies its output costs next to nothing.
 *
 * Each side runs alone on the box, at real time, and its process's CPU is read from /proc over
 * --window seconds after --warmup:
 *   - ladder: the ladder's ffmpeg reading the cached 720p30 3 Mbit/s clip at its own pace (-re);
 *   - compositor, 1, 2 and 4 tiles: fed over RTP by ffmpeg senders that copy a cached 640×360
 *     VP8 + Opus clip (a browser's camera and microphone), one per tile (their CPU is not counted).
 * A side whose media time falls behind the clock (speed < 0.95) is reported as not keeping up.
 *
 *   npm run bench:costream -- [--window 15] [--warmup 5]
 *
 * Last line: `costream: 4 tiles cost <x> cores over the ladder's <y>: <r>× an RTMP broadcast`.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import {mkdir, rename, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {execa} from 'execa'

import {canvasOf, compositorArgs, type CompositorPlan} from '../appliance/ingest/costream.js'
import {udpPortPair} from '../appliance/ingest/whip-ingest.js'
import {ffmpegSdp, type PlainStream} from '../appliance/ingest/whip-sdp.js'
import {findProfile, loadProfiles} from '../src/hardware/profiles.js'
import {requireTool, testCacheDir} from '../test/harness/tools.js'
import {coresBetween, sampleProcess} from './lib/proc-stats.js'
import {ensureSourceClip} from './lib/source-clip.js'
import {BareLadder} from './lib-media/bare-ladder.js'

const {values: flags} = parseArgs({options: {window: {type: 'string', default: '15'}, warmup: {type: 'string', default: '5'}}})
const windowMs = Number(flags.window) * 1000
const warmupMs = Number(flags.warmup) * 1000
const ffmpeg = requireTool('ffmpeg')
const profile = findProfile(await loadProfiles(), 'cpu-small')
const top = profile.ladder[0]!

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
})

/** A browser's camera and microphone as the SFU forwards them: 640×360 30 fps VP8 at 1 Mbit/s and Opus, encoded once and cached. */
async function cameraClip(): Promise<string> {
  const file = path.join(testCacheDir(), 'bench', 'camera-360p30-vp8-opus-30s.webm')
  if (await stat(file).then(() => true, () => false)) return file
  await mkdir(path.dirname(file), {recursive: true})
  const partial = `${file}.partial.webm`
  await execa(ffmpeg, [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '30', '-c:v', 'libvpx', '-deadline', 'good', '-cpu-used', '4', '-b:v', '1M', '-g', '60', '-c:a', 'libopus', '-b:a', '64k', '-ac', '2',
    partial,
  ], {timeout: 600_000})
  await rename(partial, file)
  return file
}

function track(child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('close', () => running.delete(child))
  return child
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await once(child, 'close')
}

interface Measured {
  cores: number
  speed: number
}

/** CPU (cores) and speed (media seconds per wall second) of `pid` over the window, after the warm-up. */
async function measure(pid: number, outTime: () => number): Promise<Measured> {
  await sleep(warmupMs)
  const [fromCpu, fromMedia, fromAt] = [sampleProcess(pid), outTime(), performance.now()]
  await sleep(windowMs)
  const [toCpu, toMedia, toAt] = [sampleProcess(pid), outTime(), performance.now()]
  return {cores: coresBetween(fromCpu, toCpu), speed: (toMedia - fromMedia) / ((toAt - fromAt) / 1000)}
}

async function ladderSide(): Promise<Measured> {
  const clip = await ensureSourceClip(60)
  const ladder = new BareLadder({profile, input: clip.file, ffmpegPath: ffmpeg, inputArgs: ['-re', '-stream_loop', '-1']})
  let media = 0
  ladder.on('progress', (sample) => {
    media = sample.outTime
  })
  try {
    return await measure(ladder.pid!, () => media)
  } finally {
    await ladder.stop()
  }
}

async function compositorSide(tiles: 1 | 2 | 4, clip: string): Promise<Measured> {
  const streams: PlainStream[] = []
  const senders: ChildProcess[] = []
  for (let i = 0; i < tiles; i++) {
    const video = await udpPortPair(new Set(streams.map((s) => s.port)))
    const audio = await udpPortPair(new Set([...streams.map((s) => s.port), video]))
    streams.push({kind: 'video', port: video, rtpParameters: {codecs: [{mimeType: 'video/VP8', payloadType: 96, clockRate: 90_000}]}})
    streams.push({kind: 'audio', port: audio, rtpParameters: {codecs: [{mimeType: 'audio/opus', payloadType: 111, clockRate: 48_000, channels: 2}]}})
  }
  const plan: CompositorPlan = {
    layout: tiles,
    tiles: Array.from({length: tiles}, (_, i) => i * 2),
    audio: Array.from({length: tiles}, (_, i) => i * 2 + 1),
    rtp: true,
    canvas: canvasOf(top.height),
    fps: top.fps,
    videoKbps: top.videoKbps,
    segmentSeconds: profile.hls.segmentSeconds,
    offsetSeconds: 0,
  }
  const args = compositorArgs(plan)
  args[args.length - 1] = '/dev/null'
  const compositor = track(spawn(ffmpeg, ['-y', ...args], {stdio: ['pipe', 'ignore', 'pipe']}))
  compositor.stdin!.end(ffmpegSdp('127.0.0.1', streams))
  let media = 0
  let said = ''
  let stopping = false
  compositor.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString()
    for (const match of text.matchAll(/^out_time_us=(\d+)/gm)) media = Number(match[1]) / 1e6
    said = `${said}${text.split('\n').filter((line) => line !== '' && !/^[a-z0-9_]+=/.test(line)).join('\n')}`.slice(-1500)
  })
  compositor.once('close', (code) => {
    if (!stopping) console.error(`costream bench: the compositor exited (${code}): ${said}`)
  })
  await sleep(500)
  for (let i = 0; i < tiles; i++) {
    const [video, audio] = [streams[i * 2]!.port, streams[i * 2 + 1]!.port]
    senders.push(
      track(
        spawn(ffmpeg, [
          '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip,
          '-map', '0:v', '-c', 'copy', '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${video}?pkt_size=1200`,
          '-map', '0:a', '-c', 'copy', '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${audio}`,
        ], {stdio: 'ignore'}),
      ),
    )
  }
  try {
    return await measure(compositor.pid!, () => media)
  } finally {
    stopping = true
    for (const sender of senders) await stop(sender)
    await stop(compositor)
  }
}

const cores = os.cpus().length
console.error(`costream bench: ${cores} cores (${os.cpus()[0]?.model ?? 'unknown'}), cpu-small ladder top ${top.height}p${top.fps} ${top.videoKbps} kbit/s, window ${windowMs / 1000} s after ${warmupMs / 1000} s`)
const clip = await cameraClip()
const show = (label: string, m: Measured): string => `${label} ${m.cores.toFixed(2)} cores at speed ${m.speed.toFixed(2)}${m.speed < 0.95 ? ' (does not keep up)' : ''}`
const ladder = await ladderSide()
console.log(`costream: ${show(`ladder (${profile.ladder.length} renditions, RTMP broadcast):`, ladder)}`)
const composed = new Map<number, Measured>()
for (const tiles of [1, 2, 4] as const) {
  const m = await compositorSide(tiles, clip)
  composed.set(tiles, m)
  console.log(`costream: ${show(`compositor, ${tiles} tile${tiles === 1 ? '' : 's'}:`, m)}; a studio of ${tiles} ${((ladder.cores + m.cores) / ladder.cores).toFixed(2)}× an RTMP broadcast`)
}
const four = composed.get(4)!
console.log(`costream: 4 tiles cost ${four.cores.toFixed(2)} cores over the ladder's ${ladder.cores.toFixed(2)}: ${((ladder.cores + four.cores) / ladder.cores).toFixed(2)}× an RTMP broadcast`)
