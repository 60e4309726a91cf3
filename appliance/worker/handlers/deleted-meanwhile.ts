import type {JobType} from '../../jobs/catalog.js'
import {VODS_COLLECTION, type VodDoc} from '../../vods/vods.js'
import type {JobContext} from './context.js'

export interface Skipped {
  status: 'skipped'
  reason: string
}

/**
 * Runs the work of a job that writes into a broadcast's archive (its previews, a re-encoded
 * rendition). Should the VOD be deleted while it runs, vod.delete may have listed the archive before
 * these objects existed, or removed the segments the work was reading (it then fails). Either way,
 * once the work is over and the VOD is gone, the job asks for the archive's removal again (a job of
 * its own id: the first delete's finished job would swallow the same one) and ends skipped, not
 * failed, so what it wrote goes the way of the rest.
 */
export async function unlessDeletedMeanwhile<R>(
  {channel, streamId}: {channel: string; streamId: string},
  by: JobType,
  {db, jobs, log}: Pick<JobContext, 'db' | 'jobs' | 'log'>,
  work: () => Promise<R>,
): Promise<R | Skipped> {
  let result: R | undefined
  let failure: unknown
  let failed = false
  try {
    result = await work()
  } catch (error) {
    failure = error
    failed = true
  }
  if ((await db.collection<VodDoc>(VODS_COLLECTION).countDocuments({channel, streamId}, {limit: 1})) === 0) {
    log.info({channel, streamId, by, failed}, 'the VOD was deleted while this job worked on its archive: removing the archive again')
    await jobs.enqueue('vod.delete', {channel, streamId}, {jobId: `vod.delete-${streamId}-after-${by}`})
    return {status: 'skipped', reason: 'the VOD was deleted while this job ran'}
  }
  if (failed) throw failure
  return result as R
}
