/**
 * Real-time playback, the ingest's side (docs/whep.md). For a live stream of a channel with
 * real-time on, the ladder's ffmpeg sends the top rendition's video and an Opus encode of the
 * audio as RTP to a UDP socket here; this forwards it, from one socket whatever ffmpeg restarts,
 * to a plain RTP transport in a room on the least-loaded SFU, where the two tracks are producers
 * that the viewers' WHEP sessions consume. The room's place is kept in Redis (realtimeKey) while
 * the stream runs. An SFU that stops answering for the room is replaced by the next one (the old
 * room is left); its viewers' pages see the record change and play LL-HLS.
 */
import {randomBytes, randomInt} from 'node:crypto'
import dgram from 'node:dgram'

import type {Redis} from 'ioredis'

import {
  REALTIME_CODECS,
  REALTIME_TTL_SECONDS,
  realtimeKey,
  realtimeRecordSchema,
  type CallAck,
  type CallMethod,
  type CallRequest,
  type CallResults,
  type InternalRequest,
  type RegistryRecord,
} from '../contract/index.js'
import type {RealtimeOutput} from '../hls/ladder.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'
import {askSfu} from '../sfu/rpc-client.js'

/** How often the sender refreshes its Redis record and checks that its SFU still answers. */
const CHECK_EVERY_MS = 10_000
/** Checks in a row without an answer before the tracks move to another SFU. */
const MISSES_BEFORE_MOVING = 2
/** Sets the record unless it names a newer broadcast of the channel (a reconnect's), whose sender owns it now. */
const WRITE_UNLESS_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and type(decoded.streamId) == 'string' and decoded.streamId > ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`

export interface RealtimeSenderOptions {
  redis: Redis
  /** sfuRpcToken of the site's stream-key secret. */
  token: string
  log: Logger
}

/** One stream's real-time tracks on their way to an SFU. */
export interface RealtimeSender {
  /** What the ladder sends and where (its ffmpeg may restart: the same output again). */
  output: RealtimeOutput
  /** RTP packets forwarded to the SFU so far. */
  forwarded(): number
  /** Where the tracks are now (undefined while no SFU has them). */
  placement(): {sfu: string; room: string} | undefined
  close(): Promise<void>
}

interface Placement {
  sfu: RegistryRecord
  room: string
  peer: string
  target: {ip: string; port: number}
}

/** Starts forwarding for `channel`'s stream `streamId`; the SFU is found in the background (and again when it goes). */
export async function startRealtimeSender(options: RealtimeSenderOptions, channel: string, streamId: string, tracks: {audio: boolean}): Promise<RealtimeSender> {
  const {redis, token} = options
  const log = options.log.child({module: 'realtime', channel, streamId})
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    // On every address: ffmpeg sends to the loopback, and the SFU (another box, or a container on
    // the overlay network) is reached from the box's own address. Only the loopback's packets are forwarded.
    socket.bind(0, () => resolve())
  })
  socket.on('error', (error) => log.warn({err: error.message}, 'realtime: forwarding socket error'))
  const output: RealtimeOutput = {port: socket.address().port, videoSsrc: randomInt(1, 2 ** 31), audioSsrc: randomInt(1, 2 ** 31)}
  let placed: Placement | undefined
  let closed = false
  let forwarded = 0

  socket.on('message', (packet, from) => {
    // ffmpeg's RTP and RTCP, from this box; what the SFU sends back (receiver reports) is not needed.
    if (placed === undefined || from.address !== '127.0.0.1') return
    forwarded += 1
    socket.send(packet, placed.target.port, placed.target.ip)
  })

  const ask = async <M extends CallMethod>(at: Omit<Placement, 'target'>, request: CallRequest | InternalRequest, timeoutMs?: number): Promise<CallResults[M]> => {
    const ack = (await askSfu<M>(at.sfu, token, {room: at.room, peer: at.peer, user: {id: `realtime:${channel}`, name: channel}, internal: true, request}, timeoutMs)) as CallAck<M>
    if (!ack.ok) throw new Error(`${at.sfu.id}: ${request.method}: ${ack.error}`)
    return ack.result
  }

  /** The room on `sfu`: a plain transport that takes what comes (comedia) and a producer per track. */
  const placeOn = async (sfu: RegistryRecord): Promise<Placement> => {
    const at = {sfu, room: randomBytes(16).toString('base64url'), peer: `rt-${randomBytes(9).toString('base64url')}`}
    try {
      await ask(at, {method: 'join', room: at.room})
      const plain = await ask<'plainTransport'>(at, {method: 'plainTransport', direction: 'send'})
      const {video, audio} = REALTIME_CODECS
      await ask(at, {
        method: 'produce',
        transportId: plain.id,
        kind: 'video',
        source: 'camera',
        rtpParameters: {codecs: [{...video, parameters: {...video.parameters}, rtcpFeedback: []}], encodings: [{ssrc: output.videoSsrc}], rtcp: {cname: `shing-${channel}`}},
      })
      if (tracks.audio) {
        await ask(at, {
          method: 'produce',
          transportId: plain.id,
          kind: 'audio',
          source: 'mic',
          rtpParameters: {codecs: [{...audio, parameters: {}, rtcpFeedback: []}], encodings: [{ssrc: output.audioSsrc}], rtcp: {cname: `shing-${channel}`}},
        })
      }
      // An SFU listening on every address names none: its registry host is where it is reached.
      const ip = plain.ip === '0.0.0.0' || plain.ip === '::' ? sfu.host : plain.ip
      return {...at, target: {ip, port: plain.port}}
    } catch (error) {
      await ask(at, {method: 'leave'}, 2000).catch(() => undefined)
      throw error
    }
  }

  /** Whether the placement's SFU still has the room and this peer in it (it answers for it; a restarted SFU does not). */
  const alive = async (at: Placement): Promise<boolean> =>
    ask(at, {method: 'setRtpCapabilities', rtpCapabilities: {}}, 3000).then(
      () => true,
      () => false,
    )

  /** The channel's record names this placement, unless a newer broadcast of the channel wrote its own (stream ids sort by time). */
  const record = async (at: Placement): Promise<void> => {
    await redis.eval(WRITE_UNLESS_NEWER, 1, realtimeKey(channel), JSON.stringify({sfu: at.sfu.id, room: at.room, streamId}), streamId, REALTIME_TTL_SECONDS)
  }
  const written = (at: Placement): void => {
    record(at).catch((error: unknown) => log.warn({err: (error as Error).message}, 'realtime: the record is not written (Redis): viewers are not offered real time until it is'))
  }

  /** Places the tracks on the least-loaded SFU that takes them; the next one where one fails. */
  const place = async (avoid: ReadonlySet<string>): Promise<void> => {
    const nodes = (await listNodes(redis, 'sfu')).filter((node) => node.ports.http !== undefined && !avoid.has(node.id))
    for (const sfu of nodes) {
      if (closed) return
      try {
        const at = await placeOn(sfu)
        if (closed) {
          await ask(at, {method: 'leave'}, 2000).catch(() => undefined)
          return
        }
        placed = at
        written(at)
        log.info({sfu: sfu.id, room: at.room, target: `${at.target.ip}:${at.target.port}`}, 'realtime: tracks on an SFU')
        return
      } catch (error) {
        log.warn({sfu: sfu.id, err: (error as Error).message}, 'realtime: the SFU did not take the tracks; trying the next')
      }
    }
    if (nodes.length === 0) log.warn('realtime: no SFU runs: viewers play LL-HLS only')
  }

  let checking: Promise<void> = place(new Set()).catch((error: unknown) => log.warn({err: (error as Error).message}, 'realtime: not placed'))
  /** Checks in a row its SFU did not answer for the room: one slow answer is no move. */
  let misses = 0
  const timer = setInterval(() => {
    checking = checking.then(async () => {
      if (closed) return
      const at = placed
      if (at !== undefined && (await alive(at))) {
        misses = 0
        written(at)
        return
      }
      if (at !== undefined && (misses += 1) < MISSES_BEFORE_MOVING) return
      misses = 0
      if (at !== undefined) {
        log.warn({sfu: at.sfu.id}, 'realtime: the SFU does not answer for the room; placing the tracks on another')
        // Gone, or only slow: then its room (and the viewers on it) must not stay behind, frozen.
        void ask(at, {method: 'leave'}, 10_000).catch(() => undefined)
      }
      placed = undefined
      await place(at === undefined ? new Set() : new Set([at.sfu.id])).catch((error: unknown) => log.warn({err: (error as Error).message}, 'realtime: not placed'))
    })
  }, CHECK_EVERY_MS)
  timer.unref()

  return {
    output,
    forwarded: () => forwarded,
    placement: () => (placed === undefined ? undefined : {sfu: placed.sfu.id, room: placed.room}),
    close: async () => {
      closed = true
      clearInterval(timer)
      await checking
      const at = placed
      placed = undefined
      socket.close()
      if (at === undefined) return
      // The record goes only if it is still this stream's (a new broadcast may have written its own).
      const current = realtimeRecordSchema.safeParse(safeJson((await redis.get(realtimeKey(channel)).catch(() => null)) ?? ''))
      if (current.success && current.data.room === at.room) await redis.del(realtimeKey(channel)).catch(() => undefined)
      await ask(at, {method: 'leave'}, 5000).catch(() => undefined)
    },
  }
}
