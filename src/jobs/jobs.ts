/**
 * `shing jobs …`: the worker queues of the running stack, through admin operations run in a web
 * container (which reaches Redis): counts, failed jobs and their errors, retry, remove, and
 * housekeeping on demand.
 */
import type {HousekeepingReport, JobsRemoveResult, JobsRetryResult, JobsSummary} from '../../appliance/contract/index.js'
import {runAdmin} from '../admin/run-admin.js'
import type {Engine} from '../engine/engine.js'

export const jobsSummary = (engine: Engine, failedLimit: number): Promise<JobsSummary> => runAdmin(engine, 'jobs.summary', {failedLimit})

export const retryJobs = (engine: Engine, queue?: string, jobId?: string): Promise<JobsRetryResult> =>
  runAdmin(engine, 'jobs.retry', {...(queue === undefined ? {} : {queue}), ...(jobId === undefined ? {} : {jobId})})

export const removeJob = (engine: Engine, queue: string, jobId: string): Promise<JobsRemoveResult> => runAdmin(engine, 'jobs.remove', {queue, jobId})

export const runHousekeeping = (engine: Engine, dryRun: boolean): Promise<HousekeepingReport> => runAdmin(engine, 'jobs.housekeeping', {dryRun})
