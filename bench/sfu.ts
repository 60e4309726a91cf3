/**
 * npm run bench:sfu — receivers one mediasoup worker carries: one producer (2.5 Mbit/s VP8 720p30
 * plus Opus, from ffmpeg over plain RTP) and a growing number of receivers, each a plain RTP
 * transport with a video and an audio consumer, until the sampled receivers lose more than
 * --loss (1%) of their packets or the worker's core passes --cpu (95%). Two sides in the same run:
 * - shing: the real SFU component (appliance/dist/main.js sfu, one worker), driven through its
 *   RPC as a component does (an internal peer's plain transports: contract/calls.ts);
 * - bare: a mediasoup worker and router in this process, with the same codecs and nothing else.
 *
 * Loss is read on --sample receivers (RTP sequence numbers, per SSRC, over the window); the others
 * send to a socket nobody reads (the kernel drops what it cannot queue), so the load is the
 * worker's sending, not this process's reading. CPU is the worker process's own (/proc). A
 * consumer in the last line is a receiver of the stream (its video and its audio: two mediasoup
 * consumers); the line compares the largest count each side carried:
 * `sfu: consumers/worker=<n> shing/bare ratio=<x>`.
 *
 *   npm run bench:sfu -- [--receivers 50,100,…,1000] [--window 8] [--sides shing,bare]
 */
import {randomBytes} from 'node:crypto'
import dgram from 'node:dgram'
import {mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {execa, type ResultPromise} from 'execa'
import * as mediasoup from 'mediasoup'
import type {types} from 'mediasoup'
import YAML from 'yaml'

import {SFU_RPC_PATH, secretFiles, sfuRpcToken, type CallAck, type CallResults, type InternalRequest, type CallRequest} from '../appliance/contract/index.js'
import {mediaCodecs} from '../appliance/sfu/worker-pool.js'
import {repoRoot} from '../test/harness/cli.js'
import {freePort, startProcess, tempDir, waitFor} from '../test/harness/process.js'
import {startRedis} from '../test/harness/redis.js'
import {requireTool, testCacheDir} from '../test/harness/tools.js'
import {sampleProcess, type ProcessSample} from './lib/proc-stats.js'

const {values: flags} = parseArgs({
  options: {
    receivers: {type: 'string', default: '50,100,150,200,225,250,275,300,325,350,400,500,750,1000'},
    window: {type: 'string', default: '8'},
    warmup: {type: 'string', default: '3'},
    sample: {type: 'string', default: '8'},
    loss: {type: 'string', default: '0.01'},
    cpu: {type: 'string', default: '0.95'},
    sides: {type: 'string', default: 'shing,bare'},
  },
  strict: true,
})
const steps = flags.receivers.split(',').map(Number)
const windowSeconds = Number(flags.window)
const lossLimit = Number(flags.loss)
const cpuLimit = Number(flags.cpu)
const sampleCount = Number(flags.sample)
const VIDEO = {ssrc: 22_222_222, payloadType: 101}
const AUDIO = {ssrc: 11_111_111, payloadType: 100}

/** 30 s of 720p30 VP8 at 2.5 Mbit/s (2 s GOP) and Opus, encoded once and cached. */
async function sourceClip(): Promise<string> {
  const file = path.join(testCacheDir(), 'bench', 'sfu-720p30-vp8-2500k-opus-30s.webm')
  if (await stat(file).then(() => true, () => false)) return file
  await mkdir(path.dirname(file), {recursive: true})
  process.stderr.write('bench:sfu: encoding the source clip once (VP8 720p30 2.5 Mbit/s + Opus)…\n')
  const partial = `${file}.partial.webm`
  await execa(requireTool('ffmpeg'), [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    '-t', '30', '-c:v', 'libvpx', '-b:v', '2500k', '-minrate', '2500k', '-maxrate', '2500k', '-deadline', 'realtime', '-cpu-used', '8',
    '-g', '60', '-keyint_min', '60', '-c:a', 'libopus', '-b:a', '64k', partial,
  ])
  await rename(partial, file)
  return file
}

/** ffmpeg sending the clip in a loop, in real time, as RTP to the producer's ports. */
function sendRtp(clip: string, video: {ip: string; port: number}, audio: {ip: string; port: number}): ResultPromise {
  return execa(requireTool('ffmpeg'), [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip,
    '-map', '0:v', '-c', 'copy', '-f', 'rtp', '-payload_type', String(VIDEO.payloadType), '-ssrc', String(VIDEO.ssrc), `rtp://${video.ip}:${video.port}?pkt_size=1200`,
    '-map', '0:a', '-c', 'copy', '-f', 'rtp', '-payload_type', String(AUDIO.payloadType), '-ssrc', String(AUDIO.ssrc), `rtp://${audio.ip}:${audio.port}?pkt_size=1200`,
  ], {reject: false})
}

const producerParameters = {
  video: {codecs: [{mimeType: 'video/VP8', clockRate: 90_000, payloadType: VIDEO.payloadType}], encodings: [{ssrc: VIDEO.ssrc}]},
  audio: {codecs: [{mimeType: 'audio/opus', clockRate: 48_000, channels: 2, payloadType: AUDIO.payloadType}], encodings: [{ssrc: AUDIO.ssrc}]},
}

/** What a side offers the benchmark: a producer, receivers added on demand, and its worker's PID. */
interface Side {
  name: string
  workerPid: number
  producerAddresses: {video: {ip: string; port: number}; audio: {ip: string; port: number}}
  /** Adds a receiver sending to `port` on 127.0.0.1; answers its consumers' SSRCs. */
  addReceiver(port: number): Promise<number[]>
  stop(): Promise<void>
}

async function bareSide(): Promise<Side> {
  const worker = await mediasoup.createWorker({logLevel: 'error'})
  const router = await worker.createRouter({mediaCodecs})
  const listenInfo = {protocol: 'udp' as const, ip: '127.0.0.1'}
  const produce = async (kind: 'audio' | 'video'): Promise<{producer: types.Producer; ip: string; port: number}> => {
    const transport = await router.createPlainTransport({listenInfo, rtcpMux: true, comedia: true})
    const producer = await transport.produce({kind, rtpParameters: producerParameters[kind] as types.RtpParameters})
    return {producer, ip: transport.tuple.localAddress, port: transport.tuple.localPort}
  }
  const video = await produce('video')
  const audio = await produce('audio')
  return {
    name: 'bare',
    workerPid: worker.pid,
    producerAddresses: {video, audio},
    addReceiver: async (port) => {
      const transport = await router.createPlainTransport({listenInfo, rtcpMux: true})
      await transport.connect({ip: '127.0.0.1', port})
      const ssrcs: number[] = []
      for (const {producer} of [video, audio]) {
        const consumer = await transport.consume({producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true})
        await consumer.resume()
        ssrcs.push(consumer.rtpParameters.encodings![0]!.ssrc!)
      }
      return ssrcs
    },
    stop: async () => worker.close(),
  }
}

async function shingSide(): Promise<Side> {
  const cleanups: Array<() => Promise<unknown>> = []
  const password = randomBytes(12).toString('hex')
  const streamKeySecret = randomBytes(32).toString('hex')
  const redis = await startRedis({password})
  cleanups.push(() => redis.stop())
  const secrets = await tempDir('bench-sfu-secrets')
  cleanups.push(() => secrets.remove())
  await writeFile(path.join(secrets.dir, secretFiles.redisPassword), `${password}\n`, {mode: 0o600})
  await writeFile(path.join(secrets.dir, secretFiles.streamKeySecret), `${streamKeySecret}\n`, {mode: 0o600})
  const profile = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8')) as {sfu: Record<string, number>}
  profile.sfu = {workers: 1, consumersPerWorker: 100_000}
  const port = await freePort()
  const rtc = await freePort()
  const sfu = await startProcess({
    name: 'appliance sfu',
    command: process.execPath,
    args: [path.join(repoRoot, 'appliance/dist/main.js'), 'sfu'],
    env: {
      PATH: process.env.PATH,
      SHING_COMPONENT: 'sfu',
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
      SHING_WEBRTC_MIN_PORT: String(rtc),
      SHING_WEBRTC_MAX_PORT: String(rtc),
      SHING_TASK_NAME: 'bench-sfu',
      SHING_LOG_LEVEL: 'warn',
    },
    ready: {probe: async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200},
    timeoutMs: 30_000,
  })
  cleanups.unshift(() => sfu.stop())
  const token = sfuRpcToken(streamKeySecret)
  const room = randomBytes(16).toString('base64url')
  const ask = async <M extends keyof CallResults>(peer: string, request: CallRequest | InternalRequest): Promise<CallResults[M]> => {
    const response = await fetch(`http://127.0.0.1:${port}${SFU_RPC_PATH}`, {
      method: 'POST',
      headers: {'content-type': 'application/json', authorization: `Bearer ${token}`},
      body: JSON.stringify({room, peer, user: {id: peer, name: peer}, internal: true, request}),
    })
    const ack = (await response.json()) as CallAck
    if (!ack.ok) throw new Error(`sfu ${request.method}: ${ack.error}`)
    return ack.result as CallResults[M]
  }
  const joined = await ask<'join'>('producer', {method: 'join', room})
  const produce = async (kind: 'audio' | 'video'): Promise<{id: string; ip: string; port: number}> => {
    const transport = await ask<'plainTransport'>('producer', {method: 'plainTransport', direction: 'send'})
    const {id} = await ask<'produce'>('producer', {method: 'produce', transportId: transport.id, kind, rtpParameters: producerParameters[kind], source: kind === 'video' ? 'camera' : 'mic'})
    return {id, ip: transport.ip, port: transport.port}
  }
  const video = await produce('video')
  const audio = await produce('audio')
  await ask('viewers', {method: 'join', room, rtpCapabilities: joined.rtpCapabilities as Record<string, unknown>})
  // The worker: the SFU process's child running mediasoup-worker.
  const children = (await readFile(`/proc/${sfu.pid}/task/${sfu.pid}/children`, 'utf8')).trim().split(/\s+/).map(Number)
  let workerPid = 0
  for (const pid of children) if ((await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('mediasoup-worker')) workerPid = pid
  if (workerPid === 0) throw new Error('bench:sfu: no mediasoup-worker under the SFU process')
  return {
    name: 'shing',
    workerPid,
    producerAddresses: {video, audio},
    addReceiver: async (sinkPort) => {
      const transport = await ask<'plainTransport'>('viewers', {method: 'plainTransport', direction: 'recv'})
      await ask('viewers', {method: 'plainConnect', transportId: transport.id, ip: '127.0.0.1', port: sinkPort})
      const ssrcs: number[] = []
      for (const producerId of [video.id, audio.id]) {
        const consumer = await ask<'consume'>('viewers', {method: 'consume', transportId: transport.id, producerId})
        await ask('viewers', {method: 'resumeConsumer', consumerId: consumer.id})
        ssrcs.push((consumer.rtpParameters as types.RtpParameters).encodings![0]!.ssrc!)
      }
      return ssrcs
    },
    stop: async () => {
      for (const cleanup of cleanups) await cleanup().catch(() => undefined)
    },
  }
}

/** Per SSRC: packets received and the sequence numbers' span, since the last reset. */
class Sink {
  readonly socket = dgram.createSocket('udp4')
  private readonly streams = new Map<number, {first: number; last: number; received: number}>()
  constructor() {
    this.socket.on('message', (packet) => {
      if (packet.length < 12 || packet[0]! >> 6 !== 2) return
      const payloadType = packet[1]! & 0x7f
      if (payloadType >= 64 && payloadType <= 95) return // RTCP
      const seq = packet.readUInt16BE(2)
      const ssrc = packet.readUInt32BE(8)
      const s = this.streams.get(ssrc)
      if (s === undefined) {
        this.streams.set(ssrc, {first: seq, last: seq, received: 1})
        return
      }
      s.received += 1
      // Forward by the shortest way round the 16-bit circle (reordering is rare on loopback).
      const ahead = (seq - (s.last & 0xffff) + 0x10000) % 0x10000
      if (ahead < 0x8000) s.last += ahead
    })
  }
  async bind(): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve))
    this.socket.setRecvBufferSize(8 * 1024 * 1024)
    return this.socket.address().port
  }
  reset(): void {
    this.streams.clear()
  }
  /** Lost share over the SSRCs asked: 1 − received / expected. */
  loss(ssrcs: readonly number[]): {loss: number; expected: number} {
    let expected = 0
    let received = 0
    for (const ssrc of ssrcs) {
      const s = this.streams.get(ssrc)
      if (s === undefined) continue
      expected += s.last - s.first + 1
      received += s.received
    }
    return {loss: expected === 0 ? 1 : Math.max(0, 1 - received / expected), expected}
  }
  close(): void {
    this.socket.close()
  }
}

interface Step {
  receivers: number
  loss: number
  workerCores: number
  ok: boolean
}

async function runSide(side: Side, clip: string): Promise<Step[]> {
  const sink = new Sink()
  const sinkPort = await sink.bind()
  // The receivers not sampled send here: bound, never read.
  const drop = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => drop.bind(0, '127.0.0.1', resolve))
  drop.setRecvBufferSize(4096)
  const sender = sendRtp(clip, side.producerAddresses.video, side.producerAddresses.audio)
  const sampled: number[] = []
  let added = 0
  const results: Step[] = []
  try {
    for (const target of steps) {
      while (added < target) {
        const ssrcs = await side.addReceiver(added < sampleCount ? sinkPort : drop.address().port)
        if (added < sampleCount) sampled.push(...ssrcs)
        added += 1
      }
      await sleep(Number(flags.warmup) * 1000)
      sink.reset()
      const before: ProcessSample = sampleProcess(side.workerPid)
      await sleep(windowSeconds * 1000)
      const after: ProcessSample = sampleProcess(side.workerPid)
      const {loss, expected} = sink.loss(sampled)
      const workerCores = (after.cpuSeconds - before.cpuSeconds) / ((after.at - before.at) / 1000)
      const ok = expected > 0 && loss <= lossLimit && workerCores <= cpuLimit
      results.push({receivers: target, loss, workerCores, ok})
      process.stdout.write(`sfu ${side.name}: receivers=${target} consumers=${target * 2} loss=${(loss * 100).toFixed(2)}% worker-core=${(workerCores * 100).toFixed(0)}% ${ok ? 'ok' : 'over'}\n`)
      if (!ok) break
    }
  } finally {
    sender.kill('SIGTERM')
    await sender.catch(() => undefined)
    sink.close()
    drop.close()
  }
  return results
}

const clip = await sourceClip()
const carried = new Map<string, Step | undefined>()
for (const name of flags.sides.split(',')) {
  const side = name === 'shing' ? await shingSide() : name === 'bare' ? await bareSide() : undefined
  if (side === undefined) throw new Error(`bench:sfu: unknown side ${name} (shing, bare)`)
  try {
    await waitFor('the worker to be up', async () => (sampleProcess(side.workerPid).cpuSeconds >= 0 ? true : undefined), {timeoutMs: 5000})
    const steps = await runSide(side, clip)
    carried.set(name, steps.filter((s) => s.ok).at(-1))
  } finally {
    await side.stop()
  }
}
const shing = carried.get('shing')
const bare = carried.get('bare')
const detail = (name: string, step: Step | undefined): string =>
  step === undefined
    ? `${name} none`
    : `${name} ${step.receivers} receivers (${step.receivers * 2} mediasoup consumers) at ${(step.workerCores * 100).toFixed(0)}% of a core, ${((step.workerCores / (step.receivers * 2)) * 1e4).toFixed(1)}‱ of a core per forwarded stream`
process.stdout.write(`sfu: at ≤${(lossLimit * 100).toFixed(0)}% loss on one worker: ${detail('shing', shing)}; ${detail('bare', bare)} (${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'cpu'})\n`)
// A consumer here is a receiver of the stream (its video and its audio).
process.stdout.write(`sfu: consumers/worker=${shing?.receivers ?? 0} shing/bare ratio=${shing !== undefined && bare !== undefined ? (shing.receivers / bare.receivers).toFixed(2) : 'n/a'}\n`)
