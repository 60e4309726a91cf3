/**
 * Clips (MongoDB `clips`): a few seconds of a broadcast a viewer cut and named. The web writes the
 * document (pending) and queues clip.create; the worker picks the archive's segments, writes the
 * clip's HLS playlist (playable: it plays from then on), then its MP4 and poster under
 * clips/<clipId>/, and marks it ready (or failed, with the reason shown).
 * `segmentKeys` lists the archive objects (init + segments) the clip's HLS form reuses: while the
 * clip exists they stay, even when its broadcast's VOD is deleted (vod.delete skips them).
 */
import {randomBytes} from 'node:crypto'

import type {Collection, Db} from 'mongodb'

export const CLIPS_COLLECTION = 'clips'

/** The shortest clip a viewer may ask for; the longest is media.clips.maxSeconds (15–60). */
export const CLIP_MIN_SECONDS = 15
export const CLIP_TITLE_MAX = 100
/** 12 lowercase letters and digits: short in a URL, and also the clip.create job's id. */
export const CLIP_ID_PATTERN = /^[a-z0-9]{12}$/

export type ClipStatus = 'pending' | 'ready' | 'failed'

export interface ClipDoc {
  clipId: string
  channel: string
  streamId: string
  title: string
  /** The account that cut it (its id), and its name when it did. */
  createdBy: string
  createdByName: string
  /** What was asked: the last `seconds` of the live broadcast, or `seconds` from `startSeconds` of the VOD. */
  request: {seconds: number; startSeconds?: number}
  status: ClipStatus
  /** Its HLS form is written: it plays (still pending while its MP4 and poster are made). */
  playable?: boolean
  /** Why it failed, for the viewer. */
  reason?: string
  /** What the viewer should know of a clip that is ready, e.g. that it was cut short at an interruption. */
  notice?: string
  /** The ladder rendition it was cut from. */
  rendition?: string
  /** Where it starts in the broadcast, in the broadcast's playlist time (what the VOD's player shows). */
  startOffsetSeconds?: number
  durationSeconds?: number
  /** The archive objects its HLS form plays: the rendition's init.mp4 first, then its segments. */
  segmentKeys: string[]
  /** The MP4's size in bytes. */
  bytes?: number
  /** clips/<clipId>/poster.jpg exists (not for an audio-only broadcast). */
  poster?: boolean
  createdAt: Date
  readyAt?: Date
}

/** clips/<clipId>: the clip's own objects (clip.mp4, index.m3u8, poster.jpg). */
export const clipPrefix = (clipId: string): string => `clips/${clipId}`
/** /clip/<clipId>: its page. */
export const clipPage = (clipId: string): string => `/clip/${clipId}`
/** /clip/<clipId>/media/<name>: what its page plays and downloads. */
export const clipMedia = (clipId: string, name: string): string => `/clip/${clipId}/media/${name}`

export function newClipId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('')
}

/** A viewer's name for a clip, tidied (spaces collapsed, no control characters), or why it will not do. */
export function clipTitle(raw: string): {title: string} | {problem: string} {
  // eslint-disable-next-line no-control-regex
  const title = raw.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim()
  if (title === '') return {problem: 'Give the clip a name.'}
  if ([...title].length > CLIP_TITLE_MAX) return {problem: `Keep the name to ${CLIP_TITLE_MAX} characters.`}
  return {title}
}

export class Clips {
  readonly collection: Collection<ClipDoc>

  constructor(db: Db) {
    this.collection = db.collection<ClipDoc>(CLIPS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({clipId: 1}, {unique: true})
    await this.collection.createIndex({channel: 1, createdAt: -1})
    // vod.delete asks which archive objects a broadcast's clips keep.
    await this.collection.createIndex({streamId: 1})
  }

  get(clipId: string): Promise<ClipDoc | null> {
    return CLIP_ID_PATTERN.test(clipId) ? this.collection.findOne({clipId}) : Promise.resolve(null)
  }

  async create(doc: ClipDoc): Promise<void> {
    await this.collection.insertOne({...doc})
  }

  /** A channel's clips that are ready, newest first. */
  listReady(channel: string, limit = 24): Promise<ClipDoc[]> {
    return this.collection.find({channel, status: 'ready'}).sort({createdAt: -1}).limit(limit).toArray()
  }

  async remove(clipId: string): Promise<boolean> {
    return (await this.collection.deleteOne({clipId})).deletedCount === 1
  }
}

/**
 * The archive objects of a broadcast that its clips keep alive, and whether a clip of it is still
 * being made (its segments not chosen yet): vod.delete waits for that one rather than race it.
 */
export async function keptByClips(db: Db, streamId: string, pendingSince: Date): Promise<{keys: Set<string>; pending: number}> {
  const docs = await db.collection<ClipDoc>(CLIPS_COLLECTION).find({streamId}, {projection: {segmentKeys: 1, status: 1, createdAt: 1}}).toArray()
  return {
    keys: new Set(docs.flatMap((d) => d.segmentKeys)),
    pending: docs.filter((d) => d.status === 'pending' && d.segmentKeys.length === 0 && d.createdAt >= pendingSince).length,
  }
}
