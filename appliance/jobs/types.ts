/**
 * The BullMQ jobs every component agrees on: the job types, their data and results. The web enqueues,
 * the worker runs them; a job type without a handler in JobHandlers does not compile.
 */
import type {RegisteredRole} from '../contract/index.js'

export const jobTypes = ['notifications', 'dvr.finalize', 'dvr.encode', 'clips.cut', 'timeline.fanout', 'housekeeping'] as const
export type JobType = (typeof jobTypes)[number]

/** Redis key prefix of every queue (one queue per job type, named by the type). */
export const QUEUE_PREFIX = 'shing:queue'

export interface JobData {
  notifications: {userIds: string[]; kind: string; payload: Record<string, unknown>}
  'dvr.finalize': {streamId: string}
  'dvr.encode': {vodId: string}
  'clips.cut': {clipId: string; streamId: string; startSeconds: number; endSeconds: number}
  'timeline.fanout': {postId: string; authorId: string}
  housekeeping: Record<string, never>
}

/** A handler whose feature is not built yet says so instead of pretending it did the work. */
export interface NotImplemented {
  status: 'not-implemented'
  type: JobType
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

export interface JobResult {
  notifications: NotImplemented
  'dvr.finalize': DvrFinalizeResult
  'dvr.encode': NotImplemented
  'clips.cut': NotImplemented
  'timeline.fanout': NotImplemented
  housekeeping: HousekeepingResult
}

export type JobHandler<T extends JobType, Context> = (data: JobData[T], context: Context) => Promise<JobResult[T]>

/** Exhaustive: every job type must have its handler. */
export type JobHandlers<Context> = {[T in JobType]: JobHandler<T, Context>}
