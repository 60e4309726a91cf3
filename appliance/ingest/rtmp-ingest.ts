import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import NodeMediaServer from 'node-media-server'
import nmsLogger from 'node-media-server/src/core/logger.js'
import {Counter} from 'prom-client'

import {realtimeOn} from '../channels/channels.js'
import {StreamKeys} from '../channels/stream-keys.js'
import {buildStreamState, renditionsOf, StreamRecords, StreamStates} from '../channels/stream-state.js'
import {LIVE_PREFIX, REGISTRY_TTL_SECONDS, RTMP_APP, rtmpUrl, streamStatsKey, type StreamState} from '../contract/index.js'
import {ladderRungs, type LadderTracks} from '../hls/ladder.js'
import {isLivePathError, parseLivePath} from '../hls/live-paths.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import type {ComponentContext, RunningComponent} from '../platform/component.js'
import {createHttpServer, listen, type HealthCheck} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {startHeartbeat} from '../registry/heartbeat.js'
import {PublishEventBus, startBrowserIngest} from './browser-ingest.js'
import type {CapacityState} from './capacity.js'
import {LiveMeter} from './live-meter.js'
import {startCostreams} from './costream.js'
import {startWhipIngest} from './whip-ingest.js'
import {installPublishGate, isPublisherOf, noPublishGrace, publishMetadata, refuseAfterStart, tapPackets, type PublishDecision, type RefusalCode} from './nms.js'
import {judgeTracks, SourceInspector, type LadderTop, type SourceTracks} from './source.js'

/** A publish that passed the key check and holds its channel's stream state. */
export interface AcceptedPublish {
  channel: string
  /** The RTMP stream name; never log it. */
  streamKey: string
  state: StreamState
  /** What the source sends: the ladder encodes these. */
  tracks: LadderTracks
  /** rtmp://127.0.0.1:<port>/live/<key>: where a local ffmpeg plays the publish back from. */
  inputUrl: string
  /** The channel has real-time playback (WHEP) on: the ladder also sends its top rendition to an SFU. */
  realtime: boolean
  /** Ends the publish from our side (its ladder died): the publisher is dropped, onPublishEnded follows. */
  end(reason: string): void
}

/** One answer of the ingest's HLS origin (what LlHlsPackager.handle returns). */
export interface OriginResponse {
  status: number
  headers: Record<string, string>
  body: Buffer | string
}

/** What the ladder adds to the registry heartbeat. */
export interface LadderLoad {
  /** CPU time (µs) of the ladder's processes since the ingest started (monotonic). */
  extraCpuMicros: number
  capacity: CapacityState
  /** More ladders the box has measured room for (undefined while nothing runs to measure by). */
  headroom?: number
}

/**
 * The single place the ladder plugs in. onPublishAccepted runs once the channel is ours (a throw
 * ends the publish); onPublishEnded once the publisher left, after the channel shows offline.
 */
export interface PublishHooks {
  onPublishAccepted(publish: AcceptedPublish): Promise<void>
  onPublishEnded(publish: AcceptedPublish): Promise<void>
  /** GET /live/<channel>/<path>: the channel's HLS as relays pull it; undefined when it is not live here. */
  serve?(channel: string, path: string, query: URLSearchParams): Promise<OriginResponse | undefined>
  load?(): LadderLoad
  /** Whether the box keeps up now; a full one takes no new publish. */
  capacity?(): CapacityState
  /** After every publish ended, on stop. */
  close?(): Promise<void>
}
export type PublishHooksFactory = (ctx: ComponentContext<'ingest'>) => PublishHooks

export const refuseReasons = ['bad-path', 'bad-key', 'revoked', 'disabled', 'already-live', 'no-slot', 'lookup-failed', 'unsupported', 'start-failed'] as const
export type RefuseReason = (typeof refuseReasons)[number]

/** Stream keys as newStreamKey makes them (32 random bytes, base64url): anything else is no key. */
const STREAM_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** The RTMP status each refusal gets: BadName for what the streamer must change, Rejected for "not now". */
const refusalCodes: {[R in RefuseReason]: RefusalCode} = {
  'bad-path': 'NetStream.Publish.BadName',
  'bad-key': 'NetStream.Publish.BadName',
  revoked: 'NetStream.Publish.BadName',
  disabled: 'NetStream.Publish.BadName',
  'already-live': 'NetStream.Publish.BadName',
  'no-slot': 'NetStream.Publish.Rejected',
  'lookup-failed': 'NetStream.Publish.Rejected',
  unsupported: 'NetStream.Publish.Rejected',
  'start-failed': 'NetStream.Publish.Rejected',
}

/** node-media-server logs stream paths (`push /live/<key>`, `streamPath=…`, `name=<key>`): keep keys out of our log. */
export function redactStreamNames(message: string): string {
  return message.replace(/((?:push|play|streamPath=) ?\/[^/\s]*\/)[^\s,]+/g, '$1[key]').replace(/name=[^\s,]+/g, 'name=[key]')
}

/** node-media-server prints plain text with console.log: route it into our JSON log instead. */
function captureNmsLogs(log: Logger): void {
  const levels = {trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error'} as const
  nmsLogger.log = (message: string, level = 'info') => {
    const method = levels[level as keyof typeof levels] ?? 'info'
    log[method](redactStreamNames(message))
  }
}

/** Session ips are "address:port". */
const isLoopback = (ip: string): boolean => ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(ip.replace(/:\d+$/, ''))

/** How long a publish may take to show its tracks before it is judged with what came. */
const INSPECT_GIVE_UP_MS = 5000
/** How long the source is watched for settings that hurt (a few keyframe intervals). */
const WATCH_SETTINGS_MS = 20_000

/** Between the gate's yes and node-media-server's prePublish: the key's channel and a held slot. */
interface Reservation {
  channel: string
  keyId: string
  timer: NodeJS.Timeout
}

interface TrackedPublish {
  session: NodeMediaServer.Session
  channel: string
  keyId: string
  /** inspecting: its tracks are being read, it is not live yet. */
  phase: 'inspecting' | 'accepted' | 'ending'
  /** The publisher left. */
  closed: boolean
  publish?: AcceptedPublish
  /** Measures the encoder all through the broadcast, for the streamer's dashboard. */
  meter?: LiveMeter
  /** Stops reading the publish's packets. */
  untap?: () => void
}

/**
 * Ingest: node-media-server takes RTMP from OBS at /live/<stream key>. Each publish is decided
 * before it is answered (the key, the channel not live anywhere, room on this box), and refused
 * with an RTMP status the encoder shows; then its tracks are read, and only a source the ladder
 * can take goes live. It registers with its live publishes and the ladder slots it has room for.
 */
export async function startIngest(ctx: ComponentContext<'ingest'>, hooksFor: PublishHooksFactory): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const maxLadders = env.profile.ingest.maxLadders
  const origin = `${ctx.host}:${ctx.ports.http}`
  const serverUrl = rtmpUrl(env.SHING_BOX_PUBLIC_HOST ?? env.SHING_PUBLIC_HOST, ctx.ports.rtmp)
  const mongo = ctx.mongo()
  const storage = ctx.storage()
  const keys = new StreamKeys({db: mongo.db, redis, secret: ctx.secret('streamKeySecret')})
  const states = new StreamStates(redis)
  const records = new StreamRecords(mongo.db)
  const hooks = hooksFor(ctx)
  /** What the browser sockets hear of the publishes they made (by the names they publish under). */
  const events = new PublishEventBus()
  events.setMaxListeners(0)
  /** A browser bridge's publish name → the stream key it stands for. */
  const aliases = new Map<string, string>()
  captureNmsLogs(log.child({module: 'nms'}))

  // Its store (relay tasks, history) is per process: nothing in it must outlive the container.
  const store = await mkdtemp(path.join(os.tmpdir(), 'shing-ingest-'))
  const nms = new NodeMediaServer({
    bind: env.SHING_BIND_HOST,
    rtmp: {port: ctx.ports.rtmp},
    store: {path: store},
    record: {auto: false, path: path.join(store, 'record')},
    notify: {url: ''},
    webadmin: {enable: false},
  })
  const rtmpServer = nms.rtmpServer.tcpServer
  if (rtmpServer === undefined) throw new Error('node-media-server made no RTMP server')

  const tracked = new Map<string, TrackedPublish>()
  const reservations = new Map<string, Reservation>()
  const accepted = (): TrackedPublish[] => [...tracked.values()].filter((t) => t.phase === 'accepted')
  /** Slots held: reserved by the gate, then by the publish until its ladder stopped. */
  let slotsUsed = 0
  const capacity = (): CapacityState => hooks.capacity?.() ?? {full: false, behind: []}
  const load = (): {streams: number; slotsUsed: number; slotsFree: number} => {
    const ladder = hooks.load?.()
    const configured = Math.max(0, maxLadders - slotsUsed)
    const measured = ladder?.capacity.full ? 0 : (ladder?.headroom ?? configured)
    return {streams: accepted().length, slotsUsed, slotsFree: Math.min(configured, measured)}
  }
  metrics.gauge('shing_ingest_streams', 'Live publishes on this ingest (accepted)', () => load().streams)
  metrics.gauge('shing_ingest_slots_used', 'Ladder slots in use', () => load().slotsUsed)
  metrics.gauge('shing_ingest_slots_free', 'Ladder slots free: the configured ones, fewer when the box measures less room', () => load().slotsFree)
  const refusedTotal = new Counter({
    name: 'shing_ingest_publish_refused_total',
    help: 'RTMP publishes refused, by reason',
    labelNames: ['reason'],
    registers: [metrics.registry],
  })
  for (const reason of refuseReasons) refusedTotal.inc({reason}, 0)
  const acceptedTotal = new Counter({name: 'shing_ingest_publish_accepted_total', help: 'RTMP publishes accepted', registers: [metrics.registry]})

  /** A refusal: counted, logged with what the admin can do, the encoder told why. */
  const refusal = (reason: RefuseReason, description: string, details: Record<string, unknown>): PublishDecision & {reason?: RefuseReason} => {
    refusedTotal.inc({reason})
    log.warn({reason, ...details}, `publish refused (${reason}): ${description}`)
    return {accept: false, code: refusalCodes[reason], description, reason}
  }

  let stopping = false
  const decide = async (request: {sessionId: string; ip: string; app: string; name: string}): Promise<PublishDecision & {reason?: RefuseReason}> => {
    const details = {session: request.sessionId, ip: request.ip}
    if (stopping) return refusal('no-slot', 'This server is restarting: publish again in a moment', {...details, fix: 'the ingest is shutting down'})
    if (request.app !== RTMP_APP) {
      return refusal('bad-path', `Set the encoder's server to ${serverUrl}`, {...details, app: request.app.slice(0, 64), fix: `the server URL must end in /${RTMP_APP}`})
    }
    // A browser broadcast's bridge publishes under a name of its own, standing for its key (over
    // loopback only), so that what happens to its publish is told to its socket and no other.
    const aliased = isLoopback(request.ip) ? aliases.get(request.name) : undefined
    const key = aliased ?? request.name
    // A key never has another character (nor a ?query): refused as a key, never looked up.
    if (!STREAM_KEY_PATTERN.test(key)) {
      return refusal('bad-key', 'This stream key is not valid: copy it again from where you got it', {...details, fix: 'not a stream key (43 letters, digits, - and _); the streamer should copy it again'})
    }
    let lookup: Awaited<ReturnType<StreamKeys['lookup']>>
    try {
      lookup = await keys.lookup(key)
    } catch (error) {
      return refusal('lookup-failed', 'The server cannot check stream keys right now: try again in a minute', {
        ...details,
        err: (error as Error).message,
        fix: 'MongoDB or Redis does not answer: see shing status',
      })
    }
    if (lookup.status === 'unknown') {
      return refusal('bad-key', 'This stream key is not valid: copy it again from where you got it', {...details, fix: 'no such key: the streamer should copy it again (shing stream-key list shows the key ids)'})
    }
    const {channel, keyId} = lookup
    if (lookup.status === 'revoked') {
      return refusal('revoked', 'This stream key was revoked: ask for a new one', {...details, channel, keyId, fix: `create a new key: shing stream-key create ${channel}`})
    }
    if (lookup.status === 'disabled') {
      return refusal('disabled', `${channel} is disabled by the site's moderators: your dashboard says why`, {...details, channel, keyId, fix: 'a moderator disabled the channel (admin area, Channels); enabling it lets it publish'})
    }
    // A broadcast of the channel still winding down here (ending) does not count: the streamer's
    // reconnect is taken while the last one's ladder finishes.
    const here = [...reservations.values()].some((r) => r.channel === channel) || [...tracked.values()].some((t) => t.channel === channel && t.phase !== 'ending')
    if (here || (await states.get(channel).catch(() => undefined)) !== undefined) {
      return refusal('already-live', `${channel} is already live from another encoder: stop that one first`, {...details, channel, keyId, fix: 'a second encoder publishes the channel'})
    }
    const room = capacity()
    // Checked and taken in one synchronous step: two publishes here cannot both get the last slot.
    // The slots free are the configured ones, fewer when the box measures less room (load()).
    if (room.full || load().slotsFree <= 0) {
      const why = room.full
        ? (room.reason ?? 'the box is behind realtime')
        : slotsUsed >= maxLadders
          ? `all ${maxLadders} ladder slots are in use`
          : 'the box has no CPU to spare for another ladder (measured)'
      return refusal('no-slot', 'This server has no room for another broadcast now: try again in a few minutes', {
        ...details,
        channel,
        keyId,
        why,
        fix: 'wait for a broadcast to end, or give the ingest a bigger box (hardware.ingestMaxLadders caps the slots)',
      })
    }
    slotsUsed += 1
    // node-media-server emits prePublish right after it answers; a reservation it never claims goes back.
    const timer = setTimeout(() => {
      if (reservations.delete(request.sessionId)) slotsUsed -= 1
    }, 10_000)
    timer.unref()
    reservations.set(request.sessionId, {channel, keyId, timer})
    return {accept: true}
  }
  const uninstallGate = installPublishGate(async (request) => {
    const decision = await decide(request)
    if (!decision.accept) events.emit('refused', request.name, decision.reason ?? 'lookup-failed', decision.description)
    return decision
  })

  const listening = once(rtmpServer, 'listening')
  await nms.run()
  await listening
  log.info({port: ctx.ports.rtmp}, 'rtmp listening')

  const rtmpCheck: HealthCheck = {
    name: 'rtmp',
    kind: 'self',
    run: async () => {
      if (!rtmpServer.listening) throw new Error('RTMP server is not listening')
    },
  }
  const app = createHttpServer({component: 'ingest', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage), rtmpCheck], metrics, log})
  // Relays pull each object once: this counter is how that is checked.
  const originRequests = new Counter({
    name: 'shing_ingest_origin_requests_total',
    help: 'HLS requests served to relays, by object kind (blocking-playlist: with _HLS_msn)',
    labelNames: ['kind'],
    registers: [metrics.registry],
  })
  const offline = {error: 'offline'}
  app.get(`${LIVE_PREFIX}/*`, async (request, reply) => {
    const url = request.raw.url ?? ''
    const parsed = parseLivePath(url)
    if (isLivePathError(parsed)) return reply.code(parsed.status).header('cache-control', 'no-store').send({error: parsed.message})
    originRequests.inc({kind: parsed.blocking === undefined ? parsed.kind : 'blocking-playlist'})
    const question = url.indexOf('?')
    const query = new URLSearchParams(question === -1 ? '' : url.slice(question + 1))
    const answer = await hooks.serve?.(parsed.channel, parsed.path, query)
    if (answer === undefined) return reply.code(404).header('cache-control', 'no-store').send(offline)
    return reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
  // Browser broadcasts (Go live): a WebSocket on the same port, fed into the RTMP server above.
  const top = env.profile.ladder[0]!
  /** A bridge's own publish name, standing for `key` (the RTMP gate resolves it). */
  const browserAlias = (key: string): {name: string; release(): void} => {
    const name = `browser-${randomBytes(12).toString('hex')}`
    aliases.set(name, key)
    return {name, release: () => aliases.delete(name)}
  }
  // A broadcast of the channel still winding down here does not count (as for RTMP).
  const liveNow = async (channel: string): Promise<boolean> => {
    const here = [...tracked.values()].filter((t) => t.channel === channel)
    if (here.some((t) => t.phase !== 'ending')) return true
    return here.length === 0 && (await states.get(channel)) !== undefined
  }
  const browsers = startBrowserIngest({
    server: app.server,
    secret: ctx.secret('streamKeySecret'),
    keys,
    redis,
    rtmpPort: ctx.ports.rtmp,
    ladderTop: {fps: top.fps, videoKbps: top.videoKbps, segmentSeconds: env.profile.hls.segmentSeconds},
    events,
    alias: browserAlias,
    liveNow,
    registry: metrics.registry,
    log: log.child({module: 'browser-ingest'}),
  })
  metrics.gauge('shing_ingest_browser_sockets', 'Browser broadcast sockets open on this ingest', () => browsers.sockets())
  // WHIP (WebRTC from OBS 30+ and others) and studios (co-streaming: a call room's people
  // composited into one broadcast): media from an SFU, bridged into the same RTMP server.
  const bridged = {
    app,
    ingestId: ctx.id,
    keys,
    redis,
    redisEndpoint: ctx.redisEndpoint,
    streamKeySecret: ctx.secret('streamKeySecret'),
    rtmpPort: ctx.ports.rtmp,
    ladderTop: {fps: top.fps, videoKbps: top.videoKbps, height: top.height, segmentSeconds: env.profile.hls.segmentSeconds},
    events,
    alias: browserAlias,
    liveNow,
    hasSlot: () => !stopping && !capacity().full && load().slotsFree > 0,
  }
  const whip = startWhipIngest({...bridged, publicHost: env.SHING_PUBLIC_HOST, registry: metrics.registry, log: log.child({module: 'whip'})})
  metrics.gauge('shing_ingest_whip_sessions', 'WHIP sessions on this ingest', () => whip.sessions())
  const costreams = startCostreams({...bridged, log: log.child({module: 'costream'}), webrtcPorts: {min: env.SHING_WEBRTC_MIN_PORT, max: env.SHING_WEBRTC_MAX_PORT}})
  metrics.gauge('shing_ingest_costream_sessions', 'Studio broadcasts (co-streams) composited on this ingest', () => costreams.sessions())
  await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

  /** Keeps each live channel's state alive with the registry record; gives up a channel another ingest took. */
  const refreshStates = async (): Promise<void> => {
    await Promise.all(
      accepted().map(async (t) => {
        const publish = t.publish
        if (publish === undefined) return
        try {
          if ((await states.refresh(publish.state)) === 'lost') {
            log.error({channel: publish.channel, streamId: publish.state.streamId}, 'another ingest holds this channel now; ending the publish')
            t.session.close()
            return
          }
          // A key revoked while it publishes (from the dashboard, the terminal, or a ban), or its channel disabled by a moderator, ends the broadcast.
          const {status} = await keys.lookup(publish.streamKey)
          if (status !== 'ok') {
            log.warn({channel: publish.channel, keyId: t.keyId, streamId: publish.state.streamId, status}, `${status === 'disabled' ? 'a moderator disabled the channel' : 'the stream key of this broadcast was revoked'}; ending the publish`)
            t.session.close()
          } else if (await states.endRequested(publish.state)) {
            log.warn({channel: publish.channel, streamId: publish.state.streamId}, 'an admin ended this broadcast; ending the publish')
            t.session.close()
          } else if (t.meter !== undefined) {
            const metadata = publishMetadata(t.session)
            if (metadata !== undefined) t.meter.setMetadata(metadata)
            await redis.set(streamStatsKey(publish.channel), JSON.stringify(t.meter.stats(Date.now(), ladderTop())), 'EX', REGISTRY_TTL_SECONDS)
          }
        } catch (error) {
          log.warn({channel: publish.channel, err: (error as Error).message}, 'stream state refresh failed; it expires unless the next one gets through')
        }
      }),
    )
  }
  const heartbeat = startHeartbeat({
    redis,
    role: 'ingest',
    id: ctx.id,
    host: ctx.host,
    ...(env.SHING_BOX_PUBLIC_HOST === undefined ? {} : {publicHost: env.SHING_BOX_PUBLIC_HOST}),
    ports: {rtmp: ctx.ports.rtmp, http: ctx.ports.http},
    load: async () => {
      await refreshStates()
      return {...load(), viewers: 0, egressBitsPerSecond: 0, ...(hooks.load === undefined ? {} : {extraCpuMicros: hooks.load().extraCpuMicros})}
    },
    log,
  })

  const release = (t: TrackedPublish): void => {
    if (tracked.delete(t.session.id)) slotsUsed -= 1
  }

  /** Ends a publish that was answered but never went live (its source, or a lost claim). */
  const refuseStarted = (t: TrackedPublish, reason: RefuseReason, description: string, details: Record<string, unknown>): void => {
    refusal(reason, description, {session: t.session.id, ip: t.session.ip, channel: t.channel, keyId: t.keyId, ...details})
    events.emit('refused', t.session.streamName, reason, description)
    release(t)
    refuseAfterStart(t.session, refusalCodes[reason], description)
  }

  const endPublish = async (t: TrackedPublish): Promise<void> => {
    const publish = t.publish
    if (t.phase === 'ending' || publish === undefined) return
    t.phase = 'ending'
    const {channel, state} = publish
    // Offline first, so the streamer's reconnect is accepted while the ladder winds down.
    t.untap?.()
    await states.release(state).catch((error: Error) => log.warn({channel, err: error.message}, 'could not delete the stream state; it expires by its TTL'))
    await redis.del(streamStatsKey(channel)).catch(() => undefined)
    await records.ended(state.streamId).catch((error: Error) => log.warn({channel, err: error.message}, 'could not mark the stream ended'))
    try {
      await hooks.onPublishEnded(publish)
    } catch (error) {
      log.error({channel, streamId: state.streamId, err: error}, 'onPublishEnded failed')
    }
    release(t)
    events.emit('ended', t.session.streamName, state.streamId)
    log.info({channel, streamId: state.streamId, seconds: Math.round((Date.now() - Date.parse(state.since)) / 1000)}, 'publish ended')
    void heartbeat.beat()
  }

  /** The ladder's top rendition, against which the encoder's settings are judged. */
  const ladderTop = (): LadderTop => {
    const top = env.profile.ladder[0]!
    return {fps: top.fps, videoKbps: top.videoKbps, segmentSeconds: env.profile.hls.segmentSeconds}
  }

  /** Watches the source's settings for a while and logs, once per broadcast, what hurts the ladder. */
  const watchSettings = (inspector: SourceInspector, t: TrackedPublish, publish: AcceptedPublish, done: () => void): void => {
    const started = Date.now()
    const timer = setInterval(() => {
      const over = t.phase !== 'accepted'
      if (!over && !inspector.settled() && Date.now() - started < WATCH_SETTINGS_MS) return
      clearInterval(timer)
      done()
      if (over || !publish.tracks.video) return
      const warnings = inspector.warnings(ladderTop())
      if (warnings.length === 0) return
      log.warn({channel: publish.channel, streamId: publish.state.streamId, warnings}, `the encoder's settings hurt the live ladder: ${warnings.join('; ')}`)
      records.sourceWarnings(publish.state.streamId, warnings).catch((error: Error) => log.warn({err: error.message}, 'could not store the source warnings'))
    }, 500)
    timer.unref()
  }

  /** Reads the publish's tracks; a source the ladder can take goes live, any other is refused. */
  const inspect = async (t: TrackedPublish): Promise<void> => {
    const {session} = t
    const inspector = new SourceInspector(Date.now())
    const meter = new LiveMeter()
    // One tap for both: the inspector until it has judged the settings, the meter to the end.
    let inspecting = true
    const untap = tapPackets(session.streamPath, (packet) => {
      const now = Date.now()
      if (inspecting) inspector.push(packet, now)
      meter.push(packet, now)
    })
    t.meter = meter
    t.untap = untap
    let tracks: SourceTracks | undefined
    while (!t.closed && !stopping) {
      const metadata = publishMetadata(session)
      if (metadata !== undefined) inspector.setMetadata(metadata)
      tracks = inspector.tracks(Date.now(), 1500, INSPECT_GIVE_UP_MS)
      if (tracks !== undefined) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (t.closed || stopping || tracks === undefined) {
      untap()
      release(t)
      return
    }
    const verdict = judgeTracks(tracks)
    if (!verdict.ok) {
      untap()
      return refuseStarted(t, 'unsupported', verdict.reason, {fix: verdict.fix})
    }
    const ladderTracks: LadderTracks = {video: tracks.video !== undefined, audio: tracks.audio !== undefined}
    const state = buildStreamState({channel: t.channel, ingestId: ctx.id, origin, renditions: renditionsOf(ladderRungs(env.profile, ladderTracks))})
    let claimed: boolean
    try {
      claimed = await states.claim(state)
    } catch (error) {
      untap()
      return refuseStarted(t, 'lookup-failed', 'The server cannot go live right now: try again in a minute', {err: (error as Error).message, fix: 'Redis does not answer: see shing status'})
    }
    if (!claimed) {
      untap()
      return refuseStarted(t, 'already-live', `${t.channel} is already live from another encoder: stop that one first`, {fix: 'a second encoder publishes the channel'})
    }
    const realtime = await realtimeOn(mongo.db, t.channel).catch((error: unknown) => {
      log.warn({channel: t.channel, err: (error as Error).message}, 'could not read the channel\'s real-time setting: LL-HLS only')
      return false
    })
    const publish: AcceptedPublish = {
      realtime,
      channel: t.channel,
      streamKey: aliases.get(session.streamName) ?? session.streamName,
      state,
      tracks: ladderTracks,
      inputUrl: `rtmp://127.0.0.1:${ctx.ports.rtmp}/${RTMP_APP}/${session.streamName}`,
      end: (reason) => {
        if (t.phase !== 'accepted') return
        log.warn({channel: t.channel, streamId: state.streamId, reason}, 'ending the publish')
        t.closed = true
        session.close()
        void endPublish(t)
      },
    }
    t.publish = publish
    t.phase = 'accepted'
    acceptedTotal.inc()
    events.emit('live', session.streamName, state.streamId)
    log.info({channel: t.channel, keyId: t.keyId, streamId: state.streamId, session: session.id, ip: session.ip, tracks: ladderTracks}, 'publish accepted')
    await Promise.all([
      records.started(state).catch((error: Error) => log.error({channel: t.channel, err: error.message}, 'could not record the stream in MongoDB')),
      keys.markUsed(t.keyId, t.channel).catch((error: Error) => log.warn({channel: t.channel, err: error.message}, 'could not update the key lastUsedAt')),
    ])
    void heartbeat.beat()
    if (t.closed) {
      untap()
      return endPublish(t)
    }
    try {
      await hooks.onPublishAccepted(publish)
    } catch (error) {
      untap()
      refusedTotal.inc({reason: 'start-failed'})
      log.error({channel: t.channel, streamId: state.streamId, err: error}, 'onPublishAccepted failed; ending the publish')
      session.close()
      return endPublish(t)
    }
    watchSettings(inspector, t, publish, () => {
      inspecting = false
    })
    if (t.closed) return endPublish(t)
  }

  nms.on('prePublish', (session) => {
    const reservation = reservations.get(session.id)
    if (reservation === undefined) return session.close() // not through the gate: never happens
    reservations.delete(session.id)
    clearTimeout(reservation.timer)
    // Its 30 s resume grace would keep an ended publish "live" and replay it into the old state.
    noPublishGrace(session.streamPath)
    const t: TrackedPublish = {session, channel: reservation.channel, keyId: reservation.keyId, phase: 'inspecting', closed: false}
    tracked.set(session.id, t)
    // node-media-server refuses a second publisher of the same path itself, after this event.
    setImmediate(() => {
      if (!isPublisherOf(session)) {
        t.closed = true
        return
      }
      inspect(t).catch((error: unknown) => {
        log.error({err: error, session: session.id}, 'publish check failed')
        release(t)
        session.close()
      })
    })
  })
  nms.on('donePublish', (session) => {
    const t = tracked.get(session.id)
    if (t === undefined) return
    t.closed = true
    if (t.phase === 'accepted') void endPublish(t)
  })
  // The ladder plays the publish back over loopback; nobody else may.
  nms.on('prePlay', (session) => {
    if (!isLoopback(session.ip)) {
      log.warn({ip: session.ip, session: session.id}, 'rtmp play refused: only local playback')
      session.close()
    }
  })

  return {
    stop: async () => {
      stopping = true
      await heartbeat.stop()
      // Browsers are told to go elsewhere first: their pages reconnect to another ingest.
      await Promise.all([browsers.close(), whip.close(), costreams.close()])
      // Offline at once instead of after the TTL; the streamer's OBS reconnects elsewhere.
      await Promise.all(
        [...tracked.values()].map(async (t) => {
          t.closed = true
          t.session.close()
          await endPublish(t)
        }),
      )
      await hooks.close?.().catch((error: Error) => log.warn({err: error.message}, 'closing the ladder failed'))
      await nms.stop()
      uninstallGate()
      await app.close()
      await rm(store, {recursive: true, force: true})
    },
  }
}
