/**
 * The job catalog: every BullMQ job type the components agree on, with the schema of its data
 * (checked when a job is enqueued and again when a worker runs it), where it runs (its route),
 * its retry policy and, where one job per thing is wanted, its job id. A job type without a
 * handler (worker/handlers/index.ts) does not compile.
 */
import type {JobsOptions} from 'bullmq'
import {z} from 'zod'

import {channelNameSchema} from '../contract/live.js'

/** What a worker can do; a worker declares its own from its box's hardware profile. */
export const capabilities = ['general', 'video-cpu', 'video-gpu-nvenc', 'video-gpu-vaapi', 'video-gpu-qsv'] as const
export type Capability = (typeof capabilities)[number]
export const gpuCapabilities = ['video-gpu-nvenc', 'video-gpu-vaapi', 'video-gpu-qsv'] as const satisfies readonly Capability[]

/**
 * Where a job type runs:
 * - `general`: any worker with `general` (mail, bookkeeping);
 * - `video`: any worker with `video-cpu` (ffmpeg that copies or decodes a little: remux, clips, thumbnails);
 * - `encode`: a re-encode, on a GPU worker when one is up, else on CPU (see routeEncode in queues.ts).
 */
export type JobRoute = 'general' | 'video' | 'encode'

interface JobDefinition {
  summary: string
  route: JobRoute
  data: z.ZodType
  options: JobsOptions
  /** The job's id from its data, where one job per thing is wanted (enqueued twice, it runs once). */
  jobId: ((data: never) => string) | undefined
}

const streamIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

/** Retries with exponential backoff; the last 1000 done and failed kept for `shing jobs` and the dashboard. */
const retried = (attempts: number, delayMs: number) =>
  ({attempts, backoff: {type: 'exponential', delay: delayMs}, removeOnComplete: 1000, removeOnFail: 1000}) as const

export const jobCatalog = {
  'dvr.finalize': {
    summary: "Check a finished broadcast's archive in S3 and record it as a VOD",
    route: 'general',
    data: z.strictObject({streamId: streamIdSchema}),
    // Retried while the archive settles.
    options: retried(5, 2000),
    jobId: (d: {streamId: string}) => `dvr.finalize-${d.streamId}`,
  },
  'vod.previews': {
    summary: "Make a VOD's poster and scrubbing previews (sprite sheets and their WebVTT map)",
    route: 'video',
    data: z.strictObject({channel: channelNameSchema, streamId: streamIdSchema}),
    // Retried while S3 is away or a re-encode switches the archive under it.
    options: retried(5, 2000),
    jobId: (d: {streamId: string}) => `vod.previews-${d.streamId}`,
  },
  'thumbnail.live': {
    summary: "Take a live channel's thumbnail from its newest archived segment",
    route: 'video',
    data: z.strictObject({channel: channelNameSchema, streamId: streamIdSchema}),
    // Retried while the broadcast's first segment is on its way; the next sweep asks again anyway.
    options: {attempts: 3, backoff: {type: 'exponential', delay: 2000}, removeOnComplete: 100, removeOnFail: 100},
    // One per broadcast and interval, named by the sweep (thumbnail.live-<streamId>-<interval number>).
    jobId: undefined,
  },
  'thumbnail.sweep': {
    summary: 'Ask for a fresh thumbnail of each live channel whose thumbnail is older than media.thumbnails.liveEverySeconds',
    route: 'general',
    data: z.strictObject({}),
    // Runs every few seconds by itself (a job scheduler): a failed one is simply followed by the next.
    options: {attempts: 1, removeOnComplete: 100, removeOnFail: 100},
    jobId: undefined,
  },
  'vod.delete': {
    summary: "Remove a deleted broadcast's archive from S3",
    route: 'general',
    data: z.strictObject({channel: channelNameSchema, streamId: streamIdSchema}),
    // Retried while S3 is away.
    options: retried(10, 2000),
    jobId: (d: {streamId: string}) => `vod.delete-${d.streamId}`,
  },
  'clip.create': {
    summary: 'Cut a clip from a broadcast\'s archive: an MP4 (no re-encode), an HLS playlist of the same segments, a poster',
    route: 'video',
    data: z.strictObject({
      clipId: z.string().regex(/^[a-z0-9]{12}$/),
      channel: channelNameSchema,
      streamId: streamIdSchema,
      seconds: z.number().int().min(1).max(600),
      /** Where in the VOD it starts (playlist time); absent: the last `seconds` archived. */
      startSeconds: z.number().min(0).optional(),
    }),
    // Quick; retried a little while S3 is away.
    options: retried(3, 1000),
    jobId: (d: {clipId: string}) => `clip.create-${d.clipId}`,
  },
  'mail.send': {
    summary: 'Send one mail over SMTP',
    route: 'general',
    data: z.strictObject({
      to: z.string().min(3).max(254),
      subject: z.string().max(998),
      text: z.string(),
      html: z.string(),
      /** A notification mail's one-click unsubscribe (RFC 8058: List-Unsubscribe and List-Unsubscribe-Post headers). */
      unsubscribeUrl: z.url().optional(),
    }),
    // Retried for about an hour while the SMTP server is away (its links stay valid that long);
    // kept briefly, since a mail's text holds a link that logs someone in or resets a password.
    options: {attempts: 8, backoff: {type: 'exponential', delay: 15_000}, removeOnComplete: true, removeOnFail: {age: 24 * 3600}},
    jobId: undefined,
  },
  'vod.mp4': {
    summary: "Remux a VOD's best rendition into one downloadable MP4 (no re-encode)",
    route: 'video',
    data: z.strictObject({channel: channelNameSchema, streamId: streamIdSchema}),
    // Retried while S3 is away or the archive is being switched by a re-encode.
    options: retried(5, 2000),
    jobId: (d: {streamId: string}) => `vod.mp4-${d.streamId}`,
  },
  'vod.transcode': {
    summary: "Re-encode a finished broadcast into one smaller rendition and switch its archive to it once it plays",
    route: 'encode',
    data: z.strictObject({
      channel: channelNameSchema,
      streamId: streamIdSchema,
      height: z.number().int().min(144).max(2160),
      videoKbps: z.number().int().min(100).max(50_000),
      codec: z.enum(['h264', 'hevc']),
    }),
    // An encode takes long: a few tries, from a minute apart; 15 minutes in all, longer than a
    // clip may hold the old renditions' cleanup back (vod-transcode.ts CLIP_PENDING_MS).
    options: retried(5, 60_000),
    jobId: (d: {streamId: string}) => `vod.transcode-${d.streamId}`,
  },
  'channel.event': {
    summary: 'Tell who should know that a channel went live, went offline or posted (notifications, webhooks)',
    route: 'general',
    data: z.strictObject({
      channel: channelNameSchema,
      event: z.enum(['live', 'offline', 'post']),
      /** live, offline: the broadcast. */
      streamId: streamIdSchema.optional(),
      /** post: the post's id. */
      postId: z.string().regex(/^[a-f0-9]{24}$/).optional(),
      /** When it happened (ISO 8601). */
      at: z.iso.datetime(),
    }),
    options: retried(8, 2000),
    // One per event: a broadcast goes live once, whoever enqueues it twice.
    jobId: (d: {event: string; streamId?: string | undefined; postId?: string | undefined}) => `channel.event-${d.event}-${d.streamId ?? d.postId ?? ''}`,
  },
  'notify.mail': {
    summary: 'Mail notifications to their recipients who want that kind by e-mail (each at most once)',
    route: 'general',
    // One notify call's (a page of followers at most): one job, not one per recipient.
    data: z.strictObject({notificationIds: z.array(z.string().regex(/^[a-f0-9]{24}$/)).min(1).max(1000)}),
    options: retried(5, 5000),
    // Named by notify (notify.mail-<first id>-<count>): the same batch queued twice is one job.
    jobId: undefined,
  },
  'notify.live': {
    summary: "Tell a live channel's followers who asked for it (pages of followers; a rerun tells no one twice)",
    route: 'general',
    data: z.strictObject({channel: channelNameSchema, streamId: streamIdSchema}),
    options: retried(8, 2000),
    jobId: (d: {streamId: string}) => `notify.live-${d.streamId}`,
  },
  'notify.digest': {
    summary: "Mail each account that chose the daily digest what is unread and not yet mailed",
    route: 'general',
    data: z.strictObject({}),
    // Runs daily by itself (a job scheduler); what one run misses, the next one sends.
    options: {attempts: 3, backoff: {type: 'exponential', delay: 60_000}, removeOnComplete: 30, removeOnFail: 30},
    jobId: undefined,
  },
  'schedule.remind': {
    summary: "Remind a channel's followers who asked for live alerts that a scheduled broadcast starts soon",
    route: 'general',
    data: z.strictObject({entryId: z.string().regex(/^[a-f0-9]{24}$/), startsAtMs: z.number().int()}),
    options: retried(5, 5000),
    // One per entry and start time: a changed time is a new reminder (the old one finds it changed).
    jobId: (d: {entryId: string; startsAtMs: number}) => `schedule.remind-${d.entryId}-${d.startsAtMs}`,
  },
  'webhook.deliver': {
    summary: "POST a channel event to one of its webhooks, signed with the webhook's secret",
    route: 'general',
    data: z.strictObject({
      webhookId: z.string().regex(/^[a-f0-9]{24}$/),
      channel: channelNameSchema,
      event: z.enum(['live', 'offline', 'post']),
      streamId: streamIdSchema.optional(),
      postId: z.string().regex(/^[a-f0-9]{24}$/).optional(),
      at: z.iso.datetime(),
    }),
    // Retried on network errors, 5xx and 429 (10 s, 20 s, 40 s … about 40 minutes in all); other answers are final.
    options: retried(8, 10_000),
    // One per webhook and event: a retried channel.event adds none.
    jobId: (d: {webhookId: string; event: string; streamId?: string | undefined; postId?: string | undefined}) => `webhook.deliver-${d.webhookId}-${d.event}-${d.streamId ?? d.postId ?? ''}`,
  },
  'post.fanout': {
    summary: "Write a new post into its channel's followers' home timelines (Redis), a page of followers at a time; a channel above community.timelines.fanoutMaxFollowers is merged in at read instead",
    route: 'general',
    data: z.strictObject({postId: z.string().regex(/^[a-f0-9]{24}$/)}),
    // A retry (a worker that died mid-way) resumes after the last page it recorded.
    options: retried(8, 2000),
    jobId: (d: {postId: string}) => `post.fanout-${d.postId}`,
  },
  'post.unfanout': {
    summary: "Take a deleted post out of its channel's followers' home timelines",
    route: 'general',
    data: z.strictObject({postId: z.string().regex(/^[a-f0-9]{24}$/), channel: channelNameSchema}),
    options: retried(8, 2000),
    jobId: (d: {postId: string}) => `post.unfanout-${d.postId}`,
  },
  housekeeping: {
    summary: 'Expire what is past its time and remove what nothing points at',
    route: 'general',
    data: z.strictObject({dryRun: z.boolean().optional()}),
    options: {attempts: 1, removeOnComplete: 100, removeOnFail: 100},
    jobId: undefined,
  },
} as const satisfies Record<string, JobDefinition>

export type JobType = keyof typeof jobCatalog
export const jobTypes = Object.keys(jobCatalog) as JobType[]
export type JobData = {[T in JobType]: z.infer<(typeof jobCatalog)[T]['data']>}

/** Redis key prefix of every queue. */
export const QUEUE_PREFIX = 'shing:queue'

/** The queues a job type is carried on: one, or for an `encode` job one for GPU workers and one for CPU. */
export const routeOf = (type: JobType): JobRoute => (jobCatalog[type] as JobDefinition).route

export function queuesOf(type: JobType): string[] {
  return routeOf(type) === 'encode' ? [`${type}@gpu`, `${type}@cpu`] : [type]
}

/** Every queue of every job type (for `shing jobs` and the dashboard). */
export const allQueues = (): string[] => jobTypes.flatMap(queuesOf)

/** The job type a queue carries (`vod.transcode@gpu` → `vod.transcode`); undefined for a queue we do not know. */
export function jobTypeOfQueue(queue: string): JobType | undefined {
  const type = queue.replace(/@(gpu|cpu)$/, '')
  return (jobTypes as string[]).includes(type) && queuesOf(type as JobType).includes(queue) ? (type as JobType) : undefined
}
