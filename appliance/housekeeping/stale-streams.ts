/**
 * Broadcasts that MongoDB still marks live after their ingest died. Redis needs nothing: a stream's
 * state expires by itself when its ingest stops heartbeating (channels/stream-state.ts), so no
 * channel shows live for long; but the `streams` document stays live: true until the channel goes
 * live again (StreamRecords.started supersedes it). Here such a document is ended once its stream
 * state is gone and its ingest has no heartbeat (or has restarted since), so that the history is
 * right and its archive, no longer held by a live broadcast, is kept only for the grace period.
 * Its `channel.event` offline is queued too (the ingest that would have queued it died): webhooks
 * hear that the channel went offline. The event's job id is the broadcast's, so an ingest that did
 * queue it after all makes no second one. Its archive, as far as the ingest uploaded it, is closed
 * and `dvr.finalize` queued: the broadcast up to the crash becomes a past broadcast like any other.
 */
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {STREAMS_COLLECTION, StreamStates, type StreamDoc} from '../channels/stream-state.js'
import {REGISTRY_TTL_SECONDS, registryKey, registryRecordSchema} from '../contract/index.js'
import type {JobQueues} from '../jobs/queues.js'
import type {HousekeepingRemoval} from '../jobs/types.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import type {Storage} from '../platform/storage.js'
import {closeAbandonedArchive} from '../vods/dvr-archive.js'
import {isLive} from '../registry/nodes.js'
import {removalOf} from './report.js'

export const STALE_STREAM_REASON = 'ingest gone'
/** Superseded broadcasts are looked at for a day after they ended (their archive closed once). */
const SALVAGE_WITHIN_MS = 24 * 3600_000

/** Whether the ingest that ran a broadcast is still the same live process. */
async function ingestStillThere(redis: Redis, ingestId: string, streamStartedAt: Date, now: Date): Promise<boolean> {
  const value = await redis.get(registryKey('ingest', ingestId))
  const record = value === null ? undefined : registryRecordSchema.safeParse(safeJson(value))
  if (record?.success !== true || !isLive(record.data, now.getTime())) return false
  // The same id, started again after the broadcast began: the process that ran it is gone.
  return Date.parse(record.data.startedAt) <= streamStartedAt.getTime()
}

export async function endStaleStreams(
  db: Db,
  redis: Redis,
  jobs: Pick<JobQueues, 'enqueue'>,
  {now, dryRun, log, storage}: {now: Date; dryRun: boolean; log: Logger; storage: Storage},
): Promise<HousekeepingRemoval> {
  const streams = db.collection<StreamDoc>(STREAMS_COLLECTION)
  const states = new StreamStates(redis)
  const live = await streams.find({live: true}, {projection: {_id: 0, channel: 1, streamId: 1, ingestId: 1, startedAt: 1, renditions: 1}}).toArray()
  const stale: StreamDoc[] = []
  for (const doc of live) {
    // Just begun: its ingest writes the state and the document a moment apart.
    if (now.getTime() - doc.startedAt.getTime() < REGISTRY_TTL_SECONDS * 1000) continue
    if ((await states.get(doc.channel))?.streamId === doc.streamId) continue
    if (await ingestStillThere(redis, doc.ingestId, doc.startedAt, now)) continue
    stale.push(doc)
  }
  // Cut short the same way, but the channel went live again first (the streamer reconnected to
  // another ingest, which marks the last broadcast superseded): ended, its archive still open.
  const superseded = await streams
    .find({live: false, endReason: 'superseded', archiveClosed: {$exists: false}, endedAt: {$gte: new Date(now.getTime() - SALVAGE_WITHIN_MS)}}, {projection: {_id: 0, channel: 1, streamId: 1, ingestId: 1, startedAt: 1, renditions: 1}})
    .toArray()
  const cut: StreamDoc[] = []
  for (const doc of superseded) if (!(await ingestStillThere(redis, doc.ingestId, doc.startedAt, now))) cut.push(doc)
  if (!dryRun) {
    for (const s of [...stale, ...cut]) {
      try {
        // dvr.finalize is queued before the master is written (it waits for it, retrying): a
        // failed enqueue leaves the archive without a master, for the next run to close again.
        const renditions = (s.renditions ?? []).map((r) => ({name: r.name, bandwidth: r.bandwidth}))
        const archive = await closeAbandonedArchive(storage, s.channel, s.streamId, renditions, async () => {
          await jobs.enqueue('dvr.finalize', {streamId: s.streamId})
        })
        await streams.updateOne({streamId: s.streamId}, {$set: {archiveClosed: true}})
        if (!archive.closed) continue
        log.info({channel: s.channel, streamId: s.streamId, segments: archive.segments}, 'closed the archive of a broadcast whose ingest died; dvr.finalize queued')
      } catch (error) {
        // The broadcast is ended all the same; the next run tries its archive again.
        log.warn({channel: s.channel, streamId: s.streamId, err: (error as Error).message}, 'could not close the archive of a broadcast whose ingest died')
      }
    }
  }
  if (!dryRun && stale.length > 0) {
    // Queued first: when Redis is away the broadcasts stay live and the next run tries again.
    for (const s of stale) await jobs.enqueue('channel.event', {channel: s.channel, event: 'offline', streamId: s.streamId, at: now.toISOString()})
    await streams.updateMany({streamId: {$in: stale.map((s) => s.streamId)}, live: true}, {$set: {live: false, endedAt: now, endReason: STALE_STREAM_REASON}})
  }
  const names = stale.map((s) => `${s.channel}/${s.streamId}`)
  if (names.length > 0) log.info({dryRun, streams: names}, dryRun ? 'broadcasts whose ingest is gone found (dry run)' : 'broadcasts whose ingest is gone marked ended')
  return removalOf(names)
}
