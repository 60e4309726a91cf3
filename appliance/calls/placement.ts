/**
 * Which SFU process a call room lives on: the least loaded one with room when the room opens,
 * kept in Redis (callRoomKey) so every web instance sends the room's participants to the same
 * process, and moved (compare-and-set) when that process is gone.
 */
import type {Redis} from 'ioredis'

import {CALL_ROOM_TTL_SECONDS, callRoomKey, type RegistryRecord} from '../contract/index.js'
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
}

/**
 * The SFU for a room: the one it is on while that one is alive and not in `avoid` (processes this
 * web could not reach), else the least loaded with room. Undefined when no SFU can take it.
 */
export async function placeRoom(redis: Redis, room: string, avoid: ReadonlySet<string> = new Set()): Promise<Placement | undefined> {
  const key = callRoomKey(room)
  const usable = (await listNodes(redis, 'sfu')).filter((node) => !avoid.has(node.id) && node.ports.http !== undefined)
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const current = await redis.get(key)
    const placed = usable.find((node) => node.id === current)
    if (placed !== undefined) {
      await redis.expire(key, CALL_ROOM_TTL_SECONDS)
      return {sfu: placed}
    }
    // listNodes orders by load: the first with a free slot.
    const pick = usable.find((node) => (node.load.slotsFree ?? 1) > 0)
    if (pick === undefined) return undefined
    const now = (await redis.eval(COMPARE_AND_SET, 1, key, current ?? '', pick.id, CALL_ROOM_TTL_SECONDS)) as string | null
    if (now === pick.id) return {sfu: pick, ...(current === null ? {} : {movedFrom: current})}
    // Another web placed it meanwhile: take theirs (next round), unless it is one to avoid.
  }
  return undefined
}
