/**
 * The BullMQ jobs the components agree on: their types, data and results. Components enqueue,
 * the worker runs them; a job type without a handler (worker/handlers/) does not compile.
 */
import type {RegisteredRole} from '../contract/index.js'

export const jobTypes = ['dvr.finalize', 'vod.delete', 'mail.send', 'housekeeping'] as const
export type JobType = (typeof jobTypes)[number]

/** Redis key prefix of every queue (one queue per job type, named by the type). */
export const QUEUE_PREFIX = 'shing:queue'

export interface JobData {
  'dvr.finalize': {streamId: string}
  /** A past broadcast its streamer deleted: its archive in S3 goes (its VOD document went first). */
  'vod.delete': {channel: string; streamId: string}
  /** One mail to one person (an account's verification, reset or notice), sent by the worker. */
  'mail.send': {to: string; subject: string; text: string; html: string}
  housekeeping: Record<string, never>
}

export interface HousekeepingResult {
  status: 'done'
  /** Per role: records still live, and records dropped (stale heartbeat, unparseable, or no TTL). */
  registry: {[R in RegisteredRole]: {live: number; removed: number}}
}

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

export interface VodDeleteResult {
  status: 'done'
  /** dvr/<channel>/<streamId> */
  prefix: string
  objectsRemoved: number
}

export interface MailSendResult {
  status: 'sent'
  /** The SMTP server's id for it. */
  messageId: string
}

export interface JobResult {
  'dvr.finalize': DvrFinalizeResult
  'vod.delete': VodDeleteResult
  'mail.send': MailSendResult
  housekeeping: HousekeepingResult
}

export type JobHandler<T extends JobType, Context> = (data: JobData[T], context: Context) => Promise<JobResult[T]>

/** Exhaustive: every job type must have its handler. */
export type JobHandlers<Context> = {[T in JobType]: JobHandler<T, Context>}

/** dvr.finalize: one job per broadcast (its id is the stream's), retried while the archive settles. */
export const DVR_FINALIZE_JOB_OPTIONS = {
  attempts: 5,
  backoff: {type: 'exponential', delay: 2000},
  removeOnComplete: 1000,
  removeOnFail: 1000,
} as const
export const dvrFinalizeJobId = (streamId: string): string => `dvr.finalize-${streamId}`

/** vod.delete: one job per broadcast, retried while S3 is away. */
export const VOD_DELETE_JOB_OPTIONS = {
  attempts: 10,
  backoff: {type: 'exponential', delay: 2000},
  removeOnComplete: 1000,
  removeOnFail: 1000,
} as const
export const vodDeleteJobId = (streamId: string): string => `vod.delete-${streamId}`

/**
 * mail.send: retried for about an hour while the SMTP server is away (its links stay valid that
 * long); kept briefly, since a mail's text holds a link that logs someone in or resets a password.
 */
export const MAIL_SEND_JOB_OPTIONS = {
  attempts: 8,
  backoff: {type: 'exponential', delay: 15_000},
  removeOnComplete: true,
  removeOnFail: {age: 24 * 3600},
} as const
