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
import type {ListedSegment} from '../../vods/archive-playlists.js'
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
    await clips.collection.updateOne({clipId}, {$set: {status: 'failed', reason}})
    log.info({clipId, channel, streamId, reason}, 'clip refused')
    return {status: 'failed', clipId, reason}
  }
  const prefix = dvrPrefix(channel, streamId)
  const work = await mkdtemp(path.join(os.tmpdir(), `shing-clip-${clipId}-`))
  try {
    const {rendition, playlist} = await chooseRendition(storage, db, prefix, streamId, doc.rendition)
    if (rendition === undefined) return await fail('The recording of this broadcast is gone: it cannot be clipped.')
    let segments: ListedSegment[]
    let chosen: Pick<ClipDoc, 'startOffsetSeconds' | 'durationSeconds' | 'notice'>
    const own = clipPrefix(clipId)
    // The HLS form (a playlist of the archive's segments) is written first: the clip plays from
    // then on, while its MP4 and poster are made.
    const writePlaylist = (list: readonly ListedSegment[]) =>
      storage.client.putObject(storage.bucket, `${own}/index.m3u8`, Buffer.from(clipPlaylist(list)), undefined, {'Content-Type': 'application/vnd.apple.mpegurl'})
    const known = doc.segmentKeys.slice(1).map((key) => key.slice(key.lastIndexOf('/') + 1))
    if (known.length > 0) {
      // An earlier run chose them: the same segments (their durations from the playlist).
      const byName = new Map(playlist.segments.map((s) => [s.name, s]))
      segments = known.map((name) => byName.get(name)).filter((s): s is ListedSegment => s !== undefined)
      if (segments.length !== known.length) return await fail('Part of the recording this clip was cut from is gone.')
      chosen = {startOffsetSeconds: doc.startOffsetSeconds ?? 0, durationSeconds: segments.reduce((t, s) => t + s.duration, 0), ...(doc.notice === undefined ? {} : {notice: doc.notice})}
      await writePlaylist(segments)
      await clips.collection.updateOne({clipId}, {$set: {playable: true}})
    } else {
      const selection = selectClipSegments(playlist.segments, {seconds: data.seconds, ...(data.startSeconds === undefined ? {} : {startSeconds: data.startSeconds})})
      if (!selection.ok) return await fail(selection.reason)
      segments = selection.segments
      chosen = {startOffsetSeconds: selection.startOffsetSeconds, durationSeconds: selection.durationSeconds, ...(selection.notice === undefined ? {} : {notice: selection.notice})}
      const segmentKeys = [`${prefix}/${rendition}/init.mp4`, ...segments.map((s) => `${prefix}/${rendition}/${s.name}`)]
      await writePlaylist(segments)
      // Recorded before the MP4 is made: from now on vod.delete keeps these objects, and the clip plays.
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
    log.info({clipId, channel, streamId, rendition, segments: segments.length, seconds: mp4.durationSeconds}, 'clip ready')
    return {
      status: 'ready',
      clipId,
      rendition,
      segments: segments.length,
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
