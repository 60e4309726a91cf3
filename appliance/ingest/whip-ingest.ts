/**
 * WHIP, the ingest's side (docs/whip.md). The web hands an encoder's POST /whip/<channel> here; the
 * ingest checks the stream key, the channel and its own room, then places the session on the
 * least-loaded SFU: the encoder's WebRTC goes to a transport there (one producer per track), and
 * a plain RTP transport per track sends it back to an ffmpeg here, which copies H.264 (and
 * encodes anything else once to H.264 at the ladder's top) and publishes it to this ingest's own
 * RTMP server under a name standing for the key, as the browser bridge does. From there it is an RTMP publish like OBS's: the same gate,
 * ladder, relays, DVR and VOD. DELETE on the session's URL ends it; so does an encoder that stops
 * sending (its media stops reaching ffmpeg).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import dgram from 'node:dgram'
import {readFile} from 'node:fs/promises'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import {Redis} from 'ioredis'
import type {types} from 'mediasoup'
import {Counter, type Registry} from 'prom-client'

import type {StreamKeys} from '../channels/stream-keys.js'
import {
  CALL_EVENTS_CHANNEL,
  callEventMessageSchema,
  RTMP_APP,
  sfuRpcToken,
  turnCredentials,
  turnUrls,
  WHIP_OFFER_MAX_BYTES,
  WHIP_PATH,
  WHIP_RETRY_AFTER_SECONDS,
  WHIP_SESSION_PATTERN,
  whipSessionPath,
  type CallAck,
  type CallMethod,
  type CallResults,
  type InternalRequest,
  type CallRequest,
  type RegistryRecord,
} from '../contract/index.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import {reconnectDelay, type RedisEndpoint} from '../platform/redis.js'
import {listNodes} from '../registry/nodes.js'
import {askSfu, SfuUnreachable} from '../sfu/rpc-client.js'
import type {PublishEventBus} from './browser-ingest.js'
import type {RefuseReason} from './rtmp-ingest.js'
import {ffmpegSdp, readOffer, WhipOfferError, writeAnswer, type PlainStream, type TransportSide} from './whip-sdp.js'

export interface WhipIngestOptions {
  app: FastifyInstance
  /** The site's public host: TURN's address where an SFU's record names none of its own. */
  publicHost: string
  /** This ingest's registry id: it is in the session URLs, so that the web sends their DELETE here. */
  ingestId: string
  keys: StreamKeys
  redis: Redis
  /** Where Redis is: the session hears its SFU room's events on a connection of its own. */
  redisEndpoint: RedisEndpoint
  streamKeySecret: string
  rtmpPort: number
  ladderTop: {fps: number; videoKbps: number; height: number; segmentSeconds: number}
  events: PublishEventBus
  alias: (key: string) => {name: string; release(): void}
  liveNow: (channel: string) => Promise<boolean>
  /** Whether this ingest takes another broadcast now (a free ladder slot, a box that keeps up). */
  hasSlot: () => boolean
  registry: Registry
  log: Logger
  ffmpegPath?: string
}

export interface WhipIngest {
  sessions(): number
  /** Ends every session (the encoders see their connection close) and waits for their ffmpeg. */
  close(): Promise<void>
}

/** With no media reaching ffmpeg for this long, the encoder is gone: the broadcast ends. */
const MEDIA_SILENCE_MS = 10_000
/** An encoder whose media never arrives (ICE or DTLS never connected) is given up after this. */
const FIRST_MEDIA_MS = 30_000
/** After asking ffmpeg to stop: the time it gets before it is killed. */
const STOP_GRACE_MS = 5000
/** Keyframe requests after ffmpeg listens: a decoder that missed the first waits for the next. */
const KEYFRAME_REQUESTS_MS = [0, 1000, 3000]
/** Sessions one ingest holds at once (starting or running): more is a flood, not encoders. */
const MAX_SESSIONS = 32

interface Session {
  id: string
  channel: string
  /** sha256 of the stream key: DELETE must carry the same key. */
  keyHash: Buffer
  sfu: RegistryRecord
  room: string
  child?: ChildProcess
  exited?: Promise<void>
  /** Why it ended, once it did. */
  ending?: string
  /** Its SFU did not answer once: leaving it is tried briefly. */
  sfuGone?: boolean
  /** UDP ports handed to its ffmpeg (each with the next): held until it ends. */
  ports: number[]
}

/**
 * The SFU's TURN server as RFC 9725 hands ICE servers to an encoder (Link headers, rel
 * "ice-server"), with credentials for this channel: an encoder behind a strict NAT relays through
 * it. None when the SFU runs no TURN.
 */
export function iceServerLinks(sfu: RegistryRecord, publicHost: string, streamKeySecret: string, channel: string, now = Date.now()): string[] {
  const port = sfu.ports.turn
  if (port === undefined) return []
  const {username, credential} = turnCredentials(streamKeySecret, `whip:${channel}`, now)
  return turnUrls(sfu.publicHost ?? publicHost, port).map((url) => `<${url}>; rel="ice-server"; username="${username}"; credential="${credential}"; credential-type="password"`)
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest()
const bearer = (request: FastifyRequest): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]

/** A refusal as the WHIP RFC has them: a status, a sentence for the encoder's log, and its headers. */
function refuse(reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers({'cache-control': 'no-store', ...headers}).type('text/plain; charset=utf-8').send(`${message}\n`)
}

/** The address of this box that the SFU reaches it at (the interface its route to the SFU leaves by). */
export async function addressToward(host: string, port: number): Promise<string> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(port, host, () => resolve())
    })
    return socket.address().address
  } finally {
    socket.close()
  }
}

const bindUdp = (socket: dgram.Socket, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, () => resolve())
  })

/**
 * An even UDP port whose next is free too: ffmpeg binds both (RTP and RTCP) for each stream.
 * `held`: ports handed out already whose ffmpeg may not have bound them yet; never handed out twice.
 * `avoid`: a range to stay out of (the SFUs' WebRTC and TURN ports, where a box runs both).
 */
export async function udpPortPair(held: ReadonlySet<number> = new Set(), avoid?: {min: number; max: number}): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = dgram.createSocket('udp4')
    const second = dgram.createSocket('udp4')
    try {
      await bindUdp(first, 0)
      const port = first.address().port
      const outside = avoid === undefined || port + 1 < avoid.min || port > avoid.max
      if (port % 2 === 0 && port < 65_535 && outside && !held.has(port) && !held.has(port - 2)) {
        await bindUdp(second, port + 1)
        return port
      }
    } catch {
      // taken: another try
    } finally {
      first.close()
      try {
        second.close()
      } catch {
        // never bound
      }
    }
  }
  throw new Error('no free UDP port pair for the WHIP bridge')
}

/** Whether some process here has bound UDP `port` (Linux: /proc/net/udp*). */
export async function udpBound(port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    const text = await readFile(table, 'utf8').catch(() => '')
    if (text.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex.trim()))) return true
  }
  return false
}

/**
 * ffmpeg's arguments: the SFU's RTP (described by the SDP on stdin) → an RTMP publish at `url`.
 * H.264 (OBS, most encoders) is copied as it comes: the ladder encodes every rendition from it
 * anyway, with keyframes on its own segment boundaries. Anything else (VP8 from a browser) is
 * encoded once to H.264 at the ladder's top. Opus becomes AAC, which FLV carries.
 */
export function whipBridgeArgs(url: string, top: WhipIngestOptions['ladderTop'], video: 'copy' | 'encode'): string[] {
  const gop = Math.max(1, Math.round(top.fps * top.segmentSeconds))
  const videoArgs =
    video === 'copy'
      ? ['-c:v', 'copy']
      : [
          '-vf', `scale=-2:'min(${top.height},ih)':flags=bicubic`, '-fpsmax', String(top.fps),
          '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(gop),
          '-b:v', `${top.videoKbps}k`, '-maxrate', `${top.videoKbps}k`, '-bufsize', `${top.videoKbps * 2}k`,
        ]
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    '-progress', 'pipe:1', '-stats_period', '1',
    '-protocol_whitelist', 'pipe,udp,rtp',
    '-reorder_queue_size', '500',
    '-probesize', '2000000', '-analyzeduration', '3000000',
    '-f', 'sdp', '-i', 'pipe:0',
    '-map', '0:v:0?', '-map', '0:a:0?',
    ...videoArgs,
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-f', 'flv', url,
  ]
}

export function startWhipIngest(options: WhipIngestOptions): WhipIngest {
  const {app, log, events} = options
  const token = sfuRpcToken(options.streamKeySecret)
  const sessions = new Map<string, Session>()
  let closing = false
  const answered = new Counter({
    name: 'shing_ingest_whip_requests_total',
    help: 'WHIP offers answered, by HTTP status',
    labelNames: ['status'],
    registers: [options.registry],
  })

  /** UDP ports handed to the sessions' ffmpeg. */
  const heldPorts = new Set<number>()
  /** Channels whose offer is being placed on an SFU (between the checks and the session). */
  const placing = new Set<string>()
  const ask = async <M extends CallMethod>(session: Session, peer: string, request: CallRequest | InternalRequest, timeoutMs?: number): Promise<CallResults[M]> => {
    const ack = (await askSfu<M>(session.sfu, token, {room: session.room, peer, user: {id: session.channel, name: session.channel}, internal: true, request}, timeoutMs)) as CallAck<M>
    if (!ack.ok) throw new Error(`${session.sfu.id}: ${request.method}: ${ack.error}`)
    return ack.result
  }
  const publisher = (session: Session): string => `whip-${session.id}`
  const receiver = (session: Session): string => `whip-${session.id}-in`

  /** Both peers out of the SFU: the encoder's transport closes with them. Briefly where the SFU did not answer before (it may be slow, not gone). */
  const leaveSfu = async (session: Session): Promise<void> => {
    const timeout = session.sfuGone === true ? 2000 : 10_000
    await Promise.all([publisher(session), receiver(session)].map((peer) => ask(session, peer, {method: 'leave'}, timeout).catch(() => undefined)))
  }

  /** Ends a session: ffmpeg asked to finish (the RTMP publish ends, the broadcast goes offline), the SFU left. */
  const end = async (session: Session, why: string): Promise<void> => {
    if (session.ending !== undefined) return session.exited
    session.ending = why
    log.info({session: session.id, channel: session.channel, why}, 'whip: session ends')
    const child = session.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT')
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await session.exited
      clearTimeout(killer)
    }
    await leaveSfu(session)
    for (const port of session.ports) heldPorts.delete(port)
    sessions.delete(session.id)
  }

  /** Places the session on an SFU and builds both sides; returns the SDP answer. Stops where the session was ended meanwhile (the ingest stopping). */
  const place = async (session: Session, offer: string, key: string): Promise<string> => {
    const going = (): void => {
      if (session.ending !== undefined) throw new Error(`the session ended while it was being placed (${session.ending})`)
    }
    const joined = await ask<'join'>(session, publisher(session), {method: 'join', room: session.room})
    const routerCapabilities = joined.rtpCapabilities as types.RtpCapabilities
    const read = readOffer(offer, routerCapabilities)
    const transport = await ask<'createTransport'>(session, publisher(session), {method: 'createTransport', direction: 'send'})
    await ask(session, publisher(session), {method: 'connectTransport', transportId: transport.id, dtlsParameters: read.dtlsParameters as unknown as Record<string, unknown>})
    const produced: Array<{kind: 'audio' | 'video'; id: string}> = []
    for (const media of read.media) {
      const {id} = await ask<'produce'>(session, publisher(session), {
        method: 'produce',
        transportId: transport.id,
        kind: media.kind,
        rtpParameters: media.rtpParameters as unknown as Record<string, unknown>,
        source: media.kind === 'audio' ? 'mic' : 'camera',
      })
      produced.push({kind: media.kind, id})
    }
    const answer = writeAnswer(read, transport as unknown as TransportSide)
    going()

    // The receiving side: plain RTP, one transport per track (ffmpeg takes one stream per port), no retransmissions.
    const capabilities = {codecs: (routerCapabilities.codecs ?? []).filter((c) => !/\/rtx$/i.test(c.mimeType)), headerExtensions: []}
    await ask(session, receiver(session), {method: 'join', room: session.room, rtpCapabilities: capabilities as unknown as Record<string, unknown>})
    const ip = await addressToward(session.sfu.host, session.sfu.ports.http ?? 9)
    const streams: Array<PlainStream & {consumerId: string}> = []
    for (const producer of produced) {
      const plain = await ask<'plainTransport'>(session, receiver(session), {method: 'plainTransport', direction: 'recv'})
      const port = await udpPortPair(heldPorts)
      heldPorts.add(port)
      session.ports.push(port)
      await ask(session, receiver(session), {method: 'plainConnect', transportId: plain.id, ip, port})
      const consumer = await ask<'consume'>(session, receiver(session), {method: 'consume', transportId: plain.id, producerId: producer.id})
      streams.push({kind: producer.kind, port, rtpParameters: consumer.rtpParameters as types.RtpParameters, consumerId: consumer.id})
    }
    going()
    await bridge(session, key, ffmpegSdp(ip, streams), streams)
    return answer
  }

  /** ffmpeg from the SFU's RTP into this ingest's RTMP server; the consumers resumed once it listens. */
  const bridge = async (session: Session, key: string, sdp: string, streams: Array<PlainStream & {consumerId: string}>): Promise<void> => {
    const bridgeLog = log.child({session: session.id, channel: session.channel})
    const alias = options.alias(key)
    const url = `rtmp://127.0.0.1:${options.rtmpPort}/${RTMP_APP}/${alias.name}`
    const videoCodec = streams.find((s) => s.kind === 'video')?.rtpParameters.codecs[0]?.mimeType.toLowerCase()
    const child = spawn(options.ffmpegPath ?? 'ffmpeg', whipBridgeArgs(url, options.ladderTop, videoCodec === 'video/h264' ? 'copy' : 'encode'), {stdio: ['pipe', 'pipe', 'pipe']})
    session.child = child
    session.exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000)
    })
    child.on('error', (error) => bridgeLog.error({err: error.message}, 'whip: ffmpeg could not start'))
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(sdp)

    // Media reaching ffmpeg shows as its output time moving on; an encoder gone shows as it standing still.
    const started = Date.now()
    let outTime = -1
    let movedAt: number | undefined
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/^out_time_us=(\d+)/gm)) {
        const value = Number(match[1])
        if (value !== outTime) {
          outTime = value
          movedAt = Date.now()
        }
      }
    })
    const watchdog = setInterval(() => {
      const now = Date.now()
      if (movedAt === undefined ? now - started > FIRST_MEDIA_MS : now - movedAt > MEDIA_SILENCE_MS) {
        void end(session, movedAt === undefined ? 'no media arrived (the encoder never connected)' : 'the encoder stopped sending')
      }
    }, 1000)

    const name = alias.name
    let streamId: string | undefined
    const onRefused = (refusedKey: string, reason: RefuseReason, description: string): void => {
      if (refusedKey !== name) return
      bridgeLog.warn({reason}, `whip: the publish was refused: ${description}`)
      void end(session, `refused: ${reason}`)
    }
    const onLive = (liveKey: string, id: string): void => {
      if (liveKey !== name) return
      streamId = id
      bridgeLog.info({streamId}, 'whip broadcast live')
    }
    const onEnded = (endedKey: string, id: string): void => {
      if (endedKey === name && id === streamId) void end(session, 'the broadcast ended on the server')
    }
    events.on('refused', onRefused)
    events.on('live', onLive)
    events.on('ended', onEnded)
    void session.exited.then(() => {
      clearInterval(watchdog)
      events.off('refused', onRefused)
      events.off('live', onLive)
      events.off('ended', onEnded)
      alias.release()
      if (session.ending === undefined) bridgeLog.warn({code: child.exitCode, stderr: stderr.trim().slice(-500)}, 'whip: ffmpeg exited')
      void end(session, 'ffmpeg exited')
    })

    // Resumed (and a keyframe asked for) only once ffmpeg listens: the first keyframe is not lost.
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && child.exitCode === null) {
      const bound = await Promise.all(streams.map((s) => udpBound(s.port)))
      if (bound.every(Boolean)) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (child.exitCode !== null) throw new Error(`ffmpeg exited at once: ${stderr.trim().slice(-300)}`)
    for (const stream of streams) await ask(session, receiver(session), {method: 'resumeConsumer', consumerId: stream.consumerId})
    const video = streams.find((s) => s.kind === 'video')
    if (video !== undefined) {
      for (const delay of KEYFRAME_REQUESTS_MS) {
        setTimeout(() => {
          if (session.ending === undefined) void ask(session, receiver(session), {method: 'requestKeyFrame', consumerId: video.consumerId}).catch(() => undefined)
        }, delay).unref()
      }
    }
  }

  // The encoder closing its connection (OBS stopping without a DELETE, a closed tab) ends the
  // broadcast at once: its peer leaves the room on the SFU, which says so. A network that is
  // simply gone is noticed by the watchdog instead. An SFU that stops ends its sessions too.
  const subscriber = new Redis({...options.redisEndpoint, connectionName: 'whip', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  subscriber.on('error', (error: Error) => log.debug({err: error.message}, 'whip redis error'))
  subscriber.subscribe(CALL_EVENTS_CHANNEL).catch((error: unknown) => log.warn({err: (error as Error).message}, 'whip: not subscribed to the SFU events; an encoder that leaves is noticed by its silence'))
  subscriber.on('message', (_channel, message) => {
    const parsed = callEventMessageSchema.safeParse(safeJson(message))
    if (!parsed.success) return
    const {room, event} = parsed.data
    const session = [...sessions.values()].find((s) => s.room === room)
    if (session === undefined || session.ending !== undefined || session.child === undefined) return
    if (event.type === 'peerLeft' && event.peer === publisher(session)) void end(session, 'the encoder closed its connection')
    else if (event.type === 'roomClosed' && event.sfu === session.sfu.id) void end(session, `the SFU closed the room: ${event.reason}`)
  })

  app.addContentTypeParser('application/sdp', {parseAs: 'string', bodyLimit: WHIP_OFFER_MAX_BYTES}, (_request, body, done) => done(null, body))

  app.post<{Params: {channel: string}; Body: string}>(`${WHIP_PATH}/:channel`, async (request, reply) => {
    await publish(request, reply)
    answered.inc({status: String(reply.statusCode)})
    return reply
  })

  const publish = async (request: FastifyRequest<{Params: {channel: string}; Body: string}>, reply: FastifyReply): Promise<FastifyReply> => {
    const {channel} = request.params
    const key = bearer(request)
    const unauthorized = {'www-authenticate': 'Bearer realm="whip"'}
    if (key === undefined) return refuse(reply, 401, 'Send the channel\'s stream key as the Bearer token (OBS: the WHIP "Bearer Token" field)', unauthorized)
    if (typeof request.body !== 'string' || request.body.length === 0) return refuse(reply, 400, 'Send the SDP offer as the body, with Content-Type: application/sdp')
    if (closing) return refuse(reply, 503, 'This server is restarting: try again in a moment', {'retry-after': '5'})
    let lookup: Awaited<ReturnType<StreamKeys['lookup']>>
    try {
      lookup = await options.keys.lookup(key)
    } catch {
      return refuse(reply, 503, 'The server cannot check stream keys right now: try again in a minute', {'retry-after': String(WHIP_RETRY_AFTER_SECONDS)})
    }
    if (lookup.status === 'unknown') return refuse(reply, 401, 'This stream key is not valid: copy it again from your channel\'s dashboard', unauthorized)
    if (lookup.status === 'revoked') return refuse(reply, 401, 'This stream key was revoked: create a new one on your channel\'s dashboard', unauthorized)
    if (lookup.channel !== channel) return refuse(reply, 401, `This stream key is not ${channel}'s: publish to ${WHIP_PATH}/${lookup.channel}, or use ${channel}'s key`, unauthorized)
    if (lookup.status === 'disabled') return refuse(reply, 403, `${channel} is disabled by the site's moderators: your dashboard says why`)
    if (await options.liveNow(channel).catch(() => false)) return refuse(reply, 409, `${channel} is already live from another encoder: stop that one first`)
    if (placing.has(channel) || [...sessions.values()].some((other) => other.channel === channel && other.ending === undefined)) {
      return refuse(reply, 409, `A WHIP session of ${channel} is starting or running: end it (DELETE its URL) first, or wait until it has ended`)
    }
    if (sessions.size >= MAX_SESSIONS) return refuse(reply, 503, 'This server is starting too many broadcasts at once: try again in a moment', {'retry-after': '5'})
    if (!options.hasSlot()) return refuse(reply, 503, 'This server has no room for another broadcast now: try again in a few minutes', {'retry-after': String(WHIP_RETRY_AFTER_SECONDS)})
    // The channel is taken from here on (two offers at once: the second is refused above), until this one is placed or not.
    placing.add(channel)
    try {
      return await placeOnSfu(request, reply, channel, key)
    } finally {
      placing.delete(channel)
    }
  }

  const placeOnSfu = async (request: FastifyRequest<{Params: {channel: string}; Body: string}>, reply: FastifyReply, channel: string, key: string): Promise<FastifyReply> => {
    const sfus = (await listNodes(options.redis, 'sfu').catch(() => [])).filter((node) => node.ports.http !== undefined)
    if (sfus.length === 0) return refuse(reply, 503, 'No WebRTC server (SFU) is running on this site: publish over RTMP, or ask the admin (shing status)', {'retry-after': String(WHIP_RETRY_AFTER_SECONDS)})

    // The least loaded first; one that does not answer (gone, its record not yet expired) gives way to the next.
    // An encoder that stops waiting (the web gave up, the connection closed) leaves no session behind.
    let abandoned = false
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded) abandoned = true
    })
    for (const sfu of sfus.slice(0, 3)) {
      const session: Session = {id: randomBytes(16).toString('base64url'), channel, keyHash: sha256(key), sfu, room: randomBytes(16).toString('base64url'), ports: []}
      sessions.set(session.id, session)
      try {
        const answer = await place(session, request.body, key)
        if (abandoned) {
          await end(session, 'the encoder stopped waiting for the answer')
          return reply
        }
        log.info({session: session.id, channel, sfu: sfu.id}, 'whip: session placed')
        const links = iceServerLinks(sfu, options.publicHost, options.streamKeySecret, channel)
        if (links.length > 0) reply.header('link', links)
        return reply
          .code(201)
          .headers({'cache-control': 'no-store', location: whipSessionPath(channel, options.ingestId, session.id), etag: `"${session.id}"`})
          .type('application/sdp')
          .send(answer)
      } catch (error) {
        if (error instanceof SfuUnreachable) session.sfuGone = true
        await end(session, 'the offer could not be taken')
        if (error instanceof WhipOfferError) return refuse(reply, 400, error.message)
        if (closing || abandoned) break
        // Another SFU may take it: this one is gone, stopping, or failed.
        log.warn({session: session.id, channel, sfu: sfu.id, err: (error as Error).message}, 'whip: the SFU could not take the session; trying the next')
      }
    }
    return refuse(reply, 503, 'The WebRTC server could not take the broadcast: try again in a moment', {'retry-after': '5'})
  }

  app.delete<{Params: {channel: string; ingest: string; session: string}}>(`${WHIP_PATH}/:channel/:ingest/:session`, async (request, reply) => {
    const {session: id} = request.params
    const session = WHIP_SESSION_PATTERN.test(id) ? sessions.get(id) : undefined
    if (session === undefined || session.channel !== request.params.channel) return refuse(reply, 404, 'No such WHIP session here (it ended already)')
    const key = bearer(request)
    if (key === undefined || !timingSafeEqual(sha256(key), session.keyHash)) {
      return refuse(reply, 401, 'Send the stream key the session was made with as the Bearer token', {'www-authenticate': 'Bearer realm="whip"'})
    }
    await end(session, 'the encoder ended it (DELETE)')
    return reply.code(200).header('cache-control', 'no-store').send()
  })

  return {
    sessions: () => sessions.size,
    close: async () => {
      closing = true
      await Promise.allSettled([...sessions.values()].map((session) => end(session, 'the ingest is stopping')))
      subscriber.disconnect()
    },
  }
}
