import {access, constants, rm, stat} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'

import {Counter} from 'prom-client'

import type {ComponentContext, RunningComponent} from '../platform/component.js'
import {LIVE_PREFIX, relayCertificatesToken} from '../contract/index.js'
import {redisCheck} from '../platform/checks.js'
import {createHttpServer} from '../platform/http-server.js'
import {startHeartbeat, type Heartbeat} from '../registry/heartbeat.js'
import {ByteLru} from './cache.js'
import {LiveStates} from '../channels/stream-state.js'
import {StreamStateCache, fetchFromOrigin, redisStreamStateReader} from './origin.js'
import {isLivePathError, parseLivePath} from '../hls/live-paths.js'
import {RelayPull, type CachedObject, type PullResult} from './pull.js'
import {SendTracker} from './send.js'
import {AudienceRecorder} from './audience.js'
import {EgressMeter, ViewerTracker} from './viewers.js'
import {MediaFiles} from './media-files.js'
import {ACCESS_LOG, findNchan, findNginx, startNginx, testNginxConfig, type NginxSettings} from './nginx.js'
import {HeldReloads} from './held-reloads.js'
import {AccessLogTail, type AccessEntry} from './access-log.js'
import {SiteCertificateSync} from './site-certificate.js'

/**
 * The channel and kind of a logged path under /live/ (nginx normalised it; a path the relay
 * refused counts under 'invalid'), without the full parse a request gets.
 */
function liveObject(path: string): {channel: string; kind: 'playlist' | 'media' | 'invalid'; rendition?: string} | undefined {
  if (!path.startsWith(`${LIVE_PREFIX}/`)) return undefined
  const start = LIVE_PREFIX.length + 1
  const slash = path.indexOf('/', start)
  if (slash === -1) return {channel: path.slice(start), kind: 'invalid'}
  const channel = path.slice(start, slash)
  if (path.endsWith('/index.m3u8')) return {channel, kind: 'playlist', rendition: path.slice(slash + 1, -'/index.m3u8'.length)}
  if (path.endsWith('.m3u8')) return {channel, kind: 'playlist'}
  return {channel, kind: path.endsWith('.m4s') || path.endsWith('.mp4') ? 'media' : 'invalid'}
}

/** Per-entry bookkeeping (key, headers, map slot) counted against the playlists' bound with the body. */
const ENTRY_OVERHEAD_BYTES = 256
/** Playlists are small and short-lived: this much memory holds every channel's. */
const PLAYLIST_CACHE_BYTES = 16 * 1024 * 1024
/** Writes of 64 KiB views of the Buffer: nginx reads them as fast as its viewer does. */
const SEND_CHUNK_BYTES = 64 * 1024
/** A viewer that takes nothing for this long is dropped (its player will reconnect). */
const SEND_STALL_S = 30
/** How long a blocking reload may be held upstream (the ingest gives up after 3 target durations). */
const UPSTREAM_TIMEOUT_S = 20
/** A new viewer reaches the registry within this (after nginx's log flush), not only at the next heartbeat. */
const VIEWER_BEAT_DELAY_MS = 1000
/** How often the TLS certificate's files are checked for a renewal. */
const TLS_CHECK_MS = 10_000
/** How long a starting relay waits for the edge's certificate before it serves without its TLS port. */
const FIRST_CERTIFICATE_WAIT_MS = 3000
/** In-flight viewer requests finish within this when the relay stops. */
const STOP_GRACE_MS = 10_000

/**
 * Relay: serves /live/<channel>/… to viewers, pulling each object once from the ingest that holds
 * the stream (the stream state in Redis says which). nginx (relay/nginx.ts) takes the viewers'
 * connections and sends the media objects from files this process stores (relay/media-files.ts);
 * playlists, blocking reloads and objects not stored yet come here over a
 * Unix socket, where concurrent requests become one upstream request. Viewers and egress are
 * counted from nginx's access log and heartbeat to the registry.
 */
export async function startRelay(ctx: ComponentContext<'relay'>): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const nginxBinary = findNginx(env.SHING_NGINX)
  const nchanModule = findNchan()
  const tlsFiles = relayTlsFiles(env)
  const dir = env.SHING_RELAY_CACHE_DIR
  const maxBytes = env.SHING_RELAY_CACHE_MB * 1024 * 1024
  const files = await MediaFiles.open(dir, maxBytes, log.child({module: 'files'}))
  const playlists = new ByteLru<CachedObject>(PLAYLIST_CACHE_BYTES, (object) => object.body.length + ENTRY_OVERHEAD_BYTES)
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
  const responses = new Counter({name: 'shing_relay_responses_total', help: 'Viewer requests (from nginx\'s log) by kind (playlist, media) and how they were answered (file: answered by nginx itself, from the relay\'s files or a held reload; else the relay process\'s X-Cache)', labelNames: ['kind', 'outcome'], registers: [metrics.registry]})
  const repeats = new Counter({name: 'shing_relay_upstream_repeats_total', help: 'Media objects pulled again after their file was evicted (more than 0: SHING_RELAY_CACHE_MB is too small)', labelNames: ['kind'], registers: [metrics.registry]})
  const egressBytes = new Counter({name: 'shing_relay_egress_bytes_total', help: 'Body bytes sent to viewers', registers: [metrics.registry]})
  let evictionsSeen = 0
  new Counter({
    name: 'shing_relay_cache_evictions_total',
    help: 'Media files evicted to stay within the byte bound',
    registers: [metrics.registry],
    collect() {
      const {evictions} = files.stats()
      this.inc(evictions - evictionsSeen)
      evictionsSeen = evictions
    },
  })
  metrics.gauge('shing_relay_viewers', 'Distinct viewers that asked for a playlist in the last 10 s', () => viewers.viewers())
  metrics.gauge('shing_relay_streams', 'Channels with viewers on this relay', () => viewers.streams())
  metrics.gauge('shing_relay_cache_bytes', 'Bytes of media files held (whole pages)', () => files.stats().bytes)
  metrics.gauge('shing_relay_cache_max_bytes', 'The bound of the media files (SHING_RELAY_CACHE_MB)', () => maxBytes)
  metrics.gauge('shing_relay_cache_entries', 'Media files held', () => files.stats().entries)
  metrics.gauge('shing_relay_egress_bits_per_second', 'Egress over the last 5 s', () => egress.bitsPerSecond())
  metrics.gauge('shing_relay_requests_in_flight', 'Requests nginx passed to the relay process being answered (blocking reloads wait here)', () => inFlight)

  const pull = new RelayPull({
    states,
    cache: playlists,
    files,
    fetch: fetchFromOrigin,
    log: log.child({module: 'pull'}),
    onUpstream: (kind) => upstream.inc({kind}),
    onUpstreamFailure: (kind) => upstreamFailures.inc({kind}),
    onRepeat: (kind) => repeats.inc({kind}),
  })

  const publisherSocket = path.join(dir, 'publish.sock')
  // Without nchan the relay process holds every blocking reload itself (more CPU per viewer).
  const held = nchanModule === undefined ? undefined : new HeldReloads({publisherSocket, servedRoot: files.servedRoot, pull: (request) => pull.pull(request), log: log.child({module: 'held'})})
  metrics.gauge('shing_relay_held_renditions', 'Renditions whose blocking reloads nginx holds (nchan) and this process publishes', () => held?.count() ?? 0)

  let beatSoon: NodeJS.Timeout | undefined
  // Started once nginx serves: registered only when it can serve.
  const registration: {heartbeat?: Heartbeat} = {}
  /** What nginx logged: every viewer request, whoever answered it (thousands a second: counted per read, not per line). */
  const account = (entries: AccessEntry[]): void => {
    let bytes = 0
    const outcomes = new Map<string, number>()
    for (const entry of entries) {
      const where = liveObject(entry.path)
      if (where === undefined) continue
      bytes += entry.bytes
      const ok = entry.status === 200
      const outcome = `${where.kind}\t${ok ? entry.source : entry.status === 404 ? 'not-found' : 'error'}`
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      if (!ok || where.kind !== 'playlist') continue
      if (where.rendition !== undefined) held?.seen(where.channel, where.rendition)
      // A viewer, without cookies: the address nginx worked out (behind the edge, the one the
      // edge appended to X-Forwarded-For) and the user agent.
      const viewer = `${entry.client}\n${entry.userAgent}`
      const fresh = viewers.see(viewer, where.channel)
      audience.seen(where.channel, viewer)
      if (fresh && beatSoon === undefined) {
        beatSoon = setTimeout(() => {
          beatSoon = undefined
          void registration.heartbeat?.beat()
        }, VIEWER_BEAT_DELAY_MS)
      }
    }
    audience.flush()
    egress.add(bytes)
    egressBytes.inc(bytes)
    for (const [key, count] of outcomes) {
      const [kind, outcome] = key.split('\t') as [string, string]
      responses.inc({kind, outcome}, count)
    }
  }

  /** What nginx passes on: playlists, blocking reloads, objects not stored yet. Answered without fastify's per-request work. */
  const serveLive = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const json = (status: number, body: object): void => {
      response.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'access-control-allow-origin': '*'}).end(JSON.stringify(body))
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(405, {error: 'method not allowed', message: 'GET or HEAD'})
    const parsed = parseLivePath(request.url ?? '')
    if (isLivePathError(parsed)) return json(parsed.status, {error: parsed.status === 404 ? 'not found' : 'bad request', message: parsed.message})
    let result: PullResult
    try {
      result = await pull.pull(parsed)
    } catch (error) {
      // Only the stream state lookup throws (Redis unreachable); origin failures are results.
      log.warn({channel: parsed.channel, err: (error as Error).message}, 'cannot read the stream state')
      return json(503, {error: 'registry unavailable', message: 'cannot look up the stream now; retry'})
    }
    if (result.type === 'error') return json(result.status, {error: result.error, message: result.message})
    const {object} = result
    // From now on nginx holds this rendition's blocking reloads.
    if (parsed.blocking !== undefined) held?.watch(parsed, object.body)
    const headers = {
      'content-type': object.contentType,
      'cache-control': object.cacheControl,
      // Players may be served from another origin than the page (the playback URL names a relay).
      'access-control-allow-origin': '*',
      'x-cache': result.source,
    }
    const outcome = await sends.send(response, 200, headers, object.body, request.method === 'HEAD', {chunkBytes: SEND_CHUNK_BYTES, stallMs: SEND_STALL_S * 1000, onBytes: () => undefined})
    if (outcome === 'stalled') log.info({path: parsed.path, channel: parsed.channel}, 'nginx stopped reading; disconnected')
  }

  const app = createHttpServer({
    component: 'relay',
    checks: [redisCheck(redis)],
    metrics,
    log,
    before: (request, response) => {
      if (!(request.url ?? '').startsWith(`${LIVE_PREFIX}/`)) return false
      inFlight++
      serveLive(request, response)
        .catch((error: unknown) => {
          log.error({url: request.url?.slice(0, 200), err: error}, 'live request failed')
          if (!response.headersSent) response.writeHead(500, {'content-type': 'application/json; charset=utf-8'}).end(JSON.stringify({error: 'internal error', message: 'the relay logged the cause'}))
          else response.destroy()
        })
        .finally(() => inFlight--)
      return true
    },
  })
  const socket = path.join(dir, 'relay.sock')
  await rm(socket, {force: true})
  await rm(publisherSocket, {force: true})
  await app.listen({path: socket})
  const nginxSettings: NginxSettings = {dir, filesRoot: files.servedRoot, upstreamSocket: socket, host: env.SHING_BIND_HOST, port: ctx.ports.http, upstreamTimeoutS: UPSTREAM_TIMEOUT_S, sendTimeoutS: SEND_STALL_S, ...(nchanModule === undefined ? {} : {nchan: {module: nchanModule, publisherSocket}})}
  // The TLS port is served once its certificate is there (the edge may still be getting it) and
  // nginx accepts it: a key that does not match, or a truncated file, must not keep the viewers of
  // the plain port away (checked with `nginx -t` first, and again whenever the files change).
  let tlsVersion: string | undefined
  let refusedVersion: string | undefined
  const withTls = (): NginxSettings => (tlsFiles !== undefined && tlsVersion !== undefined ? {...nginxSettings, tls: tlsFiles} : nginxSettings)
  const tryCertificate = async (): Promise<boolean> => {
    if (tlsFiles === undefined) return false
    const version = await filesVersion(tlsFiles.certFile, tlsFiles.keyFile)
    if (version === undefined || version === tlsVersion || version === refusedVersion) return false
    const refusal = await testNginxConfig(nginxBinary, {...nginxSettings, tls: tlsFiles})
    if (refusal !== undefined) {
      refusedVersion = version
      log.error({cert: tlsFiles.certFile, key: tlsFiles.keyFile, nginx: refusal}, 'nginx refuses the TLS certificate: the TLS port stays as it was until its files change')
      return false
    }
    tlsVersion = version
    return true
  }
  // tls.mode auto: the certificate is Caddy's, fetched from the edge into tlsFiles. The first try
  // comes before nginx starts (a relay that restarts opens its TLS port at once), but an edge that
  // does not answer keeps the relay's viewers waiting no more than a few seconds.
  let certificateChanged = (): void => undefined
  const certificateSync =
    tlsFiles !== undefined && env.SHING_RELAY_CERT_SOURCE !== undefined
      ? new SiteCertificateSync(
          {url: env.SHING_RELAY_CERT_SOURCE, token: relayCertificatesToken(ctx.secret('redisPassword')), hostname: env.SHING_PUBLIC_HOST},
          tlsFiles,
          log.child({module: 'certificate'}),
          () => certificateChanged(),
        )
      : undefined
  if (certificateSync !== undefined) await Promise.race([certificateSync.start(), delay(FIRST_CERTIFICATE_WAIT_MS, undefined, {ref: false})])
  await tryCertificate()
  const nginx = await startNginx(nginxBinary, withTls(), log.child({module: 'nginx'})).catch(async (error: unknown) => {
    await app.close()
    throw error
  })
  const ports: Record<string, number> = {http: ctx.ports.http}
  if (tlsFiles !== undefined) {
    if (tlsVersion !== undefined) ports.https = tlsFiles.port
    else if (refusedVersion === undefined) log.warn({cert: tlsFiles.certFile, key: tlsFiles.keyFile}, 'no TLS certificate to read yet: the TLS port opens when there is one')
  }
  log.info({host: env.SHING_BIND_HOST, port: ctx.ports.http, nginx: nginxBinary, pid: nginx.pid, heldReloads: held !== undefined}, 'http listening (nginx)')
  if (held === undefined) log.warn('nchan is not installed (apt-get install libnginx-mod-nchan): this process holds every blocking reload itself, at more CPU per viewer')
  let stopping = false
  // One container, two processes: without nginx nothing reaches viewers, so the relay goes too
  // (the orchestrator restarts it).
  void nginx.exited.then((how) => {
    if (stopping) return
    log.fatal({how}, 'nginx exited; the relay stops')
    process.exit(1)
  })
  // A renewed (or first) certificate: nginx loads it without dropping a viewer.
  const checkTls = (): void => {
    if (tlsFiles === undefined || stopping) return
    const first = ports.https === undefined
    void tryCertificate()
      .then(async (changed) => {
        if (!changed || stopping) return
        await nginx.reconfigure(withTls())
        ports.https = tlsFiles.port
        log.info({port: tlsFiles.port, cert: tlsFiles.certFile}, first ? 'TLS port open' : 'TLS certificate reloaded')
      })
      // A full disk or a lost folder: the port stays as it was, and the next check tries again.
      .catch((error: unknown) => log.error({err: error}, 'the TLS certificate could not be checked or loaded'))
  }
  certificateChanged = checkTls
  const tlsCheck = setInterval(checkTls, TLS_CHECK_MS)
  tlsCheck.unref()
  const accessLog = new AccessLogTail({file: path.join(dir, ACCESS_LOG), onEntries: account, reopen: () => nginx.reopenLogs()})
  accessLog.start()
  // Playlists expire in place; sweeping frees their bytes sooner.
  const sweeper = setInterval(() => playlists.sweep(), 5000)
  sweeper.unref()
  const heartbeat = startHeartbeat({
    redis,
    role: 'relay',
    id: ctx.id,
    host: ctx.host,
    ports,
    load: () => ({streams: viewers.streams(), viewers: viewers.viewers(), egressBitsPerSecond: egress.bitsPerSecond()}),
    log,
  })
  registration.heartbeat = heartbeat
  log.info({cacheBytes: maxBytes, dir}, 'relay ready')
  return {
    stop: async () => {
      stopping = true
      clearInterval(sweeper)
      clearInterval(tlsCheck)
      certificateSync?.stop()
      liveStates.stop()
      clearTimeout(beatSoon)
      // Out of the registry first, so no new viewer is sent here while it drains.
      await heartbeat.stop()
      held?.stop()
      await nginx.stop(STOP_GRACE_MS)
      await accessLog.stop()
      await app.close()
      await rm(socket, {force: true})
    },
  }
}

/** The relay's own TLS port and its certificate's files, when SHING_RELAY_TLS_PORT asks for one. */
function relayTlsFiles(env: {SHING_RELAY_TLS_PORT?: number | undefined; SHING_RELAY_TLS_CERT?: string | undefined; SHING_RELAY_TLS_KEY?: string | undefined}): {port: number; certFile: string; keyFile: string} | undefined {
  const {SHING_RELAY_TLS_PORT: port, SHING_RELAY_TLS_CERT: certFile, SHING_RELAY_TLS_KEY: keyFile} = env
  if (port === undefined) return undefined
  if (certFile === undefined || keyFile === undefined) throw new Error('SHING_RELAY_TLS_PORT is set without SHING_RELAY_TLS_CERT and SHING_RELAY_TLS_KEY: name the certificate chain and key files (PEM), or unset the port')
  return {port, certFile, keyFile}
}

/** Both files readable: their sizes and modification times, which change when they are renewed. */
async function filesVersion(...files: string[]): Promise<string | undefined> {
  try {
    const parts: string[] = []
    for (const file of files) {
      await access(file, constants.R_OK)
      const info = await stat(file)
      parts.push(`${info.size}:${info.mtimeMs}`)
    }
    return parts.join('/')
  } catch {
    return undefined
  }
}
