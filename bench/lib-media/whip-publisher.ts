/**
 * The latency bench's WHIP encoder (H.264, as OBS sends it): a Chromium page draws the flash publisher's pattern (a dark
 * 720p30 frame with a moving bar; once a second a white one with its number in the id band) on a
 * canvas, and sends it over WebRTC as an encoder publishing over WHIP does. Its offer goes through
 * the ingest's own WHIP code: readOffer / writeAnswer against a mediasoup router with the SFU's
 * codecs, plain RTP transports back out, and the ingest's bridge ffmpeg (whipBridgeArgs), which
 * publishes to `rtmpUrl`. What the ingest adds around it (the key check, the registry, the SFU's
 * HTTP) costs no latency once the session runs. The glass instant of a flash is the page's clock
 * when it drew the flash's first frame.
 */
import {spawn, type ChildProcess} from 'node:child_process'

import * as mediasoup from 'mediasoup'
import type {types} from 'mediasoup'
import type {Page} from 'playwright-core'

import {udpBound, udpPortPair, whipBridgeArgs} from '../../appliance/ingest/whip-ingest.js'
import {ffmpegSdp, readOffer, writeAnswer, type PlainStream, type TransportSide} from '../../appliance/ingest/whip-sdp.js'
import {mediaCodecs} from '../../appliance/sfu/worker-pool.js'
import type {RunningChromium} from '../../test/harness/chromium.js'
import {requireTool} from '../../test/harness/tools.js'
import {FPS, FRAME_HEIGHT, FRAME_WIDTH, ID_BAND, ID_BITS} from './flash-publisher.js'

export interface WhipPublisher {
  /** Page-clock instant (ms since the epoch) each flash's first frame was drawn, by id. */
  readonly flashes: Map<number, number>
  /** How late frames were drawn against their schedule: the largest lag so far, ms. */
  maxLagMs(): number
  /** The codec the page sends (what the answer chose). */
  codec: string
  stop(): Promise<void>
}

/**
 * The page: draws and sends; window.flashes (id → time) and window.maxLag for the bench. Plain
 * JavaScript in a string: tsx would wrap a function's inner closures in helpers the page lacks.
 */
const encoderScript = (o: {width: number; height: number; fps: number; band: {top: number; bottom: number}; bits: number}): string => `(async () => {
  const width = ${o.width}, height = ${o.height}, fps = ${o.fps}, bandTop = ${o.band.top}, bandBottom = ${o.band.bottom}, bits = ${o.bits}
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  document.body.append(canvas)
  const ctx = canvas.getContext('2d')
  window.flashes = {}
  window.maxLag = 0
  const start = performance.now()
  let index = 0
  let flashId = 0
  const draw = () => {
    const due = start + (index * 1000) / fps
    window.maxLag = Math.max(window.maxLag, performance.now() - due)
    const flashFrame = index % fps
    if (flashFrame < 3) {
      // White, the number's 0-bits as black blocks in the band; noted when its first frame is drawn.
      ctx.fillStyle = 'rgb(235,235,235)'
      ctx.fillRect(0, 0, width, height)
      ctx.fillStyle = 'rgb(16,16,16)'
      const block = width / bits
      for (let bit = 0; bit < bits; bit++) if (((flashId >> bit) & 1) === 0) ctx.fillRect(bit * block, bandTop, block, bandBottom - bandTop)
      if (flashFrame === 0) window.flashes[flashId] = performance.timeOrigin + performance.now()
      if (flashFrame === 2) flashId = (flashId + 1) % (1 << bits)
    } else {
      ctx.fillStyle = 'rgb(24,24,24)'
      ctx.fillRect(0, 0, width, height)
      ctx.fillStyle = 'rgb(64,64,64)'
      ctx.fillRect((index * 8) % (width - 80), 0, 80, height)
    }
    index += 1
    setTimeout(draw, Math.max(0, start + (index * 1000) / fps - performance.now()))
  }
  draw()
  const track = canvas.captureStream(fps).getVideoTracks()[0]
  track.contentHint = 'motion'
  // A tone for the microphone: the Opus path is measured too.
  const audio = new AudioContext()
  const tone = audio.createOscillator()
  const destination = audio.createMediaStreamDestination()
  tone.connect(destination)
  tone.start()
  const pc = new RTCPeerConnection()
  window.pc = pc
  // H.264 first, as OBS sends it.
  const video = pc.addTransceiver(track, {direction: 'sendonly'})
  const codecs = RTCRtpSender.getCapabilities('video').codecs
  video.setCodecPreferences([...codecs.filter((c) => c.mimeType === 'video/H264'), ...codecs.filter((c) => c.mimeType !== 'video/H264')])
  pc.addTransceiver(destination.stream.getAudioTracks()[0], {direction: 'sendonly'})
  await pc.setLocalDescription()
  return pc.localDescription.sdp
})()`

export async function startWhipPublisher(chromium: RunningChromium, rtmpUrl: string, top: Parameters<typeof whipBridgeArgs>[1]): Promise<WhipPublisher> {
  const worker = await mediasoup.createWorker({logLevel: 'error'})
  let page: Page | undefined
  let bridge: ChildProcess | undefined
  let poll: NodeJS.Timeout | undefined
  const flashes = new Map<number, number>()
  let maxLag = 0
  const stop = async (): Promise<void> => {
    clearInterval(poll)
    await page?.close().catch(() => undefined)
    if (bridge !== undefined && bridge.exitCode === null) {
      const exited = new Promise((resolve) => bridge!.once('close', resolve))
      bridge.kill('SIGINT')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      bridge.kill('SIGKILL')
    }
    worker.close()
  }
  try {
    const router = await worker.createRouter({mediaCodecs})
    const transport = await router.createWebRtcTransport({listenInfos: [{protocol: 'udp', ip: '127.0.0.1'}], initialAvailableOutgoingBitrate: 3_000_000})
    page = await chromium.newPage()
    await page.setContent('<!doctype html><title>whip encoder</title>')
    const offer = await page.evaluate<string>(encoderScript({width: FRAME_WIDTH, height: FRAME_HEIGHT, fps: FPS, band: ID_BAND, bits: ID_BITS}))
    const read = readOffer(offer, router.rtpCapabilities)
    await transport.connect({dtlsParameters: read.dtlsParameters})
    const producers = []
    for (const media of read.media) producers.push(await transport.produce({kind: media.kind, rtpParameters: media.rtpParameters}))
    const answer = writeAnswer(read, {iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters} as TransportSide)
    await page.evaluate(async (sdp) => {
      const pc = (window as unknown as {pc: RTCPeerConnection}).pc
      await pc.setRemoteDescription({type: 'answer', sdp})
      // A 3 Mbit/s ceiling and the full size kept, as an encoder's settings would.
      const sender = pc.getSenders().find((s) => s.track?.kind === 'video')!
      const parameters = sender.getParameters()
      parameters.encodings[0] = {...parameters.encodings[0], maxBitrate: 3_000_000}
      parameters.degradationPreference = 'maintain-resolution'
      await sender.setParameters(parameters)
    }, answer)

    const capabilities: types.RtpCapabilities = {codecs: (router.rtpCapabilities.codecs ?? []).filter((c) => !/\/rtx$/i.test(c.mimeType)), headerExtensions: []}
    const streams: Array<PlainStream & {consumer: types.Consumer}> = []
    const held = new Set<number>()
    for (const producer of producers) {
      const plain = await router.createPlainTransport({listenInfo: {protocol: 'udp', ip: '127.0.0.1'}, rtcpMux: true, comedia: false})
      const port = await udpPortPair(held)
      held.add(port)
      await plain.connect({ip: '127.0.0.1', port})
      const consumer = await plain.consume({producerId: producer.id, rtpCapabilities: capabilities, paused: true})
      streams.push({kind: producer.kind, port, rtpParameters: consumer.rtpParameters, consumer})
    }
    const video = streams.find((s) => s.kind === 'video')?.rtpParameters.codecs[0]?.mimeType.toLowerCase()
    bridge = spawn(requireTool('ffmpeg'), whipBridgeArgs(rtmpUrl, top, video === 'video/h264' ? 'copy' : 'encode'), {stdio: ['pipe', 'ignore', 'inherit']})
    bridge.stdin!.end(ffmpegSdp('127.0.0.1', streams))
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && !(await Promise.all(streams.map((s) => udpBound(s.port)))).every(Boolean)) await new Promise((resolve) => setTimeout(resolve, 50))
    for (const stream of streams) await stream.consumer.resume()
    for (const delay of [0, 1000, 3000]) setTimeout(() => void streams.find((s) => s.kind === 'video')?.consumer.requestKeyFrame().catch(() => undefined), delay).unref()
    const encoder = page
    poll = setInterval(() => {
      void encoder
        .evaluate(() => {
          const w = window as unknown as {flashes: Record<number, number>; maxLag: number}
          return {flashes: w.flashes, maxLag: w.maxLag}
        })
        .then((state) => {
          for (const [id, at] of Object.entries(state.flashes)) flashes.set(Number(id), at)
          maxLag = state.maxLag
        })
        .catch(() => undefined)
    }, 250)
    return {flashes, maxLagMs: () => maxLag, codec: read.media.map((m) => m.rtpParameters.codecs[0]!.mimeType).join('+'), stop}
  } catch (error) {
    await stop()
    throw error
  }
}
