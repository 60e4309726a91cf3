/**
 * housekeeping: what is past its time goes, and what nothing points at. It runs by itself every
 * minute (the job runner's scheduler) and when an admin asks (`shing jobs housekeeping
 * [--dry-run]`); a dry run removes nothing and reports what a real run would remove now. The
 * steps, in order (each in housekeeping/):
 *   1. registry records no live process stands behind;
 *   2. broadcasts MongoDB still marks live after their ingest died (their channel.event offline queued);
 *   2b. recent posts whose channel.event was never queued (Redis away at publish): queued;
 *   3. past broadcasts older than retention.vodDays that their streamers did not keep;
 *   4. chat messages older than retention.chatDays;
 *   4b. encode jobs waiting for a GPU worker when none is left (and they do not require one):
 *      moved to the CPU queue;
 *   5. objects in the bucket nothing points at, older than retention.orphanGraceHours — listing
 *      the bucket is the heavy part: a scheduled run does it at most once an hour, a run asked
 *      for always does.
 *   4c. notifications read long ago, or very old (housekeeping/notification-expiry.ts);
 * Sessions need no step: they expire in Redis by their TTL (accounts/sessions.ts), as do stream
 * states; BullMQ trims finished jobs itself (removeOnComplete / removeOnFail).
 */
import {endStaleStreams} from '../../housekeeping/stale-streams.js'
import {expireChat} from '../../housekeeping/chat-expiry.js'
import {expireNotifications} from '../../housekeeping/notification-expiry.js'
import {expireVods} from '../../housekeeping/expired-vods.js'
import {requeuePostEvents} from '../../housekeeping/post-events.js'
import {sweepOrphans} from '../../housekeeping/orphans.js'
import {dropDeadRegistryRecords} from '../../housekeeping/registry-leftovers.js'
import {bucketObjectKinds} from '../../housekeeping/references.js'
import type {HousekeepingOrphans, HousekeepingResult, JobData, JobRun} from '../../jobs/types.js'
import {HOUSEKEEPING_SCHEDULER_ID} from '../job-runner.js'
import type {JobContext} from './context.js'

/** While this key lives, scheduled runs leave the bucket alone (set NX with the hour as its TTL). */
export const ORPHAN_SWEEP_KEY = 'shing:housekeeping:orphan-sweep'
export const ORPHAN_SWEEP_EVERY_S = 3600

/** A run the scheduler started, rather than one somebody asked for. */
const scheduled = (run: JobRun): boolean => run.id.startsWith(`repeat:${HOUSEKEEPING_SCHEDULER_ID}:`)

export async function housekeeping({dryRun = false}: JobData['housekeeping'], context: JobContext, run: JobRun): Promise<HousekeepingResult> {
  const {db, redis, storage, jobs, retention, log} = context
  const now = new Date()
  const registry = await dropDeadRegistryRecords(redis, {now, dryRun, log})
  const staleStreams = await endStaleStreams(db, redis, jobs, {now, dryRun, log, storage})
  const postEvents = await requeuePostEvents(db, jobs, {now, dryRun, log})
  const expired = await expireVods(db, jobs, {now, vodDays: retention.vodDays, dryRun, log})
  const chatMessages = await expireChat(db, {now, chatDays: retention.chatDays, dryRun})
  const notifications = await expireNotifications(db, {now, dryRun})
  const encodesToCpu = await jobs.rerouteStrandedEncodes(dryRun)
  if (encodesToCpu.length > 0) log.info({dryRun, jobs: encodesToCpu.slice(0, 20)}, 'no GPU worker is left: encode jobs moved to the CPU queue')

  let orphans: HousekeepingOrphans
  const due = dryRun || !scheduled(run) || (await redis.set(ORPHAN_SWEEP_KEY, now.toISOString(), 'EX', ORPHAN_SWEEP_EVERY_S, 'NX')) === 'OK'
  if (due) {
    // A sweep asked for restarts the hour; a dry run leaves it as it is.
    if (!dryRun && !scheduled(run)) await redis.set(ORPHAN_SWEEP_KEY, now.toISOString(), 'EX', ORPHAN_SWEEP_EVERY_S)
    try {
      orphans = await sweepOrphans(db, storage, {now, graceHours: retention.orphanGraceHours, dryRun, beingDeleted: expired.streams, log})
    } catch (error) {
      // Failed (MongoDB or S3 away): the next scheduled run tries again rather than in an hour.
      if (!dryRun) await redis.del(ORPHAN_SWEEP_KEY).catch(() => undefined)
      throw error
    }
  } else {
    const byKind = Object.fromEntries(bucketObjectKinds.map((k) => [k, 0])) as HousekeepingOrphans['byKind']
    orphans = {swept: false, graceHours: retention.orphanGraceHours, count: 0, examples: [], bytes: 0, byKind, scanned: 0, withinGrace: 0, unknown: 0}
  }

  const result: HousekeepingResult = {status: 'done', dryRun, registry, staleStreams, expiredVods: expired.report, chatMessages, encodesToCpu: {count: encodesToCpu.length, examples: encodesToCpu.slice(0, 20)}, orphans, notifications, postEvents}
  const counts = {
    registryRecords: Object.values(registry).reduce((sum, r) => sum + r.removed, 0),
    staleStreams: staleStreams.count,
    postEvents: postEvents.count,
    expiredVods: expired.report.count,
    chatMessages: chatMessages.count,
    notifications: notifications.count,
    encodesToCpu: encodesToCpu.length,
    orphans: orphans.count,
    orphanBytes: orphans.bytes,
  }
  // Every minute on a quiet site: logged only when something went, or when somebody asked.
  const level = !scheduled(run) || Object.values(counts).some((n) => n > 0) ? 'info' : 'debug'
  log[level]({dryRun, ...counts, bucketListed: orphans.swept}, dryRun ? 'housekeeping dry run: nothing removed' : 'housekeeping done')
  return result
}
