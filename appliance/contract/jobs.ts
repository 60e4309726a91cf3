/**
 * The job queues as `shing jobs` sees them (admin operations jobs.*): counts per queue and state,
 * the workers that are up, and the jobs that failed for good (the dead-letter view), with their
 * errors. The queues themselves are the appliance's (appliance/jobs/catalog.ts).
 */
import {z} from 'zod'

/** BullMQ's job states, in the order `shing jobs` shows them. */
export const jobStates = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const
export type JobState = (typeof jobStates)[number]

export const queueCountsSchema = z.object({
  queue: z.string(),
  /** The job type it carries (a type's encode jobs have a GPU and a CPU queue). */
  type: z.string(),
  counts: z.partialRecord(z.enum(jobStates), z.number().int().min(0)),
})
export type QueueCounts = z.infer<typeof queueCountsSchema>

export const failedJobSchema = z.object({
  queue: z.string(),
  id: z.string(),
  attemptsMade: z.number().int(),
  /** The last attempt's error. */
  failedReason: z.string(),
  failedAt: z.string().optional(),
  /** What the job was about, shortened (a mail's text, which holds log-in links, is never shown). */
  about: z.string(),
})
export type FailedJob = z.infer<typeof failedJobSchema>

export const workerInfoSchema = z.object({
  id: z.string(),
  capabilities: z.array(z.string()),
  concurrency: z.object({general: z.number().int(), video: z.number().int()}),
  active: z.number().int(),
  heartbeatAt: z.string(),
})
export type WorkerInfo = z.infer<typeof workerInfoSchema>

export const jobsSummarySchema = z.object({
  queues: z.array(queueCountsSchema),
  workers: z.array(workerInfoSchema),
  /** The newest jobs that failed for good, newest first. */
  failed: z.array(failedJobSchema),
})
export type JobsSummary = z.infer<typeof jobsSummarySchema>

export const jobsRetryResultSchema = z.object({retried: z.array(z.object({queue: z.string(), id: z.string()}))})
export type JobsRetryResult = z.infer<typeof jobsRetryResultSchema>

export const jobsRemoveResultSchema = z.object({queue: z.string(), id: z.string(), state: z.string()})
export type JobsRemoveResult = z.infer<typeof jobsRemoveResultSchema>

/** What housekeeping removed (or, in a dry run, would remove): per kind, a count and some examples. */
export const housekeepingReportSchema = z.looseObject({dryRun: z.boolean().optional()})
export type HousekeepingReport = z.infer<typeof housekeepingReportSchema>

/** The jobs dashboard (BullMQ's bull-board) in the admin area. */
export const JOBS_DASHBOARD_PATH = '/admin/jobs'

/**
 * How long a stopping worker lets its running jobs finish before it hands them back to their
 * queues; the worker service's stop grace period is longer, so that happens before a SIGKILL.
 */
export const WORKER_SHUTDOWN_GRACE_S = 20
