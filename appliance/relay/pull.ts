/**
 * Pull once: every object a viewer asks for is fetched from the stream's ingest at most once at a
 * time (concurrent askers share the fetch) and then served from the byte-bounded cache. Media
 * objects are immutable and stay until evicted; playlists stay for a moment. A blocking playlist
 * reload (_HLS_msn/_HLS_part) is one upstream request per distinct (rendition, msn, part), held
 * by the ingest until that part exists; its answer goes to every viewer waiting on it.
 */
import type {StreamState} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {SingleFlight, type ByteLru} from './cache.js'
import {OriginUnreachableError, type OriginRequest, type OriginResponse, type StreamStateCache} from './origin.js'
import type {LiveObjectKind, LivePath} from '../hls/live-paths.js'

/** What an upstream request was for: the metric label. */
export type UpstreamKind = LiveObjectKind | 'blocking-playlist'

export interface CachedObject {
  body: Buffer
  contentType: string
  cacheControl: string
}

export type PullResult =
  | {type: 'object'; object: CachedObject; source: 'hit' | 'miss' | 'joined'}
  | {type: 'error'; status: number; error: string; message: string}

/** How long a cached answer stays valid, by kind (media: until evicted). */
export interface PullTtls {
  masterMs: number
  playlistMs: number
  blockingMs: number
}

export const defaultTtls: PullTtls = {
  // The master playlist changes only when the ladder does.
  masterMs: 2000,
  // About half a part (0.5 s in the profiles): a non-blocking reload is never much older than that.
  playlistMs: 250,
  // A later viewer asking for the same msn/part gets the answer at once; any newer one is its next request.
  blockingMs: 6000,
}

export interface RelayPullOptions {
  states: StreamStateCache
  cache: ByteLru<CachedObject>
  fetch: (request: OriginRequest) => Promise<OriginResponse>
  log: Logger
  onUpstream: (kind: UpstreamKind) => void
  onUpstreamFailure: (kind: UpstreamKind) => void
  ttls?: PullTtls
  /** Per upstream request; a blocking one may be held by the ingest for several parts. */
  timeoutMs?: number
  blockingTimeoutMs?: number
}

/** What one upstream fetch ends in; 'moved' sends every waiting viewer round again on the new state. */
type FetchOutcome = PullResult | {type: 'moved'}

const defaultContentType = (kind: LiveObjectKind): string => (kind === 'master' || kind === 'playlist' ? 'application/vnd.apple.mpegurl' : 'video/mp4')

const offline = (channel: string): PullResult => ({type: 'error', status: 404, error: 'offline', message: `no such stream is live on channel ${channel}`})

export class RelayPull {
  private readonly flights = new SingleFlight<FetchOutcome>()
  private readonly ttls: PullTtls

  constructor(private readonly options: RelayPullOptions) {
    this.ttls = options.ttls ?? defaultTtls
  }

  async pull(request: LivePath, retryOnMove = true): Promise<PullResult> {
    const state = await this.options.states.get(request.channel)
    if (state === undefined) return offline(request.channel)
    if (request.rendition !== undefined && !state.renditions.some((r) => r.name === request.rendition)) {
      return {type: 'error', status: 404, error: 'not found', message: `channel ${request.channel} has no rendition ${request.rendition}`}
    }
    // The broadcast's id is in the key: a new broadcast restarts at seg0 and must not get the old ones.
    const key = `${request.channel}/${state.streamId}/${request.path}${request.query}`
    const hit = this.options.cache.get(key)
    if (hit !== undefined) return {type: 'object', object: hit, source: 'hit'}
    const {promise, joined} = this.flights.run(key, () => this.fetchOnce(request, state, key))
    const outcome = await promise
    if (outcome.type === 'moved') {
      if (retryOnMove) return this.pull(request, false)
      return {type: 'error', status: 502, error: 'origin unavailable', message: `the stream on channel ${request.channel} moved again while being fetched`}
    }
    return joined && outcome.type === 'object' ? {...outcome, source: 'joined'} : outcome
  }

  private async fetchOnce(request: LivePath, state: StreamState, key: string): Promise<FetchOutcome> {
    const {fetch, log, states, cache, onUpstream, onUpstreamFailure} = this.options
    const kind: UpstreamKind = request.blocking === undefined ? request.kind : 'blocking-playlist'
    const timeoutMs = kind === 'blocking-playlist' ? (this.options.blockingTimeoutMs ?? 15_000) : (this.options.timeoutMs ?? 8000)
    onUpstream(kind)
    let failure: string
    let timedOut = false
    try {
      const answer = await fetch({origin: state.origin, channel: request.channel, path: request.path, query: request.query, timeoutMs})
      if (answer.status === 200) {
        const object: CachedObject = {
          body: answer.body,
          contentType: answer.contentType ?? defaultContentType(request.kind),
          cacheControl: answer.cacheControl ?? (request.kind === 'master' || request.kind === 'playlist' ? 'no-cache' : 'public, max-age=3600'),
        }
        cache.set(key, object, this.ttlMs(kind))
        return {type: 'object', object, source: 'miss'}
      }
      // The ingest's own answer about this object (not there, a bad blocking request): the viewer's.
      if (answer.status < 500) {
        return {type: 'error', status: answer.status, error: answer.status === 404 ? 'not found' : 'origin refused', message: `the ingest answered ${answer.status} for ${request.path}${request.query}`}
      }
      failure = `the ingest answered ${answer.status}`
    } catch (error) {
      if (!(error instanceof OriginUnreachableError)) throw error
      failure = error.message
      timedOut = error.timedOut
    }
    onUpstreamFailure(kind)
    // The ingest may have died, or the stream moved to another one: ask Redis again.
    states.invalidate(request.channel)
    const fresh = await states.get(request.channel)
    if (fresh === undefined) {
      log.info({channel: request.channel, origin: state.origin, failure}, 'origin failed and the stream is gone: offline')
      return offline(request.channel)
    }
    if (fresh.origin !== state.origin || fresh.streamId !== state.streamId) {
      log.info({channel: request.channel, from: state.origin, to: fresh.origin, failure}, 'stream moved to another ingest')
      return {type: 'moved'}
    }
    log.warn({channel: request.channel, origin: state.origin, path: request.path, failure}, 'origin failed')
    return timedOut
      ? {type: 'error', status: 504, error: 'origin timeout', message: `no answer from the ingest for ${request.path}`}
      : {type: 'error', status: 502, error: 'origin unavailable', message: `the ingest failed: ${failure}`}
  }

  private ttlMs(kind: UpstreamKind): number | undefined {
    switch (kind) {
      case 'master':
        return this.ttls.masterMs
      case 'playlist':
        return this.ttls.playlistMs
      case 'blocking-playlist':
        return this.ttls.blockingMs
      default:
        return undefined
    }
  }
}
