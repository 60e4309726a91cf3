/**
 * Where a relay pulls from: the stream state the ingest keeps in Redis (which ingest holds the
 * channel), cached for a second, and the HTTP fetch of one object from that ingest.
 */
import type {Redis} from 'ioredis'

import {LIVE_PREFIX, streamStateKey, streamStateSchema, type StreamState} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {safeJson} from '../platform/json.js'
import {SingleFlight} from './cache.js'

export type ReadStreamState = (channel: string) => Promise<StreamState | undefined>

/** Reads the state the ingest wrote; a value that does not parse counts as offline (and is logged). */
export function redisStreamStateReader(redis: Redis, log: Logger): ReadStreamState {
  return async (channel) => {
    const text = await redis.get(streamStateKey(channel))
    if (text === null) return undefined
    const parsed = streamStateSchema.safeParse(safeJson(text))
    if (parsed.success && parsed.data.channel === channel) return parsed.data
    log.warn({channel, key: streamStateKey(channel)}, 'stream state does not parse; serving the channel as offline')
    return undefined
  }
}

/**
 * Stream states for ttlMs (offline included, so requests for a dead channel do not hammer Redis).
 * Concurrent lookups of one channel share a single Redis read. When Redis cannot be read, a
 * channel that was live stays on its last state (this cache's, or the last sweep's); one never
 * known live makes get() throw.
 */
export class StreamStateCache {
  private readonly known = new Map<string, {state: StreamState | undefined; expiresAt: number}>()
  private readonly reads = new SingleFlight<StreamState | undefined>()

  constructor(
    private readonly read: ReadStreamState,
    private readonly ttlMs = 1000,
    private readonly now: () => number = Date.now,
    /** When Redis cannot be read and this cache never saw the channel: the last sweep of every live channel. */
    private readonly lastKnown: (channel: string) => StreamState | null | undefined = () => undefined,
  ) {}

  async get(channel: string): Promise<StreamState | undefined> {
    const hit = this.known.get(channel)
    if (hit !== undefined && hit.expiresAt > this.now()) return hit.state
    return this.reads.run(channel, async () => {
      let state: StreamState | undefined
      try {
        state = await this.read(channel)
      } catch (error) {
        // Redis unreachable: viewers of a live stream keep watching on what was last known, by
        // this cache or by the last sweep of every live channel.
        const known = hit?.state ?? this.lastKnown(channel)
        if (known === undefined || known === null) throw error
        state = known
      }
      // Bounded by the channels asked for within a TTL: drop stale ones before it grows.
      if (this.known.size >= 1000) for (const [key, entry] of this.known) if (entry.expiresAt <= this.now()) this.known.delete(key)
      this.known.set(channel, {state, expiresAt: this.now() + this.ttlMs})
      return state
    }).promise
  }

  /** Forgets the channel, so the next get reads Redis (after its origin failed). */
  invalidate(channel: string): void {
    this.known.delete(channel)
  }

  /** Channels with a live state in the cache. */
  liveChannels(): number {
    const now = this.now()
    let count = 0
    for (const entry of this.known.values()) if (entry.state !== undefined && entry.expiresAt > now) count++
    return count
  }
}

/** One object as the origin answered it. */
export interface OriginResponse {
  status: number
  body: Buffer
  contentType: string | undefined
  cacheControl: string | undefined
}

/** The origin could not be asked: refused, reset, or no answer in time. */
export class OriginUnreachableError extends Error {
  override name = 'OriginUnreachableError'
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: {cause: unknown},
  ) {
    super(message, options)
  }
}

export interface OriginRequest {
  /** host:port of the ingest (StreamState.origin). */
  origin: string
  channel: string
  path: string
  /** '' or '?…' */
  query: string
  timeoutMs: number
}

/** GET http://<origin>/live/<channel>/<path><query>, the whole body read into one Buffer. */
export async function fetchFromOrigin({origin, channel, path, query, timeoutMs}: OriginRequest): Promise<OriginResponse> {
  const url = `http://${origin}${LIVE_PREFIX}/${channel}/${path}${query}`
  let response: Response
  try {
    response = await fetch(url, {signal: AbortSignal.timeout(timeoutMs), redirect: 'error'})
    const body = Buffer.from(await response.arrayBuffer())
    return {
      status: response.status,
      body,
      contentType: response.headers.get('content-type') ?? undefined,
      cacheControl: response.headers.get('cache-control') ?? undefined,
    }
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError'
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    const why = timedOut ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message)
    throw new OriginUnreachableError(`${url}: ${why}`, timedOut, {cause: error})
  }
}
