/**
 * Registry records that no live process stands behind: a heartbeat older than the TTL (e.g.
 * written without EX by an old version, or a clock jump), or a record that does not parse. A live
 * record expires by its TTL when its process dies; these would not.
 */
import type {Redis} from 'ioredis'

import {registeredRoles, registryRecordSchema} from '../contract/index.js'
import type {HousekeepingResult} from '../jobs/types.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import {isLive, registryKeys} from '../registry/nodes.js'

export async function dropDeadRegistryRecords(redis: Redis, {now, dryRun, log}: {now: Date; dryRun: boolean; log: Logger}): Promise<HousekeepingResult['registry']> {
  const result: HousekeepingResult['registry'] = {ingest: {live: 0, removed: 0}, relay: {live: 0, removed: 0}, sfu: {live: 0, removed: 0}}
  for (const role of registeredRoles) {
    for (const key of await registryKeys(redis, role)) {
      const value = await redis.get(key)
      if (value === null) continue // expired meanwhile
      const record = registryRecordSchema.safeParse(safeJson(value))
      if (record.success && record.data.role === role && isLive(record.data, now.getTime())) {
        result[role].live += 1
      } else {
        if (!dryRun) await redis.del(key)
        result[role].removed += 1
        log.info({key, dryRun, reason: record.success ? 'stale heartbeat' : 'unparseable record'}, dryRun ? 'dead registry record found (dry run)' : 'dropped dead registry record')
      }
    }
  }
  return result
}
