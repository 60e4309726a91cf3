/**
 * What each job answers, and the handler types: the worker's map of handlers (one per job type,
 * worker/handlers/) must cover the catalog (catalog.ts), or it does not compile.
 */
import type {RegisteredRole} from '../contract/index.js'
import type {BucketObjectKind} from '../housekeeping/references.js'
import type {JobData, JobType} from './catalog.js'

export {jobTypes, QUEUE_PREFIX, type JobData, type JobType} from './catalog.js'

/** Some of what a housekeeping step removed (in a dry run: would remove), as `shing jobs housekeeping` prints it. */
export interface HousekeepingRemoval {
  /** How many were removed; in a dry run, how many would be. */
  count: number
  /** Up to HOUSEKEEPING_EXAMPLES of them by name: `<channel>/<streamId>`, an object's key. */
  examples: string[]
}

/** Objects in the bucket that nothing points at (housekeeping/references.ts says what points at what). */
export interface HousekeepingOrphans extends HousekeepingRemoval {
  /** False when this scheduled run left the bucket alone: it is listed at most once an hour (a run asked for lists it always). */
  swept: boolean
  /** Only objects at least this old are removed (their last change, as S3 says). */
  graceHours: number
  /** What the objects removed took. */
  bytes: number
  byKind: {[K in BucketObjectKind]: number}
  /** Objects listed. */
  scanned: number
  /** Pointed at by nothing, but younger than the grace: a later run removes them if that is still so. */
  withinGrace: number
  /** Keys that are not of Shing's layout: never removed. */
  unknown: number
}

/**
 * What one housekeeping run removed, per kind; with `dryRun`, nothing was removed and every count
 * is what a real run would remove now. JSON: `shing jobs housekeeping [--dry-run]` prints it.
 */
export interface HousekeepingResult {
  status: 'done'
  dryRun: boolean
  /** Per role: records still live, and records dropped (stale heartbeat, unparseable, or no TTL). */
  registry: {[R in RegisteredRole]: {live: number; removed: number}}
  /** Broadcasts MongoDB still marks live whose ingest is gone (no heartbeat, no stream state): marked ended. */
  staleStreams: HousekeepingRemoval
  /** Past broadcasts older than vodDays (0: none expire): their documents removed, their archives handed to vod.delete. */
  expiredVods: HousekeepingRemoval & {
    vodDays: number
    /** As old, but their streamers keep them: left alone. */
    kept: number
  }
  /** Chat messages older than chatDays (0: none expire). */
  chatMessages: {chatDays: number; count: number}
  /** Encode jobs that waited for a GPU worker (preferring one) when none was left: moved to the CPU queue. */
  encodesToCpu: HousekeepingRemoval
  orphans: HousekeepingOrphans
  /** Notifications read more than readDays ago, or older than unreadDays (housekeeping/notification-expiry.ts). */
  notifications: {readDays: number; unreadDays: number; count: number}
  /** Posts of the last day whose channel.event was never queued (Redis away at publish): queued (housekeeping/post-events.ts). */
  postEvents: HousekeepingRemoval
}

/** A clip made (or refused with its reason, or deleted before it was done). */
export type ClipCreateResult =
  | {
      status: 'ready'
      clipId: string
      rendition: string
      segments: number
      /** The segments' playlist durations added up. */
      durationSeconds: number
      /** clips/<clipId>/clip.mp4 as ffprobe reads it. */
      mp4Seconds: number
      bytes: number
      /** Set when the range was split at an interruption, or the broadcast was shorter than asked. */
      notice?: string
    }
  | {status: 'failed'; clipId: string; reason: string}
  | {status: 'gone'; clipId: string}

/** A broadcast's archive checked in S3 and recorded as a VOD (one `vods` document per stream). */
export interface DvrFinalizeResult {
  status: 'done'
  streamId: string
  channel: string
  /** dvr/<channel>/<streamId>: where the archive lives in the bucket. */
  prefix: string
  /** Segments listed by the closed playlists, all renditions together. */
  segments: number
  /** The longest rendition's playlist duration. */
  durationSeconds: number
  renditions: {name: string; segments: number; durationSeconds: number}[]
}

/** A VOD's poster and scrubbing previews, under dvr/<channel>/<streamId>/previews/. */
export type VodPreviewsResult =
  | {
      status: 'done'
      /** dvr/<channel>/<streamId>/previews */
      prefix: string
      /** The renditions the poster and the tiles were decoded from. */
      posterRendition: string
      tilesRendition: string
      sheets: number
      tiles: number
      tileSeconds: number
      durationSeconds: number
    }
  | {status: 'skipped'; reason: string}

/** A live channel's thumbnail at thumbs/live/<channel>.jpg, or why none was taken this time. */
export type ThumbnailLiveResult =
  | {status: 'done'; key: string; rendition: string; segment: string; bytes: number}
  | {status: 'skipped'; reason: string}

export interface ThumbnailSweepResult {
  status: 'done'
  live: number
  /** Channels whose thumbnail was due: a thumbnail.live job each. */
  asked: string[]
}

export interface VodDeleteResult {
  status: 'done'
  /** dvr/<channel>/<streamId> */
  prefix: string
  objectsRemoved: number
}

/** A VOD's downloadable MP4, at dvr/<channel>/<streamId>/download.mp4 (skipped: the VOD was deleted before it ran). */
export type VodMp4Result = VodMp4Done | {status: 'skipped'; reason: string}

export interface VodMp4Done {
  status: 'done'
  key: string
  /** The rendition it was remuxed from. */
  rendition: string
  bytes: number
  durationSeconds: number
  /** Continuous runs of the archive joined (more than 1 where the ladder restarted). */
  runs: number
  /** Made by an earlier run (the job ran again): nothing was redone. */
  reused: boolean
}

/** A finished broadcast re-encoded into one rendition, its archive switched to it (skipped: the VOD was deleted before it ran). */
export type VodTranscodeResult =
  | {status: 'skipped'; reason: string}
  | {
      status: 'done'
      /** The new rendition's folder, e.g. 480p-h264-1000k. */
      rendition: string
      encoder: string
      durationSeconds: number
      segments: number
      /** The archive's media bytes before and after (the old renditions against the new one). */
      bytesBefore: number
      bytesAfter: number
      /** Old objects kept because a clip still uses them. */
      keptForClips: number
      objectsRemoved: number
      /** When a later run removes the old renditions (players that loaded them before the switch finish first). */
      oldRemovedAt?: string
      /** The archive had been switched by an earlier run: only what was left to clean was done. */
      reused: boolean
    }
  | {status: 'skipped'; reason: string}

export type MailSendResult =
  | {
      status: 'sent'
      /** The SMTP server's id for it. */
      messageId: string
    }
  /** A retry of a job whose mail an earlier try had handed to the SMTP server (worker/handlers/mail-send.ts). */
  | {status: 'skipped'; reason: 'already sent'}

export interface ChannelEventResult {
  status: 'done'
  /** What each listener did (its own words), by listener name. */
  listeners: Record<string, string>
}

/** Why a notification was not mailed. */
export type NotifyMailSkip = 'gone' | 'not by e-mail' | 'no address' | 'site sends no mail' | 'broadcast ended' | 'already mailed' | 'too late'

/** Notifications mailed (each queued on mail.send), and how many were not, by why. */
export interface NotifyMailResult {
  status: 'done'
  queued: number
  skipped: Partial<Record<NotifyMailSkip, number>>
}

/** A went-live told to a channel's followers who asked for it. */
export interface NotifyLiveResult {
  /** disabled: the channel is (a disabled channel tells no one). */
  status: 'done' | 'ended' | 'disabled'
  /** Followers with live alerts on. */
  followers: number
  /** Notifications new in this run (a rerun: 0). */
  notified: number
}

/** The daily digest: mails queued, and the notifications they carry. */
export interface NotifyDigestResult {
  status: 'done'
  mails: number
  notifications: number
}

/** A scheduled broadcast's reminder: followers told, or why nobody was (removed, moved, already live). */
export type ScheduleRemindResult =
  | {status: 'done'; entryId: string; followers: number; notified: number}
  | {status: 'skipped'; entryId: string; reason: 'removed' | 'time changed' | 'already live' | 'channel disabled'}

/** One webhook delivery: the receiver's answer, or why it was not sent. */
export type WebhookDeliverResult =
  | {status: 'delivered'; deliveryId: string; httpStatus: number; attempt: number}
  | {status: 'skipped'; deliveryId: string; reason: 'webhook removed' | 'already delivered' | 'event not wanted'}

/** A post written into its followers' timelines (or left to be merged at read, its channel being too big). */
export type PostFanoutResult =
  | {
      status: 'done'
      postId: string
      channel: string
      /** Followers gone over, this try and the tries before. */
      followers: number
      /** Of those, the timelines that existed and were written into (a page a crash made a try write again counts again). */
      timelines: number
      /** Followers an earlier try had done (a try after a crash resumes there); 0 on a whole run. */
      resumedAfter: number
    }
  | {status: 'pulled'; postId: string; channel: string; followers: number}
  | {status: 'skipped'; postId: string; reason: 'post deleted'}

/** A deleted post taken out of its channel's followers' timelines. */
export type PostUnfanoutResult =
  | {status: 'done'; postId: string; channel: string; followers: number}
  /** A channel merged in at read: its posts were never fanned out (readers drop one deleted). */
  | {status: 'skipped'; postId: string; channel: string; reason: 'pulled channel'}

export interface JobResult {
  'dvr.finalize': DvrFinalizeResult
  'vod.previews': VodPreviewsResult
  'thumbnail.live': ThumbnailLiveResult
  'thumbnail.sweep': ThumbnailSweepResult
  'vod.delete': VodDeleteResult
  'clip.create': ClipCreateResult
  'mail.send': MailSendResult
  housekeeping: HousekeepingResult
  'vod.mp4': VodMp4Result
  'vod.transcode': VodTranscodeResult
  'channel.event': ChannelEventResult
  'schedule.remind': ScheduleRemindResult
  'webhook.deliver': WebhookDeliverResult
  'notify.mail': NotifyMailResult
  'notify.live': NotifyLiveResult
  'notify.digest': NotifyDigestResult
  'post.fanout': PostFanoutResult
  'post.unfanout': PostUnfanoutResult
}

/** What a handler is told about the run it is in. */
export interface JobRun {
  id: string
  /** 1 on the first try. */
  attempt: number
  /** Aborted when the worker stops before the job is done: stop ffmpeg (execa's cancelSignal), throw. */
  signal: AbortSignal
  progress(value: number): Promise<void>
  /** What an earlier try of this job recorded with checkpoint() (undefined when none did): where a long job resumes after a crash. */
  resumeFrom: Record<string, unknown> | undefined
  /** Records, with the job in Redis, how far it got (it takes the place of the progress figure). */
  checkpoint(value: Record<string, unknown>): Promise<void>
}

export type JobHandler<T extends JobType, Context> = (data: JobData[T], context: Context, run: JobRun) => Promise<JobResult[T]>

/** Exhaustive: every job type must have its handler. */
export type JobHandlers<Context> = {[T in JobType]: JobHandler<T, Context>}
