import {once} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import NodeMediaServer from 'node-media-server'
import nmsContext from 'node-media-server/src/core/context.js'
import nmsLogger from 'node-media-server/src/core/logger.js'
import {Counter} from 'prom-client'

import type {ComponentContext, RunningComponent} from '../platform/component.js'
import {LIVE_PREFIX, RTMP_APP, type StreamState} from '../contract/index.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import {createHttpServer, listen, type HealthCheck} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {startHeartbeat} from '../registry/heartbeat.js'
import {isLivePathError, parseLivePath} from '../hls/live-paths.js'
import {StreamKeys} from '../channels/stream-keys.js'
import {buildStreamState, renditionsOf, StreamRecords, StreamStates} from '../channels/stream-state.js'

/** A publish that passed the key check and holds its channel's stream state. */
export interface AcceptedPublish {
  channel: string
  /** The RTMP stream name; never log it. */
  streamKey: string
  state: StreamState
  /** rtmp://127.0.0.1:<port>/live/<key>: where a local ffmpeg plays the publish back from. */
  inputUrl: string
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
  /** After every publish ended, on stop. */
  close?(): Promise<void>
}
export type PublishHooksFactory = (ctx: ComponentContext<'ingest'>) => PublishHooks

export const refuseReasons = ['bad-path', 'bad-key', 'revoked', 'already-live', 'no-slot', 'lookup-failed', 'start-failed'] as const
export type RefuseReason = (typeof refuseReasons)[number]

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

interface TrackedPublish {
  session: NodeMediaServer.Session
  phase: 'checking' | 'accepted' | 'ending'
  /** The publisher left while its key was being checked. */
  closed: boolean
  /** Holds a ladder slot (from the slot check until the ladder stopped). */
  slot: boolean
  publish?: AcceptedPublish
}

/**
 * Ingest: node-media-server takes RTMP from OBS at /live/<stream key>. Each publish is checked
 * (key, channel not live anywhere, a free ladder slot) before the ladder starts; refusals are
 * logged and counted. It registers with its live publishes and ladder slots (ingest.maxLadders).
 */
export async function startIngest(ctx: ComponentContext<'ingest'>, hooksFor: PublishHooksFactory): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const maxLadders = env.profile.ingest.maxLadders
  const renditions = renditionsOf(env.profile.ladder)
  const origin = `${ctx.host}:${ctx.ports.http}`
  const mongo = ctx.mongo()
  const storage = ctx.storage()
  const keys = new StreamKeys({db: mongo.db, redis, secret: ctx.secret('streamKeySecret')})
  const states = new StreamStates(redis)
  const records = new StreamRecords(mongo.db)
  const hooks = hooksFor(ctx)
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
  const listening = once(rtmpServer, 'listening')
  await nms.run()
  await listening
  log.info({port: ctx.ports.rtmp}, 'rtmp listening')

  const tracked = new Map<string, TrackedPublish>()
  const accepted = (): TrackedPublish[] => [...tracked.values()].filter((t) => t.phase === 'accepted')
  let slotsUsed = 0
  const load = (): {streams: number; slotsUsed: number; slotsFree: number} => ({
    streams: accepted().length,
    slotsUsed,
    slotsFree: Math.max(0, maxLadders - slotsUsed),
  })
  metrics.gauge('shing_ingest_streams', 'Live publishes on this ingest (accepted)', () => load().streams)
  metrics.gauge('shing_ingest_slots_used', 'Ladder slots in use', () => load().slotsUsed)
  metrics.gauge('shing_ingest_slots_free', 'Ladder slots free (profile ingest.maxLadders)', () => load().slotsFree)
  const refusedTotal = new Counter({
    name: 'shing_ingest_publish_refused_total',
    help: 'RTMP publishes refused, by reason',
    labelNames: ['reason'],
    registers: [metrics.registry],
  })
  for (const reason of refuseReasons) refusedTotal.inc({reason}, 0)
  const acceptedTotal = new Counter({name: 'shing_ingest_publish_accepted_total', help: 'RTMP publishes accepted', registers: [metrics.registry]})

  const rtmpCheck: HealthCheck = {
    name: 'rtmp',
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

  const refuse = (t: TrackedPublish, reason: RefuseReason, details: Record<string, unknown> = {}): void => {
    refusedTotal.inc({reason})
    log.warn({reason, session: t.session.id, ip: t.session.ip, ...details}, 'publish refused')
    tracked.delete(t.session.id)
    if (t.slot) slotsUsed -= 1
    t.slot = false
    t.session.close()
  }

  const endPublish = async (t: TrackedPublish): Promise<void> => {
    const publish = t.publish
    if (t.phase === 'ending' || publish === undefined) return
    t.phase = 'ending'
    const {channel, state} = publish
    // Offline first, so the streamer's reconnect is accepted while the ladder winds down.
    await states.release(state).catch((error: Error) => log.warn({channel, err: error.message}, 'could not delete the stream state; it expires by its TTL'))
    await records.ended(state.streamId).catch((error: Error) => log.warn({channel, err: error.message}, 'could not mark the stream ended'))
    try {
      await hooks.onPublishEnded(publish)
    } catch (error) {
      log.error({channel, streamId: state.streamId, err: error}, 'onPublishEnded failed')
    }
    tracked.delete(t.session.id)
    if (t.slot) slotsUsed -= 1
    t.slot = false
    log.info({channel, streamId: state.streamId, seconds: Math.round((Date.now() - Date.parse(state.since)) / 1000)}, 'publish ended')
    void heartbeat.beat()
  }

  const authorize = async (t: TrackedPublish): Promise<void> => {
    const {session} = t
    if (session.streamApp !== RTMP_APP) return refuse(t, 'bad-path', {app: session.streamApp})
    let lookup: Awaited<ReturnType<StreamKeys['lookup']>>
    try {
      lookup = await keys.lookup(session.streamName)
    } catch (error) {
      return refuse(t, 'lookup-failed', {err: (error as Error).message})
    }
    if (lookup.status === 'unknown') return refuse(t, 'bad-key')
    if (lookup.status === 'revoked') return refuse(t, 'revoked', {channel: lookup.channel, keyId: lookup.keyId})
    const {channel, keyId} = lookup
    if (t.closed) return void tracked.delete(session.id)
    // node-media-server refuses a second publisher of the same path itself, after our event fired.
    if (nmsContext.broadcasts.get(session.streamPath)?.publisher !== session) return refuse(t, 'already-live', {channel, keyId})
    // The common case, named right; the atomic guard is the claim below.
    if ((await states.get(channel).catch(() => undefined)) !== undefined) return refuse(t, 'already-live', {channel, keyId})
    if (t.closed) return void tracked.delete(session.id)
    // Checked and taken in one synchronous step: two publishes here cannot both get the last slot.
    if (slotsUsed >= maxLadders) return refuse(t, 'no-slot', {channel, keyId, maxLadders})
    slotsUsed += 1
    t.slot = true

    const state = buildStreamState({channel, ingestId: ctx.id, origin, renditions})
    let claimed: boolean
    try {
      claimed = await states.claim(state)
    } catch (error) {
      return refuse(t, 'lookup-failed', {channel, err: (error as Error).message})
    }
    if (!claimed) return refuse(t, 'already-live', {channel, keyId})

    const publish: AcceptedPublish = {
      channel,
      streamKey: session.streamName,
      state,
      inputUrl: `rtmp://127.0.0.1:${ctx.ports.rtmp}/${RTMP_APP}/${session.streamName}`,
      end: (reason) => {
        if (t.phase !== 'accepted') return
        log.warn({channel, streamId: state.streamId, reason}, 'ending the publish')
        t.closed = true
        session.close()
        void endPublish(t)
      },
    }
    t.publish = publish
    t.phase = 'accepted'
    acceptedTotal.inc()
    log.info({channel, keyId, streamId: state.streamId, session: session.id, ip: session.ip}, 'publish accepted')
    await Promise.all([
      records.started(state).catch((error: Error) => log.error({channel, err: error.message}, 'could not record the stream in MongoDB')),
      keys.markUsed(keyId, channel).catch((error: Error) => log.warn({channel, err: error.message}, 'could not update the key lastUsedAt')),
    ])
    void heartbeat.beat()
    if (t.closed) return endPublish(t)
    try {
      await hooks.onPublishAccepted(publish)
    } catch (error) {
      refusedTotal.inc({reason: 'start-failed'})
      log.error({channel, streamId: state.streamId, err: error}, 'onPublishAccepted failed; ending the publish')
      session.close()
      return endPublish(t)
    }
    if (t.closed) return endPublish(t)
  }

  let stopping = false
  // node-media-server emits prePublish and ignores what listeners do: it has already taken the
  // publish. So we check asynchronously and close the session when refused; no ffmpeg runs before.
  nms.on('prePublish', (session) => {
    if (stopping) return session.close()
    const broadcast = nmsContext.broadcasts.get(session.streamPath)
    // Its 30 s resume grace would keep an ended publish "live" and replay it into the old state.
    if (broadcast !== undefined) broadcast.publishGraceMs = 0
    const t: TrackedPublish = {session, phase: 'checking', closed: false, slot: false}
    tracked.set(session.id, t)
    authorize(t).catch((error: unknown) => {
      log.error({err: error, session: session.id}, 'publish check failed')
      if (tracked.has(session.id) && t.phase === 'checking') refuse(t, 'lookup-failed')
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
      // Offline at once instead of after the TTL; the streamer's OBS reconnects elsewhere.
      await Promise.all(
        [...tracked.values()].map(async (t) => {
          t.session.close()
          await endPublish(t)
        }),
      )
      await hooks.close?.().catch((error: Error) => log.warn({err: error.message}, 'closing the ladder failed'))
      await nms.stop()
      await app.close()
      await rm(store, {recursive: true, force: true})
    },
  }
}
