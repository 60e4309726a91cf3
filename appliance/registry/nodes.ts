import type {Redis} from 'ioredis'

import {REGISTRY_PREFIX, REGISTRY_TTL_SECONDS, registryRecordSchema, type RegisteredRole, type RegistryRecord} from '../contract/index.js'
import {safeJson} from '../platform/json.js'

/** Keys of one role (or all roles) by SCAN: never KEYS on a shared Redis. */
export async function registryKeys(redis: Redis, role?: RegisteredRole): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${REGISTRY_PREFIX}:${role ?? '*'}:*`, 'COUNT', 200)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

/** Busy-ness in 0..1 for ordering: the larger of CPU and the share of slots used. */
export function loadScore(record: RegistryRecord): number {
  const {cpu, slotsUsed, slotsFree} = record.load
  const slots = slotsUsed !== undefined && slotsFree !== undefined && slotsUsed + slotsFree > 0 ? slotsUsed / (slotsUsed + slotsFree) : 0
  return Math.max(cpu, slots)
}

/** A record is live while its last heartbeat is younger than the TTL. */
export function isLive(record: RegistryRecord, now = Date.now()): boolean {
  return now - Date.parse(record.heartbeatAt) <= REGISTRY_TTL_SECONDS * 1000
}

/**
 * Live records of a role, least loaded first (then fewest streams + viewers): the head of the list
 * is where the next broadcaster or viewer goes. Records that do not parse are left out.
 */
export async function listNodes(redis: Redis, role: RegisteredRole): Promise<RegistryRecord[]> {
  const keys = await registryKeys(redis, role)
  if (keys.length === 0) return []
  const values = await redis.mget(keys)
  const now = Date.now()
  const records = values.flatMap((value) => {
    if (value === null) return []
    const parsed = registryRecordSchema.safeParse(safeJson(value))
    return parsed.success && parsed.data.role === role && isLive(parsed.data, now) ? [parsed.data] : []
  })
  return records.sort(
    (a, b) => loadScore(a) - loadScore(b) || a.load.streams + a.load.viewers - (b.load.streams + b.load.viewers) || a.id.localeCompare(b.id),
  )
}
