import {keptByClips} from '../../clips/clips.js'
import type {JobData, VodDeleteResult} from '../../jobs/types.js'
import {listObjectNames} from '../../platform/storage.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import type {JobContext} from './context.js'

/** S3 takes at most this many keys per delete request. */
const BATCH = 1000
/** A clip of the broadcast pending for longer than this is stuck (its job failed for good): it no longer holds the delete. */
const CLIP_PENDING_MS = 10 * 60_000

/**
 * vod.delete: removes a deleted broadcast's archive (every object under dvr/<channel>/<streamId>/)
 * from S3. Its VOD document is gone already, so nothing links to it; a failure is retried.
 * The objects a clip of it plays (its segmentKeys) stay while the clip does; a clip still being
 * made (its segments not chosen yet) holds the delete back: it throws, and the retry comes later.
 */
export async function vodDelete({channel, streamId}: JobData['vod.delete'], {storage, db, log}: JobContext): Promise<VodDeleteResult> {
  const prefix = dvrPrefix(channel, streamId)
  const clips = await keptByClips(db, streamId, new Date(Date.now() - CLIP_PENDING_MS))
  if (clips.pending > 0) throw new Error(`${clips.pending} clip(s) of ${streamId} are being made: the archive is removed once they are done`)
  const names = (await listObjectNames(storage, `${prefix}/`)).filter((name) => !clips.keys.has(name))
  for (let i = 0; i < names.length; i += BATCH) {
    const errors = await storage.client.removeObjects(storage.bucket, names.slice(i, i + BATCH))
    const failed = (errors as Array<{Error?: {Code?: string}; Code?: string}>).filter((e) => e.Error !== undefined || e.Code !== undefined)
    if (failed.length > 0) throw new Error(`${prefix}: ${failed.length} object(s) not removed`)
  }
  log.info({channel, streamId, objects: names.length, keptForClips: clips.keys.size}, 'deleted broadcast removed from S3')
  return {status: 'done', prefix, objectsRemoved: names.length}
}
