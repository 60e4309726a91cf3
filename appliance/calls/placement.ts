/**
 * Which SFU process a call room lives on: the least loaded one with room when the room opens,
 * kept in Redis (callRoomKey) so every web instance sends the room's participants to the same
 * process, and moved (compare-and-set) when that process is gone. When that process is full, the
 * room's next participants go to another (callSpanKey), which links to the first, its hub.
 */
import type {Redis} from 'ioredis'

import {CALL_ROOM_TTL_SECONDS, callRoomKey, callSpanKey, type RegistryRecord} from '../contract/index.js'
import {listNodes} from '../registry/nodes.js'

// Sets the room's SFU only if it is still what the caller saw (nothing, or the process that went away).
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return ARGV[2]`

export interface Placement {
  sfu: RegistryRecord
  /** The SFU the room was on before this call moved it (its people must join again). */
  movedFrom?: string
  /** The room's own SFU, when `sfu` is another that the room continues on (the room's is full). */
  hub?: RegistryRecord
}

/** The live SFU a room is on now, from its placement; undefined when nobody is in it (or its SFU is gone). */
export async function roomSfu(redis: Redis, room: string): Promise<RegistryRecord | undefined> {
  const id = await redis.get(callRoomKey(room))
  if (id === null) return undefined
  return (await listNodes(redis, 'sfu')).find((node) => node.id === id && node.ports.http !== undefined)
}

const hasRoom = (node: RegistryRecord): boolean => (node.load.slotsFree ?? 1) > 0

/**
 * The SFU for a room's next participant: the one the room is on while that one is alive and not in
 * `avoid` (processes this web could not reach), else the least loaded with room. When the room's
 * is full: a process the room continues on already, with room, else the least loaded other with
 * room (its hub then links it in). Undefined when no SFU can take the room.
 */
export async function placeRoom(redis: Redis, room: string, avoid: ReadonlySet<string> = new Set()): Promise<Placement | undefined> {
  const key = callRoomKey(room)
  const usable = (await listNodes(redis, 'sfu')).filter((node) => !avoid.has(node.id) && node.ports.http !== undefined)
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const current = await redis.get(key)
    const placed = usable.find((node) => node.id === current)
    if (placed !== undefined) {
      await redis.expire(key, CALL_ROOM_TTL_SECONDS)
      if (hasRoom(placed)) return {sfu: placed}
      return spill(redis, room, placed, usable)
    }
    // listNodes orders by load: the first with a free slot.
    const pick = usable.find(hasRoom)
    if (pick === undefined) return undefined
    const now = (await redis.eval(COMPARE_AND_SET, 1, key, current ?? '', pick.id, CALL_ROOM_TTL_SECONDS)) as string | null
    if (now === pick.id) return {sfu: pick, ...(current === null ? {} : {movedFrom: current})}
    // Another web placed it meanwhile: take theirs (next round), unless it is one to avoid.
  }
  return undefined
}

/** The room's SFU is full: another with room, those the room is on already first. */
async function spill(redis: Redis, room: string, hub: RegistryRecord, usable: RegistryRecord[]): Promise<Placement> {
  const key = callSpanKey(room)
  const spanned = new Set(await redis.smembers(key))
  const others = usable.filter((node) => node.id !== hub.id && hasRoom(node))
  const pick = others.find((node) => spanned.has(node.id)) ?? others[0]
  // None has room: the hub takes them anyway (on its least busy worker).
  if (pick === undefined) return {sfu: hub}
  await redis.multi().sadd(key, pick.id).expire(key, CALL_ROOM_TTL_SECONDS).exec()
  return {sfu: pick, hub}
}
