/**
 * Archived broadcasts (VODs): the worker's dvr.finalize writes one document per stream in `vods`
 * once the archive in S3 checks out; the web lists them and serves the archive under /vod/.
 */
import type {Db} from 'mongodb'

import {POSTER_NAME, PREVIEWS_FOLDER, VTT_NAME, type VodPreviews} from './previews.js'

import {vodExpiresAt} from './retention.js'

export const VODS_COLLECTION = 'vods'

export interface VodDoc {
  streamId: string
  channel: string
  /** Segments of all renditions together. */
  segments: number
  durationSeconds: number
  renditions: {name: string; segments: number; durationSeconds: number}[]
  createdAt: Date
  /** Its poster and scrubbing previews (vod.previews), once made; none for an audio-only broadcast. */
  previews?: VodPreviews
  /** Its streamer keeps it past the site's retention (vods/retention.ts): housekeeping never deletes it. */
  kept?: boolean
  /** The downloadable MP4 (vod.mp4): asked for, then made. */
  download?: VodDownload
  /** The archive re-encoded into one rendition (vod.transcode), once it was switched. */
  encoded?: {rendition: string; codec: 'h264' | 'hevc'; height: number; videoKbps: number; encoder: string; bytesBefore: number; bytesAfter: number; at: Date}
}

export type VodDownload =
  | {state: 'preparing'; requestedAt: Date}
  | {state: 'ready'; key: string; rendition: string; bytes: number; durationSeconds: number; madeAt: Date}

/** What GET /api/streams/<channel>/vods answers: newest first, with where the web plays each. */
export interface VodListing {
  streamId: string
  channel: string
  segments: number
  durationSeconds: number
  createdAt: string
  /** /vod/<channel>/<streamId>/master.m3u8, on the page's origin. */
  url: string
  /** Its poster (a JPEG), once made. */
  poster?: string
  /** Its scrubbing previews' WebVTT map (cues point into sprite sheets beside it), once made. */
  previews?: string
  /** Its streamer keeps it past the site's retention. */
  kept: boolean
  /** When housekeeping deletes it (the site's retention.vodDays); absent when never. */
  expiresAt?: string
}

/** /vod/<channel>/<streamId>/master.m3u8 */
export const vodUrl = (channel: string, streamId: string): string => `/vod/${channel}/${streamId}/master.m3u8`
/** /c/<channel>/vod/<streamId>: the page that plays it. */
export const vodPage = (channel: string, streamId: string): string => `/c/${channel}/vod/${streamId}`
/** Where the web serves a VOD's poster and previews map (under /vod/, from dvr/<channel>/<streamId>/previews/). */
export const vodPreviewUrls = (channel: string, streamId: string): {poster: string; previews: string} => ({
  poster: `/vod/${channel}/${streamId}/${PREVIEWS_FOLDER}/${POSTER_NAME}`,
  previews: `/vod/${channel}/${streamId}/${PREVIEWS_FOLDER}/${VTT_NAME}`,
})

/** Stream ids as newStreamId makes them (20250102T030405Z-9f3a1c2b); anything else is not looked up. */
export const STREAM_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/

/** When a broadcast began, from its stream id (to the second); undefined for an id of another form. */
export function streamStartedAt(streamId: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(streamId)
  if (m === null) return undefined
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])))
}

/** A channel's past broadcasts, and everyone's newest (the front page). */
export async function ensureVodIndexes(db: Db): Promise<void> {
  const vods = db.collection<VodDoc>(VODS_COLLECTION)
  await vods.createIndex({channel: 1, createdAt: -1})
  await vods.createIndex({createdAt: -1})
}

const expiryOf = (d: VodDoc, vodDays: number): {expiresAt?: string} => {
  const at = vodExpiresAt(d, vodDays)
  return at === undefined ? {} : {expiresAt: at.toISOString()}
}

/** `vodDays`: the site's retention, to say when each goes (0: never). */
export async function listVods(db: Db, channel: string, limit = 50, vodDays = 0): Promise<VodListing[]> {
  const docs = await db.collection<VodDoc>(VODS_COLLECTION).find({channel}).sort({createdAt: -1}).limit(limit).toArray()
  return docs.map((d) => ({
    streamId: d.streamId,
    channel: d.channel,
    segments: d.segments,
    durationSeconds: d.durationSeconds,
    createdAt: d.createdAt.toISOString(),
    url: vodUrl(d.channel, d.streamId),
    ...(d.previews === undefined ? {} : vodPreviewUrls(d.channel, d.streamId)),
    kept: d.kept === true,
    ...expiryOf(d, vodDays),
  }))
}
