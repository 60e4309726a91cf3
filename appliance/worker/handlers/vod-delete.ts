import type {JobData, VodDeleteResult} from '../../jobs/types.js'
import {listObjectNames} from '../../platform/storage.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import type {JobContext} from './context.js'

/** S3 takes at most this many keys per delete request. */
const BATCH = 1000

/**
 * vod.delete: removes a deleted broadcast's archive (every object under dvr/<channel>/<streamId>/)
 * from S3. Its VOD document is gone already, so nothing links to it; a failure is retried.
 */
export async function vodDelete({channel, streamId}: JobData['vod.delete'], {storage, log}: JobContext): Promise<VodDeleteResult> {
  const prefix = dvrPrefix(channel, streamId)
  const names = await listObjectNames(storage, `${prefix}/`)
  for (let i = 0; i < names.length; i += BATCH) {
    const errors = await storage.client.removeObjects(storage.bucket, names.slice(i, i + BATCH))
    const failed = (errors as Array<{Error?: {Code?: string}; Code?: string}>).filter((e) => e.Error !== undefined || e.Code !== undefined)
    if (failed.length > 0) throw new Error(`${prefix}: ${failed.length} object(s) not removed`)
  }
  log.info({channel, streamId, objects: names.length}, 'deleted broadcast removed from S3')
  return {status: 'done', prefix, objectsRemoved: names.length}
}
