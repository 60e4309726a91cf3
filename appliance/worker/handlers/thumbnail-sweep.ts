import {readLiveThumbnails, thumbnailDue, thumbnailJobId} from '../../channels/live-thumbnails.js'
import {LiveStates} from '../../channels/stream-state.js'
import type {JobData, ThumbnailSweepResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/**
 * thumbnail.sweep (every few seconds, by itself): a thumbnail.live job for each live broadcast
 * with a picture whose thumbnail is due. The job id names the broadcast and the interval, so a
 * sweep that comes again before the job ran adds nothing.
 */
export async function thumbnailSweep(_data: JobData['thumbnail.sweep'], {redis, jobs, media, log}: JobContext): Promise<ThumbnailSweepResult> {
  const states = new LiveStates(redis, log)
  await states.refresh()
  if (states.ageSeconds() === undefined) throw new Error('cannot read the live channels from Redis')
  const live = states.all().filter((s) => s.renditions.some((r) => r.height > 0))
  const records = await readLiveThumbnails(redis, live.map((s) => s.channel))
  const intervalMs = media.thumbnails.liveEverySeconds * 1000
  const now = Date.now()
  const due = live.filter((s) => thumbnailDue(records.get(s.channel), s.streamId, now, intervalMs))
  for (const s of due) await jobs.enqueue('thumbnail.live', {channel: s.channel, streamId: s.streamId}, {jobId: thumbnailJobId(s.streamId, now, intervalMs)})
  return {status: 'done', live: live.length, asked: due.map((s) => s.channel)}
}
