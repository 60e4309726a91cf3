import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {clipPlaylist, chooseRendition, framePoster} from '../../clips/clip-media.js'
import {Clips, clipPrefix, type ClipDoc} from '../../clips/clips.js'
import {selectClipSegments} from '../../clips/select-segments.js'
import {jobCatalog} from '../../jobs/catalog.js'
import type {ClipCreateResult, JobData, JobRun} from '../../jobs/types.js'
import {remuxToMp4, uploadFile} from '../../media/remux.js'
import {listObjectNames} from '../../platform/storage.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import type {JobContext} from './context.js'

const ATTEMPTS = jobCatalog['clip.create'].options.attempts

/**
 * clip.create: cuts a clip from one ladder rendition of a broadcast's archive (live or finished):
 * an HLS playlist of whole archive segments at clips/<clipId>/index.m3u8 (the web serves it,
 * mapping the names to the clip's segmentKeys), written first so that the clip plays at once;
 * then the same segments remuxed into clips/<clipId>/clip.mp4 (faststart, no re-encode) and a
 * poster frame. The segments chosen are recorded with the playlist, so a
 * run again (a retry, or a worker that died) cuts the same clip into the same keys; and so
 * vod.delete, from then on, leaves them in place.
 */
export async function clipCreate(data: JobData['clip.create'], context: JobContext, run: JobRun): Promise<ClipCreateResult> {
  const {db, storage, log} = context
  const {clipId, channel, streamId} = data
  const clips = new Clips(db)
  const doc = await clips.get(clipId)
  if (doc === null) return {status: 'gone', clipId}
  const fail = async (reason: string): Promise<ClipCreateResult> => {
    // A failed clip plays nothing: it holds no archive segment alive any more.
    await clips.collection.updateOne({clipId}, {$set: {status: 'failed', reason, segmentKeys: [], playable: false}})
    log.info({clipId, channel, streamId, reason}, 'clip refused')
    return {status: 'failed', clipId, reason}
  }
  const prefix = dvrPrefix(channel, streamId)
  const work = await mkdtemp(path.join(os.tmpdir(), `shing-clip-${clipId}-`))
  try {
    const own = clipPrefix(clipId)
    let rendition: string
    let segmentCount: number
    let chosen: Pick<ClipDoc, 'startOffsetSeconds' | 'durationSeconds' | 'notice'>
    if (doc.playable === true && doc.rendition !== undefined && doc.segmentKeys.length > 1) {
      // An earlier run chose the segments and wrote the playlist: the same clip again, from its
      // recorded segments alone (its broadcast's playlists may be gone with its VOD by now).
      rendition = doc.rendition
      segmentCount = doc.segmentKeys.length - 1
      chosen = {startOffsetSeconds: doc.startOffsetSeconds ?? 0, durationSeconds: doc.durationSeconds ?? 0, ...(doc.notice === undefined ? {} : {notice: doc.notice})}
    } else {
      const found = await chooseRendition(storage, db, prefix, streamId, doc.rendition)
      if (found.rendition === undefined) return await fail('The recording of this broadcast is gone: it cannot be clipped.')
      rendition = found.rendition
      const selection = selectClipSegments(found.playlist.segments, {seconds: data.seconds, ...(data.startSeconds === undefined ? {} : {startSeconds: data.startSeconds})})
      if (!selection.ok) return await fail(selection.reason)
      segmentCount = selection.segments.length
      chosen = {startOffsetSeconds: selection.startOffsetSeconds, durationSeconds: selection.durationSeconds, ...(selection.notice === undefined ? {} : {notice: selection.notice})}
      const segmentKeys = [`${prefix}/${rendition}/init.mp4`, ...selection.segments.map((s) => `${prefix}/${rendition}/${s.name}`)]
      // The HLS form (a playlist of the archive's segments) first: the clip plays from then on,
      // while its MP4 and poster are made.
      await storage.client.putObject(storage.bucket, `${own}/index.m3u8`, Buffer.from(clipPlaylist(selection.segments)), undefined, {'Content-Type': 'application/vnd.apple.mpegurl'})
      // Recorded with it: from now on vod.delete keeps these objects, and the clip plays.
      const recorded = await clips.collection.updateOne({clipId}, {$set: {segmentKeys, rendition, ...chosen, playable: true}})
      if (recorded.matchedCount === 0) {
        await storage.client.removeObject(storage.bucket, `${own}/index.m3u8`)
        return {status: 'gone', clipId}
      }
      doc.segmentKeys = segmentKeys
    }
    await run.progress(20)

    const mp4 = await remuxToMp4({storage, initKey: doc.segmentKeys[0]!, segmentKeys: doc.segmentKeys.slice(1), workDir: work, fileName: 'clip.mp4', signal: run.signal})
    await run.progress(70)
    // The poster (a decoded frame) and the MP4's upload at once.
    const [poster] = await Promise.all([
      mp4.hasVideo
        ? framePoster(mp4.file, path.join(work, 'poster.jpg'), Math.min(1, mp4.durationSeconds / 2), run.signal).then(async (file) => {
            await uploadFile(storage, `${own}/poster.jpg`, file, 'image/jpeg')
            return file
          })
        : undefined,
      uploadFile(storage, `${own}/clip.mp4`, mp4.file, 'video/mp4'),
    ])

    const ready = await clips.collection.updateOne(
      {clipId},
      {$set: {status: 'ready', rendition, ...chosen, bytes: mp4.bytes, poster: poster !== undefined, readyAt: new Date()}, $unset: {reason: ''}},
    )
    if (ready.matchedCount === 0) {
      // Deleted while it was being made: what was just written goes too.
      const names = await listObjectNames(storage, `${own}/`)
      if (names.length > 0) await storage.client.removeObjects(storage.bucket, names)
      return {status: 'gone', clipId}
    }
    log.info({clipId, channel, streamId, rendition, segments: segmentCount, seconds: mp4.durationSeconds}, 'clip ready')
    return {
      status: 'ready',
      clipId,
      rendition,
      segments: segmentCount,
      durationSeconds: chosen.durationSeconds ?? mp4.durationSeconds,
      mp4Seconds: mp4.durationSeconds,
      bytes: mp4.bytes,
      ...(chosen.notice === undefined ? {} : {notice: chosen.notice}),
    }
  } catch (error) {
    // The last try: the viewer is told, rather than left with a clip that is made forever.
    if (run.attempt >= ATTEMPTS && !run.signal.aborted) await fail('Something went wrong while it was being cut (the server logged what). Try cutting it again.')
    throw error
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}
