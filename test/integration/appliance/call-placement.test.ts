/**
 * Where call rooms go (calls/placement.ts), against a real Redis holding registry records: the least
 * loaded SFU with a free slot, the same one for every web however many ask at once, kept while it
 * lives, and moved (once, for everyone) when it is gone or cannot be reached; when it is full, the
 * room's next people go to another SFU with room (the same one while it has room), naming the hub.
 */
import {Redis} from 'ioredis'
import {afterAll, beforeAll, beforeEach, expect, it} from 'vitest'

import {placeRoom} from '../../../appliance/calls/placement.js'
import {CALL_ROOM_TTL_SECONDS, callRoomKey, callSpanKey, REGISTRY_TTL_SECONDS, registryKey, type RegistryRecord} from '../../../appliance/contract/index.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'

let server: RedisServer
let redis: Redis
const ROOM = 'AAAAAAAAAAAAAAAAAAAAAA'

async function sfu(id: string, load: {cpu: number; slotsUsed?: number; slotsFree?: number}): Promise<void> {
  const now = new Date().toISOString()
  const record: RegistryRecord = {id, role: 'sfu', host: '127.0.0.1', ports: {http: 8083}, startedAt: now, heartbeatAt: now, load: {streams: 0, viewers: 0, egressBitsPerSecond: 0, slotsUsed: 0, slotsFree: 500, ...load}}
  await redis.set(registryKey('sfu', id), JSON.stringify(record), 'EX', REGISTRY_TTL_SECONDS)
}

beforeAll(async () => {
  server = await startRedis()
  redis = new Redis(server.url)
})
afterAll(async () => {
  redis?.disconnect()
  await server?.stop()
})
beforeEach(async () => {
  await redis.flushall()
})

it('a new room goes to the least loaded SFU with a free slot, and stays there', async () => {
  await sfu('busy', {cpu: 0.7})
  await sfu('full', {cpu: 0.01, slotsUsed: 500, slotsFree: 0})
  await sfu('calm', {cpu: 0.2})
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('calm')
  expect(await redis.get(callRoomKey(ROOM))).toBe('calm')
  expect(await redis.ttl(callRoomKey(ROOM))).toBeGreaterThan(CALL_ROOM_TTL_SECONDS - 5)
  // Busier now, but the room's people are there: it stays.
  await sfu('calm', {cpu: 0.9})
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('calm')
})

it('twenty joins at once, as from several web instances, agree on one SFU', async () => {
  await sfu('one', {cpu: 0.1})
  await sfu('two', {cpu: 0.1})
  const clients = Array.from({length: 4}, () => new Redis(server.url))
  try {
    const placed = await Promise.all(Array.from({length: 20}, (_, i) => placeRoom(clients[i % clients.length]!, ROOM)))
    expect(new Set(placed.map((p) => p?.sfu.id)).size).toBe(1)
    // One of them placed it; none moved it from anywhere.
    expect(placed.filter((p) => p?.movedFrom !== undefined)).toEqual([])
  } finally {
    for (const client of clients) client.disconnect()
  }
})

it('a room whose SFU left the registry, or that a web could not reach, moves to another; with none left, it has nowhere to go', async () => {
  await sfu('first', {cpu: 0.1})
  await sfu('second', {cpu: 0.3})
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('first')
  // Unreachable from this web (its record may live up to its TTL): another, for everyone after; the move names where it was.
  expect(await placeRoom(redis, ROOM, new Set(['first']))).toMatchObject({sfu: {id: 'second'}, movedFrom: 'first'})
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('second')
  // Gone from the registry.
  await redis.del(registryKey('sfu', 'second'))
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('first')
  await redis.del(registryKey('sfu', 'first'))
  expect(await placeRoom(redis, ROOM)).toBeUndefined()
})

it('a room whose SFU is full continues on another with room (the same one for the next), naming its hub; with none, the full one takes them', async () => {
  await sfu('hub', {cpu: 0.1})
  await sfu('calm', {cpu: 0.2})
  await sfu('calmer', {cpu: 0.15})
  expect(await placeRoom(redis, ROOM)).toEqual({sfu: expect.objectContaining({id: 'hub'})})
  await sfu('hub', {cpu: 0.6, slotsUsed: 500, slotsFree: 0})
  const spilled = await placeRoom(redis, ROOM)
  expect(spilled?.sfu.id).toBe('calmer')
  expect(spilled?.hub?.id).toBe('hub')
  expect(await redis.smembers(callSpanKey(ROOM))).toEqual(['calmer'])
  // The room's own SFU does not change.
  expect(await redis.get(callRoomKey(ROOM))).toBe('hub')
  // Busier than calm now, but the room is on it already: the next goes there too, while it has room.
  await sfu('calmer', {cpu: 0.5})
  expect((await placeRoom(redis, ROOM))?.sfu.id).toBe('calmer')
  await sfu('calmer', {cpu: 0.5, slotsUsed: 500, slotsFree: 0})
  expect(await placeRoom(redis, ROOM)).toMatchObject({sfu: {id: 'calm'}, hub: {id: 'hub'}})
  expect((await redis.smembers(callSpanKey(ROOM))).sort()).toEqual(['calm', 'calmer'])
  // Every one full: the hub takes them (on its least busy worker).
  await sfu('calm', {cpu: 0.5, slotsUsed: 500, slotsFree: 0})
  expect(await placeRoom(redis, ROOM)).toEqual({sfu: expect.objectContaining({id: 'hub'})})
})
