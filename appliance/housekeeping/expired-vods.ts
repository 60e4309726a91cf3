/**
 * Past broadcasts older than the site's VOD retention (retention.vodDays; 0 keeps them all), unless
 * their streamer keeps them (VodDoc.kept): the document first, so that the broadcast leaves every
 * page at once, then the archive through vod.delete (which leaves the segments clips play).
 */
import type {Db} from 'mongodb'

import type {JobQueues} from '../jobs/queues.js'
import type {HousekeepingResult} from '../jobs/types.js'
import type {Logger} from '../platform/logger.js'
import {markArchiveDeleted} from '../channels/stream-state.js'
import {vodExpiryCutoff} from '../vods/retention.js'
import {VODS_COLLECTION, type VodDoc} from '../vods/vods.js'
import {removalOf} from './report.js'

export interface ExpireVodsOptions {
  now: Date
  vodDays: number
  dryRun: boolean
  log: Logger
}

export async function expireVods(db: Db, jobs: Pick<JobQueues, 'enqueue'>, {now, vodDays, dryRun, log}: ExpireVodsOptions): Promise<{report: HousekeepingResult['expiredVods']; streams: Set<string>}> {
  const cutoff = vodExpiryCutoff(vodDays, now)
  if (cutoff === undefined) return {report: {vodDays, ...removalOf([]), kept: 0}, streams: new Set()}
  const vods = db.collection<VodDoc>(VODS_COLLECTION)
  const expired = {createdAt: {$lt: cutoff}, kept: {$ne: true}}
  const [due, kept] = await Promise.all([
    vods.find(expired, {projection: {_id: 0, channel: 1, streamId: 1}}).sort({createdAt: 1}).toArray(),
    vods.countDocuments({createdAt: {$lt: cutoff}, kept: true}),
  ])
  const removed: string[] = []
  for (const {channel, streamId} of due) {
    if (!dryRun) {
      // Kept meanwhile, or deleted by its streamer: not ours any more.
      if ((await vods.deleteOne({streamId, ...expired})).deletedCount !== 1) continue
      await markArchiveDeleted(db, streamId)
      await jobs.enqueue('vod.delete', {channel, streamId})
    }
    removed.push(`${channel}/${streamId}`)
  }
  if (removed.length > 0) log.info({dryRun, vodDays, vods: removed.slice(0, 20)}, dryRun ? 'past broadcasts past retention found (dry run)' : 'past broadcasts past retention deleted')
  return {report: {vodDays, ...removalOf(removed), kept}, streams: new Set(removed)}
}
