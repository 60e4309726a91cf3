/**
 * Archived broadcasts (VODs): the worker's dvr.finalize writes one document per stream in `vods`
 * once the archive in S3 checks out; the web lists them and serves the archive under /vod/.
 */
import type {Readable} from 'node:stream'

import type {Db} from 'mongodb'

import type {Storage} from '../platform/storage.js'

export const VODS_COLLECTION = 'vods'

export interface VodDoc {
  streamId: string
  channel: string
  /** Segments of all renditions together. */
  segments: number
  durationSeconds: number
  renditions: {name: string; segments: number; durationSeconds: number}[]
  createdAt: Date
}

/** What GET /api/streams/<channel>/vods answers: newest first, with where the web plays each. */
export interface VodListing {
  streamId: string
  channel: string
  segments: number
  durationSeconds: number
  createdAt: string
  /** /vod/<channel>/<streamId>/master.m3u8, on the page's origin. */
  url: string
}

/** /vod/<channel>/<streamId>/master.m3u8 */
export const vodUrl = (channel: string, streamId: string): string => `/vod/${channel}/${streamId}/master.m3u8`

/** Stream ids as newStreamId makes them (20250102T030405Z-9f3a1c2b); anything else is not looked up. */
export const STREAM_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/

export async function listVods(db: Db, channel: string, limit = 50): Promise<VodListing[]> {
  const docs = await db.collection<VodDoc>(VODS_COLLECTION).find({channel}).sort({createdAt: -1}).limit(limit).toArray()
  return docs.map((d) => ({
    streamId: d.streamId,
    channel: d.channel,
    segments: d.segments,
    durationSeconds: d.durationSeconds,
    createdAt: d.createdAt.toISOString(),
    url: vodUrl(d.channel, d.streamId),
  }))
}

/** S3's "there is no such object", as MinIO and other S3 APIs say it. */
export const isMissingObject = (error: unknown): boolean => {
  const code = (error as {code?: string}).code
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket'
}

export async function readObjectText(storage: Storage, key: string): Promise<string> {
  const stream: Readable = await storage.client.getObject(storage.bucket, key)
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Every object name under a prefix (recursive). */
export async function listObjectNames(storage: Storage, prefix: string): Promise<string[]> {
  const names: string[] = []
  for await (const item of storage.client.listObjectsV2(storage.bucket, prefix, true)) {
    const name = (item as {name?: string}).name
    if (name !== undefined) names.push(name)
  }
  return names
}
