import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {liveThumbnailKey, noteLiveThumbnail, readLiveThumbnails, THUMBNAIL_SIZE, thumbnailDue} from '../../channels/live-thumbnails.js'
import {StreamStates} from '../../channels/stream-state.js'
import type {JobData, JobRun, ThumbnailLiveResult} from '../../jobs/types.js'
import {fetchObjects, grabFrames} from '../../media/frames.js'
import {isMissingObject, readObjectText} from '../../platform/storage.js'
import {parseMediaPlaylist} from '../../vods/archive-playlists.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import {renditionFor} from '../../vods/previews.js'
import type {JobContext} from './context.js'

/**
 * thumbnail.live: while the broadcast is live, its newest archived segment's first frame (a
 * keyframe, at most a segment old) becomes the channel's thumbnail. A broadcast that has ended
 * (or been replaced) is left alone; one with no segment archived yet throws, to be retried.
 */
export async function thumbnailLive({channel, streamId}: JobData['thumbnail.live'], {redis, storage, media, log}: JobContext, run: JobRun): Promise<ThumbnailLiveResult> {
  const state = await new StreamStates(redis).get(channel)
  if (state?.streamId !== streamId) return {status: 'skipped', reason: 'the broadcast is no longer live'}
  const record = (await readLiveThumbnails(redis, [channel])).get(channel)
  if (!thumbnailDue(record, streamId, Date.now(), media.thumbnails.liveEverySeconds * 1000)) return {status: 'skipped', reason: 'its thumbnail is fresh'}
  const rendition = renditionFor(state.renditions, THUMBNAIL_SIZE.height)
  if (rendition === undefined) return {status: 'skipped', reason: 'an audio-only broadcast has no picture'}
  const folder = `${dvrPrefix(channel, streamId)}/${rendition.name}`
  let playlist: string
  try {
    playlist = await readObjectText(storage, `${folder}/index.m3u8`)
  } catch (error) {
    if (isMissingObject(error)) throw new Error(`no segment of ${folder} archived yet`, {cause: error})
    throw error
  }
  const newest = parseMediaPlaylist(playlist).segments.at(-1)
  if (newest === undefined) throw new Error(`no segment of ${folder} archived yet`)
  const dir = await mkdtemp(path.join(tmpdir(), 'shing-thumbnail-'))
  try {
    const initKey = `${folder}/init.mp4`
    const segmentKey = `${folder}/${newest.name}`
    const local = await fetchObjects(storage, [initKey, segmentKey], dir, run.signal)
    const jpeg = await grabFrames({sources: [{init: local.get(initKey)!, segment: local.get(segmentKey)!}], tile: THUMBNAIL_SIZE, columns: 1, rows: 1, signal: run.signal})
    const key = liveThumbnailKey(channel)
    await storage.client.putObject(storage.bucket, key, jpeg, jpeg.length, {'Content-Type': 'image/jpeg'})
    await noteLiveThumbnail(redis, channel, {streamId, at: Date.now()})
    log.debug({channel, streamId, segment: newest.name, bytes: jpeg.length}, 'live thumbnail taken')
    return {status: 'done', key, rendition: rendition.name, segment: newest.name, bytes: jpeg.length}
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}
