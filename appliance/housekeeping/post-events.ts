/**
 * Posts whose channel.event was never queued (Redis away when they were published: no
 * `eventQueuedAt`): queued now, so that their followers' timelines, notifications and webhooks hear
 * of them after all. Only posts younger than a day (an older one is news no more) and older than a
 * minute (one just published may be queuing its event this moment).
 */
import type {Db} from 'mongodb'

import type {JobQueues} from '../jobs/queues.js'
import type {HousekeepingRemoval} from '../jobs/types.js'
import type {Logger} from '../platform/logger.js'
import {queuePostEvent} from '../community/post-events.js'
import {Posts} from '../community/posts.js'
import {removalOf} from './report.js'

const WITHIN_MS = 24 * 3600_000
const GRACE_MS = 60_000

export async function requeuePostEvents(db: Db, jobs: Pick<JobQueues, 'enqueue'>, {now, dryRun, log}: {now: Date; dryRun: boolean; log: Logger}): Promise<HousekeepingRemoval> {
  const posts = new Posts(db)
  const missed = await posts.collection
    .find({createdAt: {$gt: new Date(now.getTime() - WITHIN_MS), $lt: new Date(now.getTime() - GRACE_MS)}, eventQueuedAt: {$exists: false}}, {projection: {_id: 1, channel: 1, createdAt: 1}})
    .toArray()
  if (!dryRun) for (const post of missed) await queuePostEvent(jobs, posts, post)
  const names = missed.map((p) => `${p.channel}/${p._id.toHexString()}`)
  if (names.length > 0) log.info({dryRun, posts: names.slice(0, 20)}, dryRun ? 'posts whose channel.event was never queued found (dry run)' : "posts' missed channel.event queued")
  return removalOf(names)
}
