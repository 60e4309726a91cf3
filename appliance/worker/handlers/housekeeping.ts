import {registeredRoles, registryRecordSchema} from '../../contract/index.js'
import type {HousekeepingResult, JobData} from '../../jobs/types.js'
import {safeJson} from '../../platform/json.js'
import {isLive, registryKeys} from '../../registry/nodes.js'
import type {JobContext} from './context.js'

/**
 * Drops registry records that no live process stands behind: a heartbeat older than the TTL
 * (e.g. written without EX by an old version, or a clock jump), or a record that does not parse.
 */
export async function housekeeping(_data: JobData['housekeeping'], {redis, log}: JobContext): Promise<HousekeepingResult> {
  const result: HousekeepingResult = {
    status: 'done',
    registry: {ingest: {live: 0, removed: 0}, relay: {live: 0, removed: 0}, sfu: {live: 0, removed: 0}},
  }
  const now = Date.now()
  for (const role of registeredRoles) {
    for (const key of await registryKeys(redis, role)) {
      const value = await redis.get(key)
      if (value === null) continue // expired meanwhile
      const record = registryRecordSchema.safeParse(safeJson(value))
      if (record.success && record.data.role === role && isLive(record.data, now)) {
        result.registry[role].live += 1
      } else {
        await redis.del(key)
        result.registry[role].removed += 1
        log.info({key, reason: record.success ? 'stale heartbeat' : 'unparseable record'}, 'dropped dead registry record')
      }
    }
  }
  return result
}
