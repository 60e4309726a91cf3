/**
 * A VOD's downloadable MP4, made on first request rather than after every broadcast: most past
 * broadcasts are never downloaded, and an MP4 of each one's top rendition would add about as much
 * again as that rendition to the bucket; the remux copies without re-encoding (seconds for an
 * hour, see bench:clip), so the first viewer to ask waits that long and everyone after gets the file.
 * The VOD document says where it stands: `download.state` preparing (asked, the vod.mp4 job
 * queued) or ready (made, with its size).
 */
import type {Db} from 'mongodb'

import {jobCatalog} from '../jobs/catalog.js'
import type {JobQueues} from '../jobs/queues.js'
import {dvrPrefix} from './dvr-archive.js'
import {streamStartedAt, VODS_COLLECTION, type VodDoc} from './vods.js'

/** dvr/<channel>/<streamId>/download.mp4 */
export const vodDownloadKey = (channel: string, streamId: string): string => `${dvrPrefix(channel, streamId)}/download.mp4`
/** Where the web serves it (from S3, with its file name). */
export const vodDownloadUrl = (channel: string, streamId: string): string => `/vod/${channel}/${streamId}/download.mp4`

/** The saved file's name: the channel and when the broadcast began (`alice-2026-12-06-1402.mp4`). */
export function vodDownloadFileName(channel: string, streamId: string): string {
  const began = streamStartedAt(streamId)
  const stamp = began === undefined ? streamId : began.toISOString().slice(0, 16).replace('T', '-').replace(':', '')
  return `${channel}-${stamp}.mp4`
}

/** Asked this long ago with no MP4 yet (its job failed for good, or was lost with Redis): it may be asked for again. */
export const PREPARING_GIVES_UP_MS = 15 * 60_000

export type VodDownloadState = {state: 'none'} | {state: 'preparing'} | {state: 'ready'; url: string; bytes: number}

export function vodDownloadState(vod: Pick<VodDoc, 'channel' | 'streamId' | 'download'>, now = Date.now()): VodDownloadState {
  const download = vod.download
  if (download?.state === 'ready') return {state: 'ready', url: vodDownloadUrl(vod.channel, vod.streamId), bytes: download.bytes}
  if (download?.state === 'preparing' && now - download.requestedAt.getTime() < PREPARING_GIVES_UP_MS) return {state: 'preparing'}
  return {state: 'none'}
}

/**
 * Asks for the MP4 unless it is there or on its way. Marked preparing before the job is queued,
 * so the job's `ready` always comes after (never overwritten by a late `preparing`).
 */
export async function requestVodDownload(db: Db, jobs: JobQueues, vod: Pick<VodDoc, 'channel' | 'streamId' | 'download'>): Promise<VodDownloadState> {
  const current = vodDownloadState(vod)
  if (current.state !== 'none') return current
  const {channel, streamId} = vod
  await db.collection<VodDoc>(VODS_COLLECTION).updateOne(
    {channel, streamId, 'download.state': {$ne: 'ready'}},
    {$set: {download: {state: 'preparing', requestedAt: new Date()}}},
  )
  // A finished job of the same id (done before a re-encode replaced the archive and its MP4, or
  // failed for good) would make this enqueue a no-op: it goes first.
  const previous = await jobs.queue('vod.mp4').getJob(jobCatalog['vod.mp4'].jobId({streamId}))
  if (previous !== undefined && ['completed', 'failed'].includes(await previous.getState())) await previous.remove()
  await jobs.enqueue('vod.mp4', {channel, streamId})
  return {state: 'preparing'}
}
