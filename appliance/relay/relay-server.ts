import {Counter} from 'prom-client'

import type {ComponentContext, RunningComponent} from '../platform/component.js'
import {LIVE_PREFIX} from '../contract/index.js'
import {redisCheck} from '../platform/checks.js'
import {createHttpServer, listen} from '../platform/http-server.js'
import {startHeartbeat, type Heartbeat} from '../registry/heartbeat.js'
import {ByteLru} from './cache.js'
import {LiveStates} from '../channels/stream-state.js'
import {StreamStateCache, fetchFromOrigin, redisStreamStateReader} from './origin.js'
import {isLivePathError, parseLivePath} from '../hls/live-paths.js'
import {RelayPull, type CachedObject, type PullResult} from './pull.js'
import {SendTracker} from './send.js'
import {AudienceRecorder} from './audience.js'
import {EgressMeter, ViewerTracker, viewerIdentity} from './viewers.js'

/** Per-entry bookkeeping (key, headers, map slot) counted against the cache bound with the body. */
const ENTRY_OVERHEAD_BYTES = 256
/** Writes of 64 KiB views of the cached Buffer: a slow viewer holds at most this plus the socket's buffer. */
const SEND_CHUNK_BYTES = 64 * 1024
/** A viewer that takes nothing for this long is dropped (its player will reconnect). */
const SEND_STALL_MS = 30_000
/** A new viewer reaches the registry within this, not only at the next heartbeat. */
const VIEWER_BEAT_DELAY_MS = 1000

/**
 * Relay: serves /live/<channel>/… to viewers, pulling each object once from the ingest that holds
 * the stream (the stream state in Redis says which), from a byte-bounded memory cache, with
 * backpressure per viewer. Heartbeats its viewers and egress to the registry.
 */
export async function startRelay(ctx: ComponentContext<'relay'>): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const maxBytes = env.SHING_RELAY_CACHE_MB * 1024 * 1024
  const cache = new ByteLru<CachedObject>(maxBytes, (object) => object.body.length + ENTRY_OVERHEAD_BYTES)
  // Every live channel's whereabouts, swept every 2 s: what a relay goes by while Redis is away.
  const liveStates = new LiveStates(redis, log.child({module: 'streams'}))
  liveStates.start()
  const states = new StreamStateCache(redisStreamStateReader(redis, log.child({module: 'streams'})), 1000, Date.now, (channel) => liveStates.lastKnown(channel))
  const viewers = new ViewerTracker()
  const audience = new AudienceRecorder(redis, (error) => log.debug({err: error.message}, 'viewer count not recorded'))
  const egress = new EgressMeter()
  const sends = new SendTracker()
  let inFlight = 0

  const upstream = new Counter({name: 'shing_relay_upstream_requests_total', help: 'Requests this relay made to ingests, by object kind', labelNames: ['kind'], registers: [metrics.registry]})
  const upstreamFailures = new Counter({name: 'shing_relay_upstream_failures_total', help: 'Upstream requests that failed (unreachable, 5xx, timeout)', labelNames: ['kind'], registers: [metrics.registry]})
  const responses = new Counter({name: 'shing_relay_responses_total', help: 'Viewer requests by object kind and how they were answered', labelNames: ['kind', 'outcome'], registers: [metrics.registry]})
  const egressBytes = new Counter({name: 'shing_relay_egress_bytes_total', help: 'Body bytes written to viewers', registers: [metrics.registry]})
  let evictionsSeen = 0
  new Counter({
    name: 'shing_relay_cache_evictions_total',
    help: 'Cache entries evicted to stay within the byte bound',
    registers: [metrics.registry],
    collect() {
      const {evictions} = cache.stats()
      this.inc(evictions - evictionsSeen)
      evictionsSeen = evictions
    },
  })
  metrics.gauge('shing_relay_viewers', 'Distinct viewers that asked for a playlist in the last 10 s', () => viewers.viewers())
  metrics.gauge('shing_relay_streams', 'Channels with viewers on this relay', () => viewers.streams())
  metrics.gauge('shing_relay_cache_bytes', 'Bytes held in the object cache', () => cache.stats().bytes)
  metrics.gauge('shing_relay_cache_max_bytes', 'The cache bound (SHING_RELAY_CACHE_MB)', () => maxBytes)
  metrics.gauge('shing_relay_cache_entries', 'Objects held in the cache', () => cache.stats().entries)
  metrics.gauge('shing_relay_egress_bits_per_second', 'Egress over the last 5 s', () => egress.bitsPerSecond())
  metrics.gauge('shing_relay_requests_in_flight', 'Viewer requests being answered (blocking reloads wait here)', () => inFlight)
  metrics.gauge('shing_relay_send_buffered_bytes', 'Bytes written to viewers not yet taken by their sockets', () => sends.bufferedBytes())
  metrics.gauge('shing_relay_sends_waiting_drain', 'Responses paused until their viewer reads', () => sends.waitingForDrain())

  const pull = new RelayPull({
    states,
    cache,
    fetch: fetchFromOrigin,
    log: log.child({module: 'pull'}),
    onUpstream: (kind) => upstream.inc({kind}),
    onUpstreamFailure: (kind) => upstreamFailures.inc({kind}),
  })

  const app = createHttpServer({component: 'relay', checks: [redisCheck(redis)], metrics, log})
  let beatSoon: NodeJS.Timeout | undefined
  // Started once the server listens: registered only when it can serve.
  const registration: {heartbeat?: Heartbeat} = {}
  app.get(`${LIVE_PREFIX}/*`, async (request, reply) => {
    inFlight++
    try {
      // Players may be served from another origin than the page (the playback URL names a relay).
      reply.header('access-control-allow-origin', '*')
      const parsed = parseLivePath(request.raw.url ?? '')
      if (isLivePathError(parsed)) {
        responses.inc({kind: 'invalid', outcome: 'error'})
        return reply.code(parsed.status).header('cache-control', 'no-store').send({error: parsed.status === 404 ? 'not found' : 'bad request', message: parsed.message})
      }
      const kind = parsed.blocking === undefined ? parsed.kind : 'blocking-playlist'
      let result: PullResult
      try {
        result = await pull.pull(parsed)
      } catch (error) {
        // Only the stream state lookup throws (Redis unreachable); origin failures are results.
        log.warn({channel: parsed.channel, err: (error as Error).message}, 'cannot read the stream state')
        responses.inc({kind, outcome: 'error'})
        return reply.code(503).header('cache-control', 'no-store').send({error: 'registry unavailable', message: 'cannot look up the stream now; retry'})
      }
      if (result.type === 'error') {
        responses.inc({kind, outcome: result.error === 'offline' ? 'offline' : 'error'})
        return reply.code(result.status).header('cache-control', 'no-store').send({error: result.error, message: result.message})
      }
      responses.inc({kind, outcome: result.source})
      if (parsed.kind === 'playlist' || parsed.kind === 'master') {
        const viewer = viewerIdentity(request.headers, request.socket.remoteAddress)
        const fresh = viewers.see(viewer, parsed.channel)
        audience.seen(parsed.channel, viewer)
        if (fresh && beatSoon === undefined) {
          beatSoon = setTimeout(() => {
            beatSoon = undefined
            void registration.heartbeat?.beat()
          }, VIEWER_BEAT_DELAY_MS)
        }
      }
      const {object} = result
      reply.hijack()
      const headers = {
        'content-type': object.contentType,
        'cache-control': object.cacheControl,
        'access-control-allow-origin': '*',
        'x-cache': result.source,
      }
      const outcome = await sends.send(reply.raw, 200, headers, object.body, request.method === 'HEAD', {
        chunkBytes: SEND_CHUNK_BYTES,
        stallMs: SEND_STALL_MS,
        onBytes: (bytes) => {
          egress.add(bytes)
          egressBytes.inc(bytes)
        },
      })
      if (outcome === 'stalled') log.info({path: parsed.path, channel: parsed.channel}, 'viewer stopped reading; disconnected')
      return reply
    } finally {
      inFlight--
    }
  })
  await listen(app, {port: ctx.ports.http, host: ctx.env.SHING_BIND_HOST, log})
  // Playlists expire in place; sweeping frees their bytes for media sooner.
  const sweeper = setInterval(() => cache.sweep(), 5000)
  sweeper.unref()
  const heartbeat = startHeartbeat({
    redis,
    role: 'relay',
    id: ctx.id,
    host: ctx.host,
    ports: {http: ctx.ports.http},
    load: () => ({streams: viewers.streams(), viewers: viewers.viewers(), egressBitsPerSecond: egress.bitsPerSecond()}),
    log,
  })
  registration.heartbeat = heartbeat
  log.info({cacheBytes: maxBytes}, 'relay ready')
  return {
    stop: async () => {
      clearInterval(sweeper)
      liveStates.stop()
      clearTimeout(beatSoon)
      // Out of the registry first, so no new viewer is sent here while it drains.
      await heartbeat.stop()
      await app.close()
    },
  }
}
