import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'


import type {JobData, JobRun, VodMp4Result} from '../../jobs/types.js'
import {objectSize, putFile} from '../../platform/storage.js'
import {archiveToMp4, readBestRendition} from '../../vods/archive-mp4.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import {vodDownloadKey} from '../../vods/download.js'
import {VODS_COLLECTION, type VodDoc} from '../../vods/vods.js'
import type {JobContext} from './context.js'

/**
 * vod.mp4: the VOD's best rendition remuxed (no re-encode) into one MP4 with faststart at
 * dvr/<channel>/<streamId>/download.mp4, recorded in its VOD document. Run again, it finds the
 * MP4 made from the archive as it is and does nothing; a re-encode that switched the archive since
 * makes it remux the new rendition into the same key.
 */
export async function vodMp4({channel, streamId}: JobData['vod.mp4'], {db, storage, log}: JobContext, run: JobRun): Promise<VodMp4Result> {
  const vods = db.collection<VodDoc>(VODS_COLLECTION)
  const vod = await vods.findOne({channel, streamId})
  // Deleted before this ran (or never finalized): nothing to do, and nothing failed.
  if (vod === null) return {status: 'skipped', reason: `no VOD ${streamId} on ${channel}`}
  const prefix = dvrPrefix(channel, streamId)
  const key = vodDownloadKey(channel, streamId)
  const best = await readBestRendition(storage, prefix)
  const rendition = best.variant.name
  const made = vod.download?.state === 'ready' ? vod.download : undefined
  if (made?.rendition === rendition && (await objectSize(storage, key)) === made.bytes) {
    return {status: 'done', key, rendition, bytes: made.bytes, durationSeconds: made.durationSeconds, runs: 0, reused: true}
  }
  log.info({channel, streamId, rendition, segments: best.playlist.segments.length}, "making the VOD's MP4")
  const work = await mkdtemp(path.join(tmpdir(), 'shing-vod-mp4-'))
  try {
    const started = performance.now()
    const mp4 = await archiveToMp4({storage, prefix, rendition: best, workDir: work, signal: run.signal})
    run.signal.throwIfAborted()
    const remuxed = performance.now()
    // The same key every time: a second run replaces the object, never adds one.
    await putFile(storage, key, mp4.file, 'video/mp4')
    const uploaded = performance.now()
    const durationSeconds = Math.round(mp4.durationSeconds * 1000) / 1000
    // Recorded only while the archive still has that rendition: a re-encode that switched it
    // meanwhile would leave a download of what is no longer there.
    const recorded = await vods.updateOne(
      {channel, streamId, 'renditions.name': rendition},
      {$set: {download: {state: 'ready', key, rendition, bytes: mp4.bytes, durationSeconds, madeAt: new Date()}}},
    )
    if (recorded.matchedCount === 0) {
      await storage.client.removeObject(storage.bucket, key)
      throw new Error(`${prefix}: the archive no longer lists ${rendition} (re-encoded or deleted meanwhile); made again on the next try`)
    }
    log.info({channel, streamId, rendition, bytes: mp4.bytes, durationSeconds, runs: mp4.runs, remuxMs: Math.round(remuxed - started), uploadMs: Math.round(uploaded - remuxed)}, 'VOD download made')
    return {status: 'done', key, rendition, bytes: mp4.bytes, durationSeconds, runs: mp4.runs, reused: false}
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}
