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

  /** The live state, or undefined when the channel is offline (or the value is not a state). */
  async get(channel: string): Promise<StreamState | undefined> {
    const value = await this.redis.get(streamStateKey(channel))
    if (value === null) return undefined
    const parsed = streamStateSchema.safeParse(safeJson(value))
    return parsed.success ? parsed.data : undefined
  }
}

interface StreamDoc {
  channel: string
  streamId: string
  ingestId: string
  startedAt: Date
  endedAt?: Date
  live: boolean
  renditions: StreamState['renditions']
  /** Why it ended when not by the publisher leaving, e.g. 'superseded' after its ingest died. */
  endReason?: string
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

  async ended(streamId: string, at = new Date()): Promise<void> {
    await this.streams.updateOne({streamId, live: true}, {$set: {live: false, endedAt: at}})
  }
}
