/**
 * Live channels' thumbnails. A recurring `thumbnail.sweep` job (every SWEEP_EVERY_MS, one
 * scheduler entry however many workers declare it) asks for a `thumbnail.live` job for each live
 * channel whose thumbnail is due; that job decodes the first frame of the newest archived segment,
 * stores it at thumbs/live/<channel>.jpg and notes in Redis which broadcast it shows and when it
 * was taken. Pages link it with that time in the URL (a new picture is a new URL), and only for
 * the broadcast it shows: a channel that has just gone live shows a placeholder until its first.
 */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'
import {z} from 'zod'

import {CHANNEL_PATTERN} from '../contract/index.js'
import type {JobQueues} from '../jobs/queues.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import type {Storage} from '../platform/storage.js'
import {audioPoster} from '../web/assets.js'
import {sendStoredObject} from '../web/stored-object.js'

export const THUMBNAIL_SIZE = {width: 640, height: 360} as const
/** How often the sweep looks for thumbnails that are due: a thumbnail is never older than the interval and this. */
export const SWEEP_EVERY_MS = 5000
/** The note outlives the longest interval (60 s) a few times over; a finished broadcast's goes by itself. */
const RECORD_TTL_SECONDS = 300
const RECORD_PREFIX = 'shing:thumbnail:live:'

/** thumbs/live/<channel>.jpg: one object per channel, replaced by each new thumbnail. */
export const liveThumbnailKey = (channel: string): string => `thumbs/live/${channel}.jpg`

/** Which broadcast the stored thumbnail shows, and when it was taken (ms since the epoch). */
const recordSchema = z.object({streamId: z.string(), at: z.number()})
export type LiveThumbnailRecord = z.infer<typeof recordSchema>

export async function readLiveThumbnails(redis: Redis, channels: readonly string[]): Promise<Map<string, LiveThumbnailRecord>> {
  const found = new Map<string, LiveThumbnailRecord>()
  if (channels.length === 0) return found
  const values = await redis.mget(channels.map((c) => RECORD_PREFIX + c))
  for (const [i, value] of values.entries()) {
    const parsed = value === null ? undefined : recordSchema.safeParse(safeJson(value))
    if (parsed?.success) found.set(channels[i]!, parsed.data)
  }
  return found
}

export async function noteLiveThumbnail(redis: Redis, channel: string, record: LiveThumbnailRecord): Promise<void> {
  await redis.set(RECORD_PREFIX + channel, JSON.stringify(record), 'EX', RECORD_TTL_SECONDS)
}

/**
 * Whether a broadcast needs a new thumbnail now: it has none of its own yet, or the sweep after
 * this one would find it older than the interval.
 */
export function thumbnailDue(record: LiveThumbnailRecord | undefined, streamId: string, now: number, intervalMs: number): boolean {
  return record?.streamId !== streamId || now - record.at + SWEEP_EVERY_MS > intervalMs
}

/** The thumbnail job of a broadcast for the current interval: asked twice in one interval, it runs once. */
export const thumbnailJobId = (streamId: string, now: number, intervalMs: number): string => `thumbnail.live-${streamId}-${Math.floor(now / intervalMs)}`

/** Declares the recurring sweep (an upsert: every worker may, there stays one). */
export async function scheduleThumbnailSweep(jobs: JobQueues): Promise<void> {
  await jobs.queue('thumbnail.sweep').upsertJobScheduler('thumbnail.sweep-every-few-seconds', {every: SWEEP_EVERY_MS}, {
    name: 'thumbnail.sweep',
    data: {},
    opts: {removeOnComplete: 100, removeOnFail: 100},
  })
}

/** /media/thumbs/live/<channel>.jpg?v=<when it was taken> */
export const liveThumbnailUrl = (channel: string, at: number): string => `/media/thumbs/live/${encodeURIComponent(channel)}.jpg?v=${at.toString(36)}`

/** The web's view: the thumbnail URL of each live broadcast that has one of its own (an audio-only one: the audio poster). */
export class LiveThumbnails {
  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {}

  /** Channel → URL; none while Redis is away (the pages show placeholders). */
  async urls(live: readonly {channel: string; streamId: string; renditions: readonly {height: number}[]}[]): Promise<Map<string, string>> {
    const urls = new Map<string, string>()
    const withPicture = live.filter((s) => s.renditions.some((r) => r.height > 0))
    for (const s of live) if (!withPicture.includes(s)) urls.set(s.channel, audioPoster.url)
    try {
      const records = await readLiveThumbnails(this.redis, withPicture.map((s) => s.channel))
      for (const {channel, streamId} of withPicture) {
        const record = records.get(channel)
        if (record?.streamId === streamId) urls.set(channel, liveThumbnailUrl(channel, record.at))
      }
    } catch (error) {
      this.log.warn({err: (error as Error).message}, 'live thumbnails left out: Redis unavailable')
    }
    return urls
  }
}

/** How long a browser keeps a thumbnail: a newer one has another URL anyway. */
const THUMBNAIL_CACHE = 'public, max-age=300'
const THUMBNAIL_FILE = /^(.+)\.jpg$/

/** GET /media/thumbs/live/<channel>.jpg: the channel's latest thumbnail. */
export async function liveThumbnailRoutes(app: FastifyInstance, options: {storage: Storage}): Promise<void> {
  const {storage} = options
  app.get<{Params: {file: string}}>('/media/thumbs/live/:file', async (request, reply) => {
    const channel = THUMBNAIL_FILE.exec(request.params.file)?.[1]
    if (channel === undefined || !CHANNEL_PATTERN.test(channel)) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    return sendStoredObject(storage, liveThumbnailKey(channel), request, reply, {type: 'image/jpeg', cacheControl: THUMBNAIL_CACHE})
  })
}
