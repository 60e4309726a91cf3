/**
 * Which channel is live where. Redis holds the truth for "live now": one key per channel
 * (streamStateKey), written with SET NX by the ingest that accepted the publish — the same key is the
 * lock, so two ingests racing for one channel cannot both win — and kept alive by that ingest's
 * heartbeat (TTL), so a dead ingest's streams go offline by themselves. MongoDB keeps the history
 * (`streams`: one document per broadcast).
 */
import {randomBytes} from 'node:crypto'

import type {Redis} from 'ioredis'
import type {Collection, Db} from 'mongodb'

import {REGISTRY_TTL_SECONDS, streamStateKey, streamStateSchema, type HardwareProfile, type StreamState} from '../contract/index.js'
import {safeJson} from '../platform/json.js'

export const STREAMS_COLLECTION = 'streams'

/** The renditions a profile's ladder makes; bandwidth as HLS counts it (video + audio, bit/s). */
export function renditionsOf(ladder: HardwareProfile['ladder']): StreamState['renditions'] {
  return ladder.map((r) => ({name: r.name, height: r.height, bandwidth: Math.round((r.videoKbps + r.audioKbps) * 1000)}))
}

/** Sorts by start time, unique without coordination: 20250102T030405Z-9f3a1c2b. */
export function newStreamId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return `${stamp}-${randomBytes(4).toString('hex')}`
}

export interface StreamStateInput {
  channel: string
  ingestId: string
  /** The ingest's HTTP server as relays reach it: host:port. */
  origin: string
  renditions: StreamState['renditions']
  now?: Date
}

export function buildStreamState({channel, ingestId, origin, renditions, now = new Date()}: StreamStateInput): StreamState {
  return streamStateSchema.parse({channel, streamId: newStreamId(now), since: now.toISOString(), ingestId, origin, renditions})
}

/** Refresh our own state (value unchanged) or take it back if it expired; 0 when another holds it. */
const REFRESH_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0`
/** shing:stream-end:<channel> = streamId: an admin asked to end that broadcast. */
const END_PREFIX = 'shing:stream-end:'
/** Delete only our own state: a late release must not end someone else's broadcast. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Stream state in Redis; every write compares the whole value, so only its owner changes it. */
export class StreamStates {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds = REGISTRY_TTL_SECONDS,
  ) {}

  /** True when the channel was offline and is now ours (atomic: SET NX). */
  async claim(state: StreamState): Promise<boolean> {
    const answer = await this.redis.set(streamStateKey(state.channel), JSON.stringify(state), 'EX', this.ttlSeconds, 'NX')
    return answer === 'OK'
  }

  /** 'held' while the state is still ours; 'lost' when another ingest holds the channel now. */
  async refresh(state: StreamState): Promise<'held' | 'lost'> {
    const answer = await this.redis.eval(REFRESH_SCRIPT, 1, streamStateKey(state.channel), JSON.stringify(state), String(this.ttlSeconds))
    return answer === 1 ? 'held' : 'lost'
  }

  async release(state: StreamState): Promise<boolean> {
    const answer = await this.redis.eval(RELEASE_SCRIPT, 1, streamStateKey(state.channel), JSON.stringify(state))
    return answer === 1
  }

  /** Asks the ingest that holds the channel's broadcast `streamId` to end it (at its next heartbeat). */
  async requestEnd(channel: string, streamId: string): Promise<void> {
    await this.redis.set(END_PREFIX + channel, streamId, 'EX', 60)
  }

  /** True when someone asked to end this broadcast. */
  async endRequested(state: StreamState): Promise<boolean> {
    return (await this.redis.get(END_PREFIX + state.channel)) === state.streamId
  }

  /** The live state, or undefined when the channel is offline (or the value is not a state). */
  async get(channel: string): Promise<StreamState | undefined> {
    const value = await this.redis.get(streamStateKey(channel))
    if (value === null) return undefined
    const parsed = streamStateSchema.safeParse(safeJson(value))
    return parsed.success ? parsed.data : undefined
  }
}

export interface StreamDoc {
  channel: string
  streamId: string
  ingestId: string
  startedAt: Date
  endedAt?: Date
  live: boolean
  renditions: StreamState['renditions']
  /** Why it ended when not by the publisher leaving, e.g. 'superseded' after its ingest died. */
  endReason?: string
  /** What in the encoder's settings hurt the ladder, each with what to change (the dashboard shows them). */
  sourceWarnings?: string[]
  /** Its ingest died before closing its archive; housekeeping closed it (and queued dvr.finalize) or found it closed. */
  archiveClosed?: boolean
  /**
   * Its past broadcast was deleted on purpose (by its streamer, with its account, or past the
   * site's retention): housekeeping lets what is left of its archive go. Until then an archive is
   * never taken for an orphan, even without a VOD (one whose dvr.finalize failed can be retried).
   */
  archiveDeleted?: boolean
}

/** Marks a broadcast's archive deleted on purpose (set when its VOD document goes, before vod.delete is queued). */
export async function markArchiveDeleted(db: Db, streamId: string): Promise<void> {
  await db.collection<StreamDoc>(STREAMS_COLLECTION).updateOne({streamId}, {$set: {archiveDeleted: true}})
}

/** One document per broadcast in `streams`. */
export class StreamRecords {
  private readonly streams: Collection<StreamDoc>
  private indexes: Promise<void> | undefined

  constructor(db: Db) {
    this.streams = db.collection<StreamDoc>(STREAMS_COLLECTION)
  }

  private ensureIndexes(): Promise<void> {
    this.indexes ??= (async () => {
      await this.streams.createIndex({streamId: 1}, {unique: true})
      await this.streams.createIndex({channel: 1, startedAt: -1})
    })().catch((error: unknown) => {
      this.indexes = undefined
      throw error
    })
    return this.indexes
  }

  /**
   * Records the start. Older documents of the channel still marked live belong to an ingest that
   * died without ending them (its Redis state expired, or this claim would have failed): close them.
   */
  async started(state: StreamState): Promise<void> {
    await this.ensureIndexes()
    const startedAt = new Date(state.since)
    await this.streams.updateMany({channel: state.channel, live: true}, {$set: {live: false, endedAt: startedAt, endReason: 'superseded'}})
    await this.streams.insertOne({
      channel: state.channel,
      streamId: state.streamId,
      ingestId: state.ingestId,
      startedAt,
      live: true,
      renditions: state.renditions,
    })
  }

  /** The channel's latest broadcast (live or not), or null. */
  latest(channel: string): Promise<StreamDoc | null> {
    return this.streams.findOne({channel}, {sort: {startedAt: -1}})
  }

  /** The encoder's settings that hurt, found once per broadcast. */
  async sourceWarnings(streamId: string, warnings: string[]): Promise<void> {
    await this.streams.updateOne({streamId}, {$set: {sourceWarnings: warnings}})
  }

  async ended(streamId: string, at = new Date()): Promise<void> {
    await this.streams.updateOne({streamId, live: true}, {$set: {live: false, endedAt: at}})
  }
}

/** How the last sweep went: every live channel's state, and when it was read. */
interface Sweep {
  at: number
  states: Map<string, StreamState>
}

/**
 * Every live channel's state, swept from Redis every few seconds (SCAN + MGET: a handful of
 * keys). While Redis is away the last sweep stands in, for up to maxAgeMs: a relay keeps serving
 * a stream it had not served yet, and the web answers with the last known state.
 */
export class LiveStates {
  private sweep: Sweep | undefined
  private timer: NodeJS.Timeout | undefined
  private failing = false

  constructor(
    private readonly redis: Redis,
    private readonly log: {warn(obj: object, msg: string): void; info(obj: object, msg: string): void},
    private readonly options: {everyMs?: number; maxAgeMs?: number; now?: () => number} = {},
  ) {}

  private get now(): number {
    return (this.options.now ?? Date.now)()
  }

  /** Sweeps now and then every everyMs, until stop(). */
  start(): void {
    const run = (): void => {
      void this.refresh()
    }
    run()
    this.timer = setInterval(run, this.options.everyMs ?? 2000)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  async refresh(): Promise<void> {
    try {
      const keys: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await this.redis.scan(cursor, 'MATCH', streamStateKey('*'), 'COUNT', 500)
        keys.push(...batch)
        cursor = next
      } while (cursor !== '0')
      const values = keys.length === 0 ? [] : await this.redis.mget(keys)
      const states = new Map<string, StreamState>()
      for (const value of values) {
        const parsed = value === null ? undefined : streamStateSchema.safeParse(safeJson(value))
        if (parsed?.success) states.set(parsed.data.channel, parsed.data)
      }
      this.sweep = {at: this.now, states}
      if (this.failing) this.log.info({channels: states.size}, 'live channels read from Redis again')
      this.failing = false
    } catch (error) {
      if (!this.failing) this.log.warn({err: (error as Error).message}, 'cannot read the live channels from Redis; serving the last ones known')
      this.failing = true
    }
  }

  /** The last sweep, unless it is older than maxAgeMs (then nothing is known). */
  private fresh(): Sweep | undefined {
    const sweep = this.sweep
    if (sweep === undefined || this.now - sweep.at > (this.options.maxAgeMs ?? 120_000)) return undefined
    return sweep
  }

  /** What the last sweep knew of a channel: its state (live), null (offline), undefined (nothing known). */
  lastKnown(channel: string): StreamState | null | undefined {
    const sweep = this.fresh()
    if (sweep === undefined) return undefined
    return sweep.states.get(channel) ?? null
  }

  /** Live channels as last swept (empty when nothing is known), newest first. */
  all(): StreamState[] {
    return [...(this.fresh()?.states.values() ?? [])].sort((a, b) => b.since.localeCompare(a.since))
  }

  /** Seconds since the last good sweep (undefined: none yet). */
  ageSeconds(): number | undefined {
    return this.sweep === undefined ? undefined : (this.now - this.sweep.at) / 1000
  }
}
