/**
 * Co-streaming, the ingest's side (docs/costream.md). The web asks here to put a channel's studio
 * (a call room: the host and up to three guests) on the air. The ingest joins the room on its SFU
 * as a component, takes each tile's camera (or screen) and microphone as plain RTP,
 * and one ffmpeg, the compositor, tiles the pictures (1, 2 or 4 tiles), mixes the sound and
 * encodes it once at the ladder's top. A second ffmpeg, the publisher, copies that into this
 * ingest's own RTMP server under a name standing for the channel's browser key: from there it is
 * a broadcast like any other (the gate, the ladder, relays, DVR, VOD).
 *
 * The compositor is rebuilt whenever what it shows changes (someone comes or goes, a camera or
 * microphone goes off or on, the host picks another layout): ffmpeg's tiling waits for every
 * input, so one that stops sending would hold the picture. The publisher stays: each compositor
 * writes MPEG-TS to it with timestamps that go on from the last one's, so viewers see a short
 * freeze, never an end. A compositor whose output stands still (a source that stopped without
 * saying so) is rebuilt too.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes, timingSafeEqual} from 'node:crypto'

import type {FastifyReply, FastifyRequest} from 'fastify'
import {Redis} from 'ioredis'
import type {types} from 'mediasoup'

import {
  CALL_EVENTS_CHANNEL,
  callEventMessageSchema,
  CHANNEL_PATTERN,
  COSTREAM_EMPTY_ROOM,
  COSTREAM_ENDED_TTL_SECONDS,
  COSTREAM_LIVE_TTL_SECONDS,
  COSTREAM_PATH,
  costreamEndedKey,
  costreamLayoutSchema,
  costreamLiveKey,
  costreamStartSchema,
  RTMP_APP,
  sfuRpcToken,
  type CallAck,
  type CallMethod,
  type CallPeerView,
  type CallRequest,
  type CallResults,
  type CostreamLayout,
  type CostreamLive,
  type CostreamStart,
  type InternalRequest,
  type RegistryRecord,
} from '../contract/index.js'
import {safeJson} from '../platform/json.js'
import {reconnectDelay} from '../platform/redis.js'
import {roomSfu} from '../calls/placement.js'
import {askSfu} from '../sfu/rpc-client.js'
import type {RefuseReason} from './rtmp-ingest.js'
import {addressToward, udpBound, udpPortPair, type WhipIngestOptions} from './whip-ingest.js'
import {ffmpegSdp, type PlainStream} from './whip-sdp.js'

/** What the WHIP bridge takes (the same RTMP server, keys, events and slots), less what only it needs. */
export type CostreamOptions = Omit<WhipIngestOptions, 'publicHost' | 'registry'> & {
  /** ports.webrtc: the compositor's RTP ports stay out of it (an SFU on the same box uses it). */
  webrtcPorts?: {min: number; max: number}
}

export interface Costreams {
  sessions(): number
  close(): Promise<void>
}

/** After a change in the room, the compositor waits this long for the rest of it (a guest's camera follows their join). */
const SETTLE_MS = 1500
/** A compositor whose output stands still this long is rebuilt (a source stopped without a word, and the sampler missed it). */
const STALL_MS = 12_000
/**
 * A new compositor's timestamps start this far past the broadcast's. The publisher's MPEG-TS
 * demuxer takes a jump of more than 10 s for a discontinuity and joins the new timestamps to the
 * old ones (ffmpeg's dts_delta_threshold): the broadcast's timeline goes on without a gap.
 */
const TIMESTAMP_JUMP_S = 100
/** A first picture takes this long at most (ffmpeg reads the sources' first seconds to know them). */
const FIRST_OUTPUT_MS = 15_000
/** The publisher with nothing to send this long: the broadcast ends. */
const PUBLISHER_SILENCE_MS = 30_000
const STOP_GRACE_MS = 5000
/** A compositor that dies this soon after it started failed; so many in a row (none with 10 s of output between) end the broadcast. */
const QUICK_FAILURE_MS = 10_000
const MAX_QUICK_FAILURES = 5
/** Everyone gone from the studio this long (a reload is quicker): the broadcast ends. */
const EMPTY_MS = 30_000
const KEYFRAME_REQUESTS_MS = [0, 1000, 3000]
/** MPEG-TS packets are 188 bytes: a compositor's output is passed on in whole packets. */
const TS_PACKET = 188
/** A producer whose packet count did not grow for this long sends nothing now. */
const SENDING_WITHIN_MS = 8000
/** How often the producers' packet counts are looked at. */
const SAMPLE_EVERY_MS = 3000
/** Background of the picture where no tile is, and of a tile whose camera is off. */
const BACKGROUND = '0x111827'

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}

const even = (value: number): number => Math.max(2, Math.floor(value / 2) * 2)

/** The picture's size: 16:9 at the ladder's top height. */
export function canvasOf(height: number): {width: number; height: number} {
  return {width: even((height * 16) / 9), height: even(height)}
}

/** Where each tile goes: 1 fills the picture, 2 side by side, 4 in a 2×2 grid. */
export function tileRects(layout: CostreamLayout, canvas: {width: number; height: number}): Rect[] {
  const {width, height} = canvas
  const half = {width: even(width / 2), height: even(height / 2)}
  if (layout === 1) return [{x: 0, y: 0, width, height}]
  if (layout === 2) return [0, 1].map((i) => ({x: i * half.width, y: 0, width: half.width, height}))
  return [0, 1, 2, 3].map((i) => ({x: (i % 2) * half.width, y: Math.floor(i / 2) * half.height, width: half.width, height: half.height}))
}

export interface CompositorPlan {
  layout: CostreamLayout
  /** For each tile: the index of its video among the SDP's streams, or undefined (no one there, or their camera off). */
  tiles: Array<number | undefined>
  /** The SDP's audio streams, all mixed. */
  audio: number[]
  /** Whether an SDP with RTP streams comes on stdin. */
  rtp: boolean
  canvas: {width: number; height: number}
  fps: number
  videoKbps: number
  segmentSeconds: number
  /** Where this compositor's timestamps start (seconds): after the last one's. */
  offsetSeconds: number
}

/**
 * The compositor's arguments. The RTP sources (an SDP on stdin) pace it; with none at all, its
 * own background and silence do, at real time. Each tile's picture is scaled to fit its place
 * and centred; sizes that change on the way (a browser adapting) are scaled as they come.
 */
export function compositorArgs(plan: CompositorPlan): string[] {
  const {width, height} = plan.canvas
  const gop = Math.max(1, Math.round(plan.fps * plan.segmentSeconds))
  const inputs: string[] = []
  const graph: string[] = []
  if (plan.rtp) {
    inputs.push('-protocol_whitelist', 'pipe,udp,rtp', '-reorder_queue_size', '500', '-reinit_filter', '0', '-probesize', '2000000', '-analyzeduration', '2000000', '-f', 'sdp', '-i', 'pipe:0')
    graph.push(`color=c=${BACKGROUND}:s=${width}x${height}:r=${plan.fps},format=yuv420p[bg0]`, 'anullsrc=r=48000:cl=stereo[silence]')
  } else {
    inputs.push('-re', '-f', 'lavfi', '-i', `color=c=${BACKGROUND}:s=${width}x${height}:r=${plan.fps}`, '-re', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo')
    graph.push('[0:v]format=yuv420p[bg0]', '[1:a]anull[silence]')
  }
  const rects = tileRects(plan.layout, plan.canvas)
  let layer = 0
  plan.tiles.forEach((stream, i) => {
    const rect = rects[i]
    if (stream === undefined || rect === undefined) return
    graph.push(`[0:${stream}]scale=w=${rect.width}:h=${rect.height}:force_original_aspect_ratio=decrease:flags=bicubic,setsar=1[t${i}]`)
    graph.push(`[bg${layer}][t${i}]overlay=x=${rect.x}+(${rect.width}-overlay_w)/2:y=${rect.y}+(${rect.height}-overlay_h)/2:eof_action=pass:repeatlast=1[bg${layer + 1}]`)
    layer += 1
  })
  graph.push(`[bg${layer}]null[v]`)
  const voices = plan.audio.map((stream, i) => {
    graph.push(`[0:${stream}]aresample=48000:async=1:first_pts=0,aformat=channel_layouts=stereo[a${i}]`)
    return `[a${i}]`
  })
  graph.push(`${voices.join('')}[silence]amix=inputs=${voices.length + 1}:duration=longest:dropout_transition=0:normalize=0,alimiter=limit=0.9:level=0[a]`)
  return [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    '-progress', 'pipe:2', '-stats_period', '1',
    ...inputs,
    '-filter_complex', graph.join(';'),
    '-map', '[v]', '-map', '[a]',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-r', String(plan.fps), '-g', String(gop),
    '-b:v', `${plan.videoKbps}k`, '-maxrate', `${plan.videoKbps}k`, '-bufsize', `${plan.videoKbps * 2}k`,
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-output_ts_offset', plan.offsetSeconds.toFixed(3),
    '-f', 'mpegts', 'pipe:1',
  ]
}

/** The publisher: MPEG-TS on stdin (one compositor after another) copied into an RTMP publish. */
export function publisherArgs(url: string): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-progress', 'pipe:2', '-stats_period', '1',
    '-probesize', '2000000', '-analyzeduration', '3000000',
    '-f', 'mpegts', '-i', 'pipe:0',
    '-map', '0:v:0', '-map', '0:a:0', '-c', 'copy',
    '-f', 'flv', url,
  ]
}

/** Who is in which tile, from the room as the SFU lists it: the host first, then the others in the order they came. */
export function chooseTiles(peers: CallPeerView[], host: string, layout: CostreamLayout): Array<{peer: CallPeerView; video?: string; audio?: string}> {
  const people = peers.filter((peer) => !peer.peer.startsWith('costream-'))
  const hosting = people.find((peer) => peer.name === host)
  const ordered = hosting === undefined ? people : [hosting, ...people.filter((peer) => peer !== hosting)]
  return ordered.slice(0, layout).map((peer) => {
    const live = peer.producers.filter((producer) => !producer.paused)
    // A shared screen is what its sharer wants seen; else the camera.
    const video = live.find((producer) => producer.source === 'screen') ?? live.find((producer) => producer.kind === 'video')
    const audio = live.find((producer) => producer.kind === 'audio')
    return {peer, ...(video === undefined ? {} : {video: video.id}), ...(audio === undefined ? {} : {audio: audio.id})}
  })
}

/** How the room looks to the compositor: a change means a new one. */
const signatureOf = (tiles: ReturnType<typeof chooseTiles>, layout: CostreamLayout): string =>
  JSON.stringify([layout, tiles.map((tile) => [tile.peer.peer, tile.video ?? '', tile.audio ?? ''])])

interface Generation {
  n: number
  peer: string
  /** The SFU its peer is on (the room may move while it runs). */
  sfu: RegistryRecord
  child?: ChildProcess
  exited?: Promise<void>
  ports: number[]
  /** Where its timestamps start on the broadcast's timeline (seconds). */
  offset: number
  /** Its output time so far (µs, from its progress). */
  outTime: number
  startedAt: number
  movedAt?: number
  signature: string
  /** Its output goes to the publisher (it is on the air). */
  forwarding: boolean
  stopping?: boolean
  /** What ffmpeg said last (not its progress). */
  said: string
}

interface Session {
  id: string
  channel: string
  room: string
  host: string
  layout: CostreamLayout
  sfu: RegistryRecord
  since: number
  publisher: ChildProcess
  publisherExited: Promise<void>
  publisherMovedAt: number
  /** The newest compositor (maybe not on the air yet), and the one on the air. */
  generation?: Generation
  onAir?: Generation
  /** How far the compositors' timestamps have gone (seconds). */
  timeline: number
  /** When to try again to build a compositor after none could be. */
  retryAt: number
  generations: number
  /** A rebuild under way, and whether another was asked for meanwhile. */
  building?: Promise<void>
  again?: boolean
  settle?: NodeJS.Timeout
  ending?: string
  ended?: Promise<void>
  names: string[]
  /** What each producer of the picture has received: a source that sends nothing is left out (ffmpeg would wait for it). */
  packets: Map<string, {count: number; movedAt: number}>
  /** The producers the room offers the picture (sending or not), and those the compositor takes. */
  candidates: string[]
  used: Set<string>
  sampledAt: number
  /** Compositors in a row that died soon after they started. */
  quickFailures: number
  /** Since when nobody is in the studio (the broadcast ends after EMPTY_MS). */
  emptySince?: number
}

export function startCostreams(options: CostreamOptions): Costreams {
  const {app, log, events} = options
  const token = sfuRpcToken(options.streamKeySecret)
  const sessions = new Map<string, Session>()
  /** Channels whose studio is being put on the air (a second request waits for nothing: it is refused). */
  const starting = new Set<string>()
  const heldPorts = new Set<number>()
  let closing = false

  /** A request of a compositor's peer to its SFU. */
  const ask = async <M extends CallMethod>(session: Session, on: {peer: string; sfu: RegistryRecord}, request: CallRequest | InternalRequest, timeoutMs?: number): Promise<CallResults[M]> => {
    const ack = (await askSfu<M>(on.sfu, token, {room: session.room, peer: on.peer, user: {id: session.channel, name: 'broadcast'}, internal: true, request}, timeoutMs)) as CallAck<M>
    if (!ack.ok) throw new Error(`${on.sfu.id}: ${request.method}: ${ack.error}`)
    return ack.result
  }

  const announce = async (session: Session): Promise<void> => {
    const live: CostreamLive = {ingest: options.ingestId, layout: session.layout, since: session.since, tiles: session.names}
    await options.redis.set(costreamLiveKey(session.channel), JSON.stringify(live), 'EX', COSTREAM_LIVE_TTL_SECONDS).catch(() => undefined)
  }

  /** Stops one compositor: its output no longer reaches the publisher, its peer leaves the room. */
  const retire = async (session: Session, generation: Generation): Promise<void> => {
    if (generation.stopping === true) return
    generation.stopping = true
    generation.forwarding = false
    if (session.onAir === generation) session.onAir = undefined
    const child = generation.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await generation.exited
    }
    // Its ports are free again only once its consumers stopped sending to them (the SFU may be slow, or gone with them).
    const left = await ask(session, generation, {method: 'leave'}, 5000).then(() => true, () => false)
    if (!left) await ask(session, generation, {method: 'leave'}, 10_000).catch((error: unknown) => log.warn({channel: session.channel, generation: generation.n, err: (error as Error).message}, 'costream: a compositor\'s peer did not leave the room'))
    for (const port of generation.ports) heldPorts.delete(port)
  }

  const end = (session: Session, why: string): Promise<void> => {
    if (session.ended !== undefined) return session.ended
    session.ending = why
    session.ended = (async () => {
      log.info({channel: session.channel, why}, 'costream: the broadcast ends')
      clearTimeout(session.settle)
      await session.building?.catch(() => undefined)
      await Promise.all([session.generation, session.onAir].filter((g) => g !== undefined).map((g) => retire(session, g)))
      const publisher = session.publisher
      if (publisher.exitCode === null && publisher.signalCode === null) {
        publisher.stdin?.end()
        const killer = setTimeout(() => publisher.kill('SIGKILL'), STOP_GRACE_MS)
        await session.publisherExited
        clearTimeout(killer)
      }
      await options.redis.del(costreamLiveKey(session.channel)).catch(() => undefined)
      await options.redis.set(costreamEndedKey(session.channel), why, 'EX', COSTREAM_ENDED_TTL_SECONDS).catch(() => undefined)
      if (sessions.get(session.channel) === session) sessions.delete(session.channel)
    })()
    return session.ended
  }

  /** Looks at what each producer received (as `peer`); whether the ones sending are not those the compositor takes. */
  const sample = async (session: Session, on: {peer: string; sfu: RegistryRecord}, ids: string[]): Promise<boolean> => {
    const now = Date.now()
    session.sampledAt = now
    await Promise.all(
      ids.map(async (id) => {
        const {packets} = await ask<'producerStats'>(session, on, {method: 'producerStats', producerId: id}, 5000).catch(() => ({packets: -1}))
        // Not known (an SFU that cannot say): taken as sending, as before this check.
        if (packets < 0) {
          session.packets.set(id, {count: session.packets.get(id)?.count ?? 0, movedAt: now})
          return
        }
        const before = session.packets.get(id)
        if (before === undefined) session.packets.set(id, {count: packets, movedAt: packets > 0 ? now : 0})
        else if (packets > before.count) session.packets.set(id, {count: packets, movedAt: now})
      }),
    )
    for (const id of session.packets.keys()) if (!ids.includes(id)) session.packets.delete(id)
    return ids.some((id) => sending(session, id) !== session.used.has(id))
  }
  const sending = (session: Session, id: string): boolean => Date.now() - (session.packets.get(id)?.movedAt ?? 0) < SENDING_WITHIN_MS

  /** A new compositor for the room as it is now, then the old one goes; nothing when nothing changed (unless `force`). */
  const rebuild = (session: Session, force = false): Promise<void> => {
    if (session.building !== undefined) {
      session.again = true
      return session.building
    }
    session.building = (async () => {
      try {
        do {
          session.again = false
          await build(session, force)
          force = false
        } while (session.again && session.ending === undefined)
      } catch (error) {
        // Tried again in a moment (by the watchdog where no compositor runs, else with the next change).
        session.retryAt = Date.now() + 3000
        if (session.again) changed(session)
        throw error
      } finally {
        session.building = undefined
      }
    })()
    return session.building
  }

  const build = async (session: Session, force: boolean): Promise<void> => {
    if (session.ending !== undefined) return
    const n = ++session.generations
    const generation: Generation = {n, peer: `costream-${session.id}-${n}`, sfu: session.sfu, ports: [], offset: 0, outTime: 0, startedAt: Date.now(), signature: '', forwarding: false, said: ''}
    try {
      // Plain RTP without retransmissions: ffmpeg asks for none.
      const joined = await ask<'join'>(session, generation, {method: 'join', room: session.room})
      const routerCapabilities = joined.rtpCapabilities as types.RtpCapabilities
      const capabilities = {codecs: (routerCapabilities.codecs ?? []).filter((c) => !/\/rtx$/i.test(c.mimeType)), headerExtensions: []}
      await ask(session, generation, {method: 'setRtpCapabilities', rtpCapabilities: capabilities as unknown as Record<string, unknown>})
      const chosen = chooseTiles(joined.peers, session.host, session.layout)
      if (chosen.length === 0) session.emptySince ??= Date.now()
      else session.emptySince = undefined
      // Only sources that send: one that does not (a page whose microphone gives nothing, a camera
      // not started yet) would hold the picture. It comes in when it sends (the watchdog looks).
      session.candidates = chosen.flatMap((tile) => [tile.video, tile.audio].filter((id) => id !== undefined))
      await sample(session, generation, session.candidates)
      const tiles = chosen.map((tile) => ({
        peer: tile.peer,
        ...(tile.video !== undefined && sending(session, tile.video) ? {video: tile.video} : {}),
        ...(tile.audio !== undefined && sending(session, tile.audio) ? {audio: tile.audio} : {}),
      }))
      generation.signature = signatureOf(tiles, session.layout)
      const previous = session.generation
      if (!force && previous !== undefined && previous.signature === generation.signature && previous.child?.exitCode === null && previous.stopping !== true) {
        await retire(session, generation)
        return
      }
      const ip = await addressToward(generation.sfu.host, generation.sfu.ports.http ?? 9)
      const streams: Array<PlainStream & {consumerId: string}> = []
      const take = async (producerId: string, kind: 'audio' | 'video'): Promise<number> => {
        const plain = await ask<'plainTransport'>(session, generation, {method: 'plainTransport', direction: 'recv'})
        const port = await udpPortPair(heldPorts, options.webrtcPorts)
        heldPorts.add(port)
        generation.ports.push(port)
        await ask(session, generation, {method: 'plainConnect', transportId: plain.id, ip, port})
        const consumer = await ask<'consume'>(session, generation, {method: 'consume', transportId: plain.id, producerId})
        streams.push({kind, port, rtpParameters: consumer.rtpParameters as types.RtpParameters, consumerId: consumer.id})
        return streams.length - 1
      }
      const videoOf: Array<number | undefined> = []
      const audio: number[] = []
      for (const tile of tiles) {
        videoOf.push(tile.video === undefined ? undefined : await take(tile.video, 'video'))
        if (tile.audio !== undefined) audio.push(await take(tile.audio, 'audio'))
      }
      // Its timestamps start far past the others' (the publisher joins them up).
      generation.offset = session.timeline + TIMESTAMP_JUMP_S
      session.timeline = generation.offset
      const plan: CompositorPlan = {
        layout: session.layout,
        tiles: videoOf,
        audio,
        rtp: streams.length > 0,
        canvas: canvasOf(options.ladderTop.height),
        fps: options.ladderTop.fps,
        videoKbps: options.ladderTop.videoKbps,
        segmentSeconds: options.ladderTop.segmentSeconds,
        offsetSeconds: generation.offset,
      }
      if (session.ending !== undefined) throw new Error('the broadcast ended meanwhile')
      // One built before and not on the air yet gives way now; the one on the air stays until this one's first picture.
      if (previous !== undefined && previous !== session.onAir) void retire(session, previous)
      session.generation = generation
      start(session, generation, plan, ffmpegSdp(ip, streams))
      session.used = new Set(tiles.flatMap((tile) => [tile.video, tile.audio].filter((id) => id !== undefined)))
      session.names = tiles.map((tile) => tile.peer.name)
      await announce(session)
      log.info({channel: session.channel, generation: n, layout: session.layout, tiles: tiles.map((t) => ({name: t.peer.name, video: t.video !== undefined, audio: t.audio !== undefined}))}, 'costream: compositor (re)built')
      // Resumed (and keyframes asked for) only once ffmpeg listens: the first keyframe is not lost.
      const deadline = Date.now() + 5000
      while (Date.now() < deadline && generation.child?.exitCode === null && streams.length > 0) {
        const bound = await Promise.all(streams.map((s) => udpBound(s.port)))
        if (bound.every(Boolean)) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      for (const stream of streams) await ask(session, generation, {method: 'resumeConsumer', consumerId: stream.consumerId})
      for (const stream of streams.filter((s) => s.kind === 'video')) {
        for (const delay of KEYFRAME_REQUESTS_MS) {
          setTimeout(() => {
            if (generation.stopping !== true) void ask(session, generation, {method: 'requestKeyFrame', consumerId: stream.consumerId}).catch(() => undefined)
          }, delay).unref()
        }
      }
    } catch (error) {
      if (session.generation !== generation) await retire(session, generation)
      throw error
    }
  }

  /** `generation`'s first picture: it goes on the air, and the one before it goes. */
  const goOnAir = (session: Session, generation: Generation): void => {
    const before = session.onAir
    log.info({channel: session.channel, generation: generation.n, afterMs: Date.now() - generation.startedAt, replaced: before?.n}, 'costream: a compositor is on the air')
    if (before !== undefined && before !== generation) void retire(session, before)
    session.onAir = generation
    generation.forwarding = true
  }

  /** Starts a compositor; its whole MPEG-TS packets go to the publisher. */
  const start = (session: Session, generation: Generation, plan: CompositorPlan, sdp: string): void => {
    const child = spawn(options.ffmpegPath ?? 'ffmpeg', compositorArgs(plan), {stdio: ['pipe', 'pipe', 'pipe']})
    generation.child = child
    generation.exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      for (const match of text.matchAll(/^out_time_us=(\d+)/gm)) {
        const value = Number(match[1])
        if (value > generation.outTime) {
          generation.outTime = value
          generation.movedAt = Date.now()
        }
      }
      // 10 s of pictures: whatever failed before is past.
      if (generation.outTime > QUICK_FAILURE_MS * 1000) session.quickFailures = 0
      const said = text.split('\n').filter((line) => line !== '' && !/^[a-z0-9_]+=/.test(line))
      if (said.length > 0) generation.said = `${generation.said}\n${said.join('\n')}`.slice(-2000)
    })
    child.on('error', (error) => log.error({err: error.message}, 'costream: ffmpeg could not start'))
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(plan.rtp ? sdp : '')
    let rest: Buffer = Buffer.alloc(0)
    child.stdout?.on('data', (chunk: Buffer) => {
      if (generation.stopping === true) return
      if (!generation.forwarding) {
        // A newer one was built meanwhile: this one never goes on the air.
        if (session.generation !== generation) return
        goOnAir(session, generation)
      }
      session.timeline = Math.max(session.timeline, generation.offset + generation.outTime / 1e6)
      const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk])
      const whole = data.length - (data.length % TS_PACKET)
      rest = data.subarray(whole)
      if (whole > 0 && session.publisher.stdin?.writable === true) session.publisher.stdin.write(data.subarray(0, whole))
    })
    void generation.exited.then(async () => {
      if (session.onAir === generation) session.onAir = undefined
      // Only the newest one is replaced: an older one was on its way out.
      if (generation.stopping === true || session.ending !== undefined || session.generation !== generation) return
      log.warn({channel: session.channel, generation: generation.n, code: child.exitCode, stderr: generation.said.trim().slice(-600)}, 'costream: the compositor exited; building another')
      // One that dies at once, again and again, is not fixed by another try: the broadcast ends.
      session.quickFailures = Date.now() - generation.startedAt < QUICK_FAILURE_MS ? session.quickFailures + 1 : 0
      if (session.quickFailures >= MAX_QUICK_FAILURES) {
        await end(session, 'the compositor keeps failing')
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * session.quickFailures))
      await rebuild(session, true).catch((error: unknown) => log.warn({channel: session.channel, err: (error as Error).message}, 'costream: no new compositor'))
    })
  }

  /** Asks for a new compositor once the room has settled. */
  const changed = (session: Session): void => {
    clearTimeout(session.settle)
    session.settle = setTimeout(() => {
      void rebuild(session).catch((error: unknown) => log.warn({channel: session.channel, err: (error as Error).message}, 'costream: the compositor was not rebuilt'))
    }, SETTLE_MS)
  }

  const watchdog = setInterval(() => {
    const now = Date.now()
    for (const session of sessions.values()) {
      if (session.ending !== undefined) continue
      void announce(session)
      if (now - session.publisherMovedAt > PUBLISHER_SILENCE_MS) {
        void end(session, 'nothing reached the broadcast for 30 s')
        continue
      }
      if (session.emptySince !== undefined && now - session.emptySince > EMPTY_MS) {
        void end(session, 'everyone left the studio')
        continue
      }
      if (session.building !== undefined) continue
      const generation = session.generation
      if (generation === undefined || generation.stopping === true) {
        // None could be built (an SFU that did not answer, the room moving): again, now and then.
        if (now >= session.retryAt) {
          session.retryAt = now + 5000
          void rebuild(session, true).catch((error: unknown) => log.warn({channel: session.channel, err: (error as Error).message}, 'costream: no compositor yet'))
        }
        continue
      }
      // A source that started or stopped sending: the picture follows.
      if (now - session.sampledAt >= SAMPLE_EVERY_MS) {
        void sample(session, generation, session.candidates).then((differs) => {
          if (differs && session.building === undefined && session.ending === undefined) {
            log.info({channel: session.channel}, 'costream: a source started or stopped sending')
            changed(session)
          }
        })
      }
      const stalled = generation.movedAt === undefined ? now - generation.startedAt > FIRST_OUTPUT_MS : now - generation.movedAt > STALL_MS
      if (stalled) {
        log.warn({channel: session.channel, generation: generation.n, outTime: generation.outTime, stderr: generation.said.trim().slice(-600)}, 'costream: the picture stands still; building the compositor again')
        void rebuild(session, true).catch(() => undefined)
      }
    }
  }, 1000)

  const subscriber = new Redis({...options.redisEndpoint, connectionName: 'costream', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  subscriber.on('error', (error: Error) => log.debug({err: error.message}, 'costream redis error'))
  subscriber.subscribe(CALL_EVENTS_CHANNEL).catch((error: unknown) => log.warn({err: (error as Error).message}, 'costream: not subscribed to the SFU events; the picture follows the room only when it stalls'))
  subscriber.on('message', (_channel, message) => {
    const parsed = callEventMessageSchema.safeParse(safeJson(message))
    if (!parsed.success) return
    const {room, event} = parsed.data
    for (const session of sessions.values()) {
      if (session.room !== room || session.ending !== undefined) continue
      if ('peer' in event && typeof event.peer === 'string' && event.peer.startsWith('costream-')) continue
      if (['peerJoined', 'peerLeft', 'newProducer', 'producerClosed', 'producerPaused'].includes(event.type)) changed(session)
      // The room moved (its SFU closed it): the people join again elsewhere, and the studio follows them there.
      if (event.type === 'roomClosed' && event.sfu === session.sfu.id) void follow(session)
    }
  })

  /** The room's SFU now (after a move), from the room's placement. */
  const follow = async (session: Session): Promise<void> => {
    for (let attempt = 0; attempt < 15 && session.ending === undefined; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const placed = await placement(session.room).catch(() => undefined)
      if (placed !== undefined && placed.id !== session.sfu.id) {
        log.info({channel: session.channel, sfu: placed.id}, 'costream: the studio moved to another SFU; following it')
        // The next compositor is built there; the ones on the old SFU go as it comes (each asks its own SFU).
        session.sfu = placed
        await rebuild(session, true).catch(() => undefined)
        return
      }
    }
  }

  const placement = (room: string): Promise<RegistryRecord | undefined> => roomSfu(options.redis, room)

  const expected = Buffer.from(`Bearer ${token}`)
  const authorized = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const given = Buffer.from(request.headers.authorization ?? '')
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true
    void reply.code(401).send({error: 'unauthorized', message: 'Only the site\'s components start studio broadcasts.'})
    return false
  }
  const refuse = (reply: FastifyReply, status: number, message: string): FastifyReply => reply.code(status).header('cache-control', 'no-store').send({error: status >= 500 ? 'unavailable' : 'refused', message})

  const config = {csrf: false}
  app.post<{Params: {channel: string}}>(`${COSTREAM_PATH}/:channel`, {config}, async (request, reply) => {
    if (!authorized(request, reply)) return reply
    const body = costreamStartSchema.safeParse(request.body)
    if (!body.success) return refuse(reply, 400, 'Send the studio room, its host and a layout of 1, 2 or 4 tiles.')
    const {channel} = request.params
    if (!CHANNEL_PATTERN.test(channel)) return refuse(reply, 404, 'No channel has that name.')
    if (closing) return refuse(reply, 503, 'This server is restarting: try again in a moment.')
    if (sessions.has(channel) || starting.has(channel)) return refuse(reply, 409, 'The studio is on the air already.')
    starting.add(channel)
    try {
      return await goLive(reply, channel, body.data)
    } finally {
      starting.delete(channel)
    }
  })

  const goLive = async (reply: FastifyReply, channel: string, body: CostreamStart): Promise<FastifyReply> => {
    if (await options.liveNow(channel).catch(() => false)) return refuse(reply, 409, `${channel} is live from another encoder: end that broadcast first.`)
    const sfu = await placement(body.room).catch(() => undefined)
    if (sfu === undefined) return refuse(reply, 409, COSTREAM_EMPTY_ROOM)
    if (!options.hasSlot()) return refuse(reply, 503, 'This server has no room for another broadcast now: try again in a few minutes.')
    let key: string
    try {
      key = (await options.keys.browserKey(channel)).key
    } catch (error) {
      log.warn({channel, err: (error as Error).message}, 'costream: no key')
      return refuse(reply, 503, 'The server cannot go live right now: try again in a minute.')
    }
    const alias = options.alias(key)
    const url = `rtmp://127.0.0.1:${options.rtmpPort}/${RTMP_APP}/${alias.name}`
    const publisher = spawn(options.ffmpegPath ?? 'ffmpeg', publisherArgs(url), {stdio: ['pipe', 'ignore', 'pipe']})
    const session: Session = {
      id: randomBytes(6).toString('hex'),
      channel,
      room: body.room,
      host: body.host,
      layout: body.layout,
      sfu,
      since: Date.now(),
      publisher,
      publisherExited: new Promise<void>((resolve) => publisher.once('close', () => resolve())),
      publisherMovedAt: Date.now(),
      generations: 0,
      timeline: 0,
      retryAt: 0,
      packets: new Map(),
      candidates: [],
      used: new Set(),
      sampledAt: 0,
      quickFailures: 0,
      names: [],
    }
    sessions.set(channel, session)
    await options.redis.del(costreamEndedKey(channel)).catch(() => undefined)
    const sessionLog = log.child({channel})
    let stderr = ''
    let published = -1
    publisher.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      // Its output time moving on (newer ffmpeg prints its progress even while nothing comes).
      for (const match of text.matchAll(/^out_time_us=(\d+)/gm)) {
        if (Number(match[1]) > published) {
          published = Number(match[1])
          session.publisherMovedAt = Date.now()
        }
      }
      const errors = text.split('\n').filter((line) => line !== '' && !/^[a-z0-9_]+=/.test(line))
      if (errors.length > 0) stderr = `${stderr}\n${errors.join('\n')}`.slice(-2000)
    })
    publisher.stdin?.on('error', () => undefined)
    publisher.on('error', (error) => sessionLog.error({err: error.message}, 'costream: the publisher could not start'))
    const onRefused = (refusedKey: string, reason: RefuseReason, description: string): void => {
      if (refusedKey !== alias.name) return
      sessionLog.warn({reason}, `costream: the publish was refused: ${description}`)
      void end(session, `refused: ${reason}`)
    }
    let streamId: string | undefined
    const onLive = (liveKey: string, id: string): void => {
      if (liveKey !== alias.name) return
      streamId = id
      sessionLog.info({streamId}, 'costream: the studio is live')
    }
    const onEnded = (endedKey: string, id: string): void => {
      if (endedKey === alias.name && id === streamId) void end(session, 'the broadcast ended on the server')
    }
    events.on('refused', onRefused)
    events.on('live', onLive)
    events.on('ended', onEnded)
    void session.publisherExited.then(() => {
      events.off('refused', onRefused)
      events.off('live', onLive)
      events.off('ended', onEnded)
      alias.release()
      if (session.ending === undefined) sessionLog.warn({code: publisher.exitCode, stderr: stderr.trim().slice(-500)}, 'costream: the publisher exited')
      void end(session, 'the publisher exited')
    })
    try {
      await rebuild(session, true)
    } catch (error) {
      sessionLog.warn({err: (error as Error).message}, 'costream: the studio could not go live')
      await end(session, 'it could not start')
      return refuse(reply, 503, 'The studio could not go live: try again in a moment.')
    }
    return reply.code(201).header('cache-control', 'no-store').send({layout: session.layout, tiles: session.names})
  }

  app.put<{Params: {channel: string}}>(`${COSTREAM_PATH}/:channel`, {config}, async (request, reply) => {
    if (!authorized(request, reply)) return reply
    const body = costreamLayoutSchema.safeParse(request.body)
    if (!body.success) return refuse(reply, 400, 'Choose a layout of 1, 2 or 4 tiles.')
    const session = sessions.get(request.params.channel)
    if (session === undefined || session.ending !== undefined) return refuse(reply, 404, 'The studio is not on the air here.')
    session.layout = body.data.layout
    await rebuild(session).catch((error: unknown) => log.warn({err: (error as Error).message}, 'costream: the layout was not changed'))
    return reply.header('cache-control', 'no-store').send({layout: session.layout, tiles: session.names})
  })

  app.delete<{Params: {channel: string}}>(`${COSTREAM_PATH}/:channel`, {config}, async (request, reply) => {
    if (!authorized(request, reply)) return reply
    const session = sessions.get(request.params.channel)
    if (session === undefined) return refuse(reply, 404, 'The studio is not on the air here.')
    await end(session, 'the host ended it')
    return reply.code(204).header('cache-control', 'no-store').send()
  })

  return {
    sessions: () => sessions.size,
    close: async () => {
      closing = true
      clearInterval(watchdog)
      await Promise.allSettled([...sessions.values()].map((session) => end(session, 'the ingest is stopping')))
      subscriber.disconnect()
    },
  }
}
