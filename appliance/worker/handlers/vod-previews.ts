import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {JobData, JobRun, VodPreviewsResult} from '../../jobs/types.js'
import {fetchObjects, grabFrames} from '../../media/frames.js'
import {readObjectText, type Storage} from '../../platform/storage.js'
import {parseMasterPlaylist, parseMediaPlaylist} from '../../vods/archive-playlists.js'
import {dvrPrefix} from '../../vods/dvr-archive.js'
import {
  heightOf,
  planTiles,
  POSTER_NAME,
  POSTER_SIZE,
  posterSegment,
  previewsPrefix,
  previewsVtt,
  renditionFor,
  sheetLayout,
  spriteName,
  tileStepSeconds,
  TILE_SIZE,
  timeline,
  VTT_NAME,
  type TimedSegment,
  type VodPreviews,
} from '../../vods/previews.js'
import {VODS_COLLECTION, type VodDoc} from '../../vods/vods.js'
import type {JobContext} from './context.js'
import {unlessDeletedMeanwhile} from './deleted-meanwhile.js'

/** A sprite sheet's JPEG quality (ffmpeg's scale, 2 best … 31): tiles are small, a sheet stays ~30–60 kB. */
const SPRITE_QUALITY = 6

async function putObject(storage: Storage, key: string, body: Buffer, contentType: string): Promise<void> {
  await storage.client.putObject(storage.bucket, key, body, body.length, {'Content-Type': contentType})
}

/** A rendition's segments on the VOD's timeline, read from its closed playlist. */
async function renditionTimeline(storage: Storage, prefix: string, uri: string): Promise<TimedSegment[]> {
  const playlist = parseMediaPlaylist(await readObjectText(storage, `${prefix}/${uri}`))
  if (!playlist.closed) throw new Error(`${prefix}/${uri} is not closed yet`)
  return timeline(playlist.segments)
}

/**
 * vod.previews: a finished broadcast's poster (a frame a quarter in, from a rendition at least
 * 360 lines tall) and its scrubbing previews: one 160×90 tile every few seconds from the smallest
 * rendition, 10×10 tiles a sprite sheet, and the WebVTT map of which tile shows which moment.
 * Every object has a fixed name under dvr/<channel>/<streamId>/previews/, and the VOD document
 * is updated with $set: run again, the job leaves the same result. An audio-only broadcast has
 * no picture: skipped.
 */
export async function vodPreviews(data: JobData['vod.previews'], context: JobContext, run: JobRun): Promise<VodPreviewsResult> {
  if ((await context.db.collection<VodDoc>(VODS_COLLECTION).findOne(data, {projection: {_id: 1}})) === null) return {status: 'skipped', reason: 'the VOD is gone'}
  return unlessDeletedMeanwhile(data, 'vod.previews', context, async () => makePreviews(data, context, run))
}

async function makePreviews({channel, streamId}: JobData['vod.previews'], {db, storage, log}: JobContext, run: JobRun): Promise<VodPreviewsResult> {
  const archive = dvrPrefix(channel, streamId)
  const variants = parseMasterPlaylist(await readObjectText(storage, `${archive}/master.m3u8`)).map((v) => ({...v, height: heightOf(v.resolution)}))
  const posterFrom = renditionFor(variants, POSTER_SIZE.height)
  const tilesFrom = renditionFor(variants, TILE_SIZE.height)
  if (posterFrom === undefined || tilesFrom === undefined) return {status: 'skipped', reason: 'an audio-only broadcast has no picture'}
  const posterTimeline = await renditionTimeline(storage, archive, posterFrom.uri)
  const tilesTimeline = posterFrom.uri === tilesFrom.uri ? posterTimeline : await renditionTimeline(storage, archive, tilesFrom.uri)
  const last = tilesTimeline.at(-1)
  const poster = posterSegment(posterTimeline)
  if (last === undefined || poster === undefined) throw new Error(`${archive} lists no segment`)
  const durationSeconds = last.start + last.duration
  const tileSeconds = tileStepSeconds(durationSeconds, Math.max(...tilesTimeline.map((s) => s.duration)))
  const sheets = sheetLayout(planTiles(tilesTimeline, tileSeconds))
  const prefix = previewsPrefix(channel, streamId)

  const dir = await mkdtemp(path.join(tmpdir(), 'shing-previews-'))
  try {
    const posterInit = `${archive}/${posterFrom.name}/init.mp4`
    const posterKey = `${archive}/${posterFrom.name}/${poster.name}`
    const posterFiles = await fetchObjects(storage, [posterInit, posterKey], path.join(dir, 'poster'), run.signal)
    const posterJpeg = await grabFrames({sources: [{init: posterFiles.get(posterInit)!, segment: posterFiles.get(posterKey)!}], tile: POSTER_SIZE, columns: 1, rows: 1, signal: run.signal})
    await putObject(storage, `${prefix}/${POSTER_NAME}`, posterJpeg, 'image/jpeg')

    // One sheet at a time: its segments are fetched, drawn and dropped before the next.
    const tilesInit = `${archive}/${tilesFrom.name}/init.mp4`
    const [initFile] = (await fetchObjects(storage, [tilesInit], path.join(dir, 'init'), run.signal)).values()
    for (const sheet of sheets) {
      const sheetDir = path.join(dir, `sheet-${sheet.sheet}`)
      const keys = sheet.tiles.map((t) => `${archive}/${tilesFrom.name}/${t.segment}`)
      const files = await fetchObjects(storage, keys, sheetDir, run.signal)
      const jpeg = await grabFrames({
        sources: keys.map((key) => ({init: initFile!, segment: files.get(key)!})),
        tile: TILE_SIZE,
        columns: sheet.columns,
        rows: sheet.rows,
        quality: SPRITE_QUALITY,
        signal: run.signal,
      })
      await putObject(storage, `${prefix}/${spriteName(sheet.sheet)}`, jpeg, 'image/jpeg')
      await rm(sheetDir, {recursive: true, force: true})
      await run.progress(Math.round(((sheet.sheet + 1) / sheets.length) * 100))
    }
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
  const tiles = sheets.reduce((sum, s) => sum + s.tiles.length, 0)
  // The map last: a player that finds it finds every sheet it points into.
  await putObject(storage, `${prefix}/${VTT_NAME}`, Buffer.from(previewsVtt(sheets.flatMap((s) => s.tiles))), 'text/vtt; charset=utf-8')
  const previews: VodPreviews = {sheets: sheets.length, tiles, tileSeconds, madeAt: new Date()}
  await db.collection<VodDoc>(VODS_COLLECTION).updateOne({streamId}, {$set: {previews}})
  log.info({channel, streamId, sheets: sheets.length, tiles, tileSeconds}, 'VOD previews made')
  return {status: 'done', prefix, posterRendition: posterFrom.name, tilesRendition: tilesFrom.name, sheets: sheets.length, tiles, tileSeconds, durationSeconds}
}
