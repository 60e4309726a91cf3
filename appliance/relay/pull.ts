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
import type {MediaFiles} from './media-files.js'
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
  /** A media object fetched again (evicted while still wanted): the cache bound is too small. */
  onRepeat?: (kind: UpstreamKind) => void
  ttls?: PullTtls
  /**
   * Where media objects go (for nginx to send): then the memory cache holds only playlists, and
   * a playlist's newest objects are fetched as it arrives (its new parts before it is answered),
   * so the viewers who read it find them as files.
   */
  files?: MediaFiles
  /** Longest a playlist answer waits for its new parts to be fetched (default 100 ms: on a loaded box a late answer costs LL-HLS players more than a part fetched by the relay process). */
  prefetchWaitMs?: number
  /** Per upstream request; a blocking one may be held by the ingest for several parts. */
  timeoutMs?: number
  blockingTimeoutMs?: number
}

/** What one upstream fetch ends in; 'moved' sends every waiting viewer round again on the new state. */
type FetchOutcome = PullResult | {type: 'moved'}

const defaultContentType = (kind: LiveObjectKind): string => (kind === 'master' || kind === 'playlist' ? 'application/vnd.apple.mpegurl' : 'video/mp4')

/** About an hour of one stream's segments and parts across a ladder. */
const REMEMBERED_FETCHES = 20_000

const isMedia = (kind: LiveObjectKind): boolean => kind === 'init' || kind === 'segment' || kind === 'part'

/** What a media object is sent with when the ingest said nothing (init.mp4 keeps its name across broadcasts). */
const mediaCacheControl = (kind: LiveObjectKind): string => (kind === 'segment' || kind === 'part' ? 'public, max-age=31536000, immutable' : 'no-cache')

const MEDIA_NAME = /^(?:init\.mp4|seg(\d{1,10})\.m4s|part(\d{1,10})\.\d{1,4}\.m4s)$/

/**
 * The objects of a media playlist a viewer may ask for next: init.mp4 and everything of the
 * newest two media sequence numbers (the last complete segment or two and the parts after them;
 * never the preload hint, which does not exist yet). Names as the packager writes them; others
 * are left to be fetched on request.
 */
export function newestMedia(playlist: string): {name: string; kind: 'init' | 'segment' | 'part'}[] {
  const found: {name: string; kind: 'init' | 'segment' | 'part'; msn: number}[] = []
  for (const raw of playlist.split('\n')) {
    const line = raw.trim()
    let name: string | undefined
    if (line.startsWith('#EXT-X-PART:') || line.startsWith('#EXT-X-MAP:')) name = /URI="([^"]+)"/.exec(line)?.[1]
    else if (line !== '' && !line.startsWith('#')) name = line
    const match = name === undefined ? null : MEDIA_NAME.exec(name)
    if (name === undefined || match === null) continue
    const kind = match[1] !== undefined ? 'segment' : match[2] !== undefined ? 'part' : 'init'
    found.push({name, kind, msn: Number(match[1] ?? match[2] ?? Number.POSITIVE_INFINITY)})
  }
  const newest = Math.max(-1, ...found.filter((f) => f.kind !== 'init').map((f) => f.msn))
  return found.filter((f) => f.msn >= newest - 1).map(({name, kind}) => ({name, kind}))
}

const offline = (channel: string): PullResult => ({type: 'error', status: 404, error: 'offline', message: `no such stream is live on channel ${channel}`})

export class RelayPull {
  private readonly flights = new SingleFlight<FetchOutcome>()
  /** Media objects fetched lately (insertion-ordered, the oldest dropped): a second fetch is a repeat. */
  private readonly fetched = new Set<string>()
  private readonly ttls: PullTtls

  constructor(private readonly options: RelayPullOptions) {
    this.ttls = options.ttls ?? defaultTtls
  }

  async pull(request: LivePath, retryOnMove = true): Promise<PullResult> {
    const {files} = this.options
    const state = await this.options.states.get(request.channel)
    if (state === undefined) {
      await files?.hide(request.channel)
      return offline(request.channel)
    }
    if (request.rendition !== undefined && !state.renditions.some((r) => r.name === request.rendition)) {
      return {type: 'error', status: 404, error: 'not found', message: `channel ${request.channel} has no rendition ${request.rendition}`}
    }
    await files?.show(request.channel, state.streamId)
    // The broadcast's id is in the key: a new broadcast restarts at seg0 and must not get the old ones.
    const key = `${request.channel}/${state.streamId}/${request.path}${request.query}`
    if (files !== undefined && isMedia(request.kind)) {
      // Stored already (nginx asked before the file was in place): read it back.
      const body = await files.read(request.channel, state.streamId, request.path)
      if (body !== undefined) return {type: 'object', object: {body, contentType: defaultContentType(request.kind), cacheControl: mediaCacheControl(request.kind)}, source: 'hit'}
    } else {
      const hit = this.options.cache.get(key)
      if (hit !== undefined) return {type: 'object', object: hit, source: 'hit'}
    }
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
          cacheControl: answer.cacheControl ?? mediaCacheControl(request.kind),
        }
        const {files} = this.options
        if (isMedia(request.kind)) this.remember(key, kind)
        if (files !== undefined && isMedia(request.kind)) {
          await files.put(request.channel, state.streamId, request.path, object.body)
        } else {
          cache.set(key, object, this.ttlMs(kind))
        }
        if (files !== undefined && request.kind === 'playlist') await this.prefetch(files, request, state, object.body)
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

  /**
   * Fetches the newest objects a playlist lists that are not stored yet (once each: a viewer's
   * request for one joins the same fetch), waiting at most prefetchWaitMs.
   */
  private async prefetch(files: MediaFiles, request: LivePath, state: StreamState, playlist: Buffer): Promise<void> {
    const rendition = request.rendition
    if (rendition === undefined) return
    // What a player asks for right after this playlist (a new part, init.mp4 when it joins) is
    // waited for; whole segments, which only players without parts fetch, come in meanwhile.
    const awaited: Promise<FetchOutcome>[] = []
    for (const {name, kind} of newestMedia(playlist.toString('utf8'))) {
      const objectPath = `${rendition}/${name}`
      if (files.has(request.channel, state.streamId, objectPath)) continue
      const media: LivePath = {channel: request.channel, path: objectPath, kind, rendition, blocking: undefined, query: ''}
      const key = `${request.channel}/${state.streamId}/${objectPath}`
      const fetch = this.flights.run(key, () => this.fetchOnce(media, state, key)).promise
      if (kind === 'segment') fetch.catch(() => undefined)
      else awaited.push(fetch)
    }
    if (awaited.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled(awaited), new Promise((resolve) => (timer = setTimeout(resolve, this.options.prefetchWaitMs ?? 100)))])
    clearTimeout(timer)
  }

  private remember(key: string, kind: UpstreamKind): void {
    if (this.fetched.has(key)) {
      this.options.onRepeat?.(kind)
      return
    }
    this.fetched.add(key)
    if (this.fetched.size > REMEMBERED_FETCHES) this.fetched.delete(this.fetched.values().next().value!)
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
