import {parseMasterPlaylist, parseMediaPlaylist} from '../../vods/archive-playlists.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import {VODS_COLLECTION, type VodDoc} from '../../vods/vods.js'
import {STREAMS_COLLECTION} from '../../channels/stream-state.js'
import {listObjectNames, readObjectText} from '../../platform/storage.js'
import type {DvrFinalizeResult, JobData} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/**
 * dvr.finalize: the ingest closed a broadcast's archive. Check it in S3 (the master playlist, and
 * for each rendition a closed playlist whose init and segments all exist), then record the VOD.
 * A missing piece throws: BullMQ retries, and the job fails visibly when it stays missing.
 */
export async function dvrFinalize({streamId}: JobData['dvr.finalize'], {db, storage, log, jobs, media}: JobContext): Promise<DvrFinalizeResult> {
  const stream = await db.collection<{streamId: string; channel: string}>(STREAMS_COLLECTION).findOne({streamId})
  if (stream === null) throw new Error(`no broadcast ${streamId} in ${STREAMS_COLLECTION}`)
  const {channel} = stream
  const prefix = dvrPrefix(channel, streamId)
  const objects = new Set(await listObjectNames(storage, `${prefix}/`))
  if (!objects.has(`${prefix}/master.m3u8`)) throw new Error(`${prefix}/master.m3u8 is missing: the archive was not closed`)
  const master = await readObjectText(storage, `${prefix}/master.m3u8`)
  const variants = parseMasterPlaylist(master)
  if (variants.length === 0) throw new Error(`${prefix}/master.m3u8 lists no rendition`)
  const renditions: DvrFinalizeResult['renditions'] = []
  for (const {uri: playlist, name} of variants) {
    const folder = playlist.includes('/') ? playlist.slice(0, playlist.lastIndexOf('/') + 1) : ''
    const media = parseMediaPlaylist(await readObjectText(storage, `${prefix}/${playlist}`))
    if (!media.closed) throw new Error(`${prefix}/${playlist} has no #EXT-X-ENDLIST: not closed`)
    const missing = [`init.mp4`, ...media.segments.map((s) => s.name)].filter((s) => !objects.has(`${prefix}/${folder}${s}`))
    if (missing.length > 0) throw new Error(`${prefix}/${playlist}: ${missing.length} object(s) missing, e.g. ${missing.slice(0, 3).join(', ')}`)
    renditions.push({name, segments: media.segments.length, durationSeconds: Math.round(media.durationSeconds * 1000) / 1000})
  }
  const segments = renditions.reduce((sum, r) => sum + r.segments, 0)
  const durationSeconds = Math.max(...renditions.map((r) => r.durationSeconds))
  // One document per broadcast, whatever the retries: upsert on streamId.
  await db.collection<VodDoc>(VODS_COLLECTION).updateOne(
    {streamId},
    {$set: {channel, segments, durationSeconds, renditions}, $setOnInsert: {streamId, createdAt: new Date()}},
    {upsert: true},
  )
  log.info({channel, streamId, segments, durationSeconds}, 'VOD recorded')
  // Its poster and scrubbing previews (one job per broadcast: a retried finalize adds none).
  await jobs.enqueue('vod.previews', {channel, streamId})
  // The optional re-encode into one smaller rendition: on a GPU worker when one is up (or only there, with gpu: require).
  const {enabled, height, videoKbps, codec, gpu} = media.reencode
  if (enabled) await jobs.enqueue('vod.transcode', {channel, streamId, height, videoKbps, codec}, {gpu})
  return {status: 'done', streamId, channel, prefix, segments, durationSeconds, renditions}
}
