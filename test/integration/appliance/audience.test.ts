/**
 * Viewer counts across relays, against a real Redis: each relay's recorder adds what it sees to
 * the channel's HyperLogLog windows, and the web's count is what a streamer and the front page show.
 */
import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AUDIENCE_WINDOW_MS, AudienceRecorder, countViewers} from '../../../appliance/relay/audience.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'

let server: RedisServer
let redis: Redis
const errors: Error[] = []

beforeAll(async () => {
  server = await startRedis()
  redis = new Redis(server.url)
})

afterAll(async () => {
  redis?.disconnect()
  await server?.stop()
})

/** Lets the recorders' writes (not awaited, as on a relay) land. */
const settle = (): Promise<string> => redis.ping()

describe('viewer counts', () => {
  it('a viewer who keeps watching counts once for as long as they watch, on every relay the edge sends them to; one who leaves stops counting within two windows', async () => {
    const relays = [new AudienceRecorder(redis, (e) => errors.push(e)), new AudienceRecorder(redis, (e) => errors.push(e))]
    const start = Math.ceil(Date.now() / AUDIENCE_WINDOW_MS) * AUDIENCE_WINDOW_MS + 60_000
    const counts: number[] = []
    // 45 s of a player asking every second, its requests spread over both relays; a second viewer for the first 12 s.
    for (let s = 0; s < 45; s++) {
      const now = start + s * 1000
      relays[s % 2]!.seen('night', 'viewer-a', now)
      if (s < 12) relays[0]!.seen('night', 'viewer-b', now)
      for (const relay of relays) relay.flush()
      await settle()
      counts.push((await countViewers(redis, ['night', 'nobody'], now)).get('night')!)
    }
    expect(counts.slice(0, 12)).toEqual(Array(12).fill(2))
    // Viewer b left at 12 s: gone from the count by 30 s; viewer a counts once the whole time.
    expect(counts.slice(30)).toEqual(Array(15).fill(1))
    expect(Math.min(...counts)).toBe(1)
    const after = start + 45_000 + 2 * AUDIENCE_WINDOW_MS
    expect((await countViewers(redis, ['night'], after)).get('night')).toBe(0)
    expect((await countViewers(redis, ['nobody'], start)).get('nobody')).toBe(0)
    expect(errors).toEqual([])
  })
})
