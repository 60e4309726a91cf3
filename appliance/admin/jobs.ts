/**
 * The admin's view of the job queues (admin operations jobs.*, behind `shing jobs`): counts per
 * queue and state, the workers that are up, the jobs that failed for good and why, and retrying
 * or removing them.
 */
import type {Job} from 'bullmq'
import type {Redis} from 'ioredis'

import {jobStates, type FailedJob, type JobsRemoveResult, type JobsRetryResult, type JobsSummary, type QueueCounts} from '../contract/jobs.js'
import {allQueues, jobTypeOfQueue} from '../jobs/catalog.js'
import type {JobQueues} from '../jobs/queues.js'
import {liveWorkers} from '../jobs/workers.js'

/** Something the admin asked that cannot be done as asked (an unknown queue or job, a running job). */
export class JobsInputError extends Error {
  override name = 'JobsInputError'
}

/** A queue name the admin typed: one of ours, or an error that lists them. */
function checkQueue(queue: string): string {
  if (jobTypeOfQueue(queue) === undefined) throw new JobsInputError(`there is no queue ${JSON.stringify(queue)}; the queues are: ${allQueues().join(', ')}`)
  return queue
}

/** What a job is about, in a line: its data, but never a mail's body (it holds log-in links). */
export function describeJob(queue: string, data: unknown): string {
  if (data === null || typeof data !== 'object') return ''
  const fields = jobTypeOfQueue(queue) === 'mail.send' ? {to: maskAddress(String((data as {to?: unknown}).to ?? '')), subject: (data as {subject?: unknown}).subject} : data
  const text = JSON.stringify(fields)
  return text.length > 200 ? `${text.slice(0, 199)}…` : text
}

const maskAddress = (address: string): string => address.replace(/^(.).*@/, '$1…@')

export async function jobsSummary(jobs: JobQueues, redis: Redis, failedLimit: number): Promise<JobsSummary> {
  const queues: QueueCounts[] = []
  const failed: FailedJob[] = []
  for (const name of allQueues()) {
    const queue = jobs.queue(name)
    const counts = await queue.getJobCounts(...jobStates)
    queues.push({queue: name, type: jobTypeOfQueue(name) ?? name, counts})
    if (failedLimit > 0 && (counts.failed ?? 0) > 0) {
      for (const job of await queue.getFailed(0, failedLimit - 1)) failed.push(failedJob(name, job))
    }
  }
  failed.sort((a, b) => (b.failedAt ?? '').localeCompare(a.failedAt ?? ''))
  const workers = (await liveWorkers(redis)).map(({id, capabilities, concurrency, active, heartbeatAt}) => ({id, capabilities, concurrency, active, heartbeatAt}))
  return {queues, workers, failed: failed.slice(0, failedLimit)}
}

function failedJob(queue: string, job: Job): FailedJob {
  return {
    queue,
    id: job.id ?? '',
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason ?? '',
    ...(job.finishedOn === undefined ? {} : {failedAt: new Date(job.finishedOn).toISOString()}),
    about: describeJob(queue, job.data),
  }
}

/**
 * Runs failed jobs again, each once, with its full retry policy (its attempts counted from 0): one
 * job, every failed job of a queue, or of every queue. The failed ones are listed first and then
 * retried, so a job that fails again at once is not taken a second time.
 */
export async function retryJobs(jobs: JobQueues, input: {queue?: string; jobId?: string}): Promise<JobsRetryResult> {
  const again = {resetAttemptsMade: true, resetAttemptsStarted: true}
  if (input.queue !== undefined && input.jobId !== undefined) {
    const job = await jobs.queue(checkQueue(input.queue)).getJob(input.jobId)
    if (job === undefined) throw new JobsInputError(`no job ${input.jobId} in ${input.queue} (it may have been removed: failed jobs are kept for the last 1000)`)
    const state = await job.getState()
    if (state !== 'failed') throw new JobsInputError(`job ${input.jobId} in ${input.queue} is ${state}, not failed: only failed jobs are retried`)
    await job.retry('failed', again)
    return {retried: [{queue: input.queue, id: input.jobId}]}
  }
  const retried: JobsRetryResult['retried'] = []
  for (const name of input.queue === undefined ? allQueues() : [checkQueue(input.queue)]) {
    const queue = jobs.queue(name)
    for (const job of await queue.getFailed(0, -1)) {
      // Retried or removed meanwhile (another admin, the dashboard): left alone.
      if ((await job.getState()) !== 'failed') continue
      await job.retry('failed', again)
      retried.push({queue: name, id: job.id ?? ''})
    }
  }
  return {retried}
}

export async function removeJob(jobs: JobQueues, queueName: string, jobId: string): Promise<JobsRemoveResult> {
  const job = await jobs.queue(checkQueue(queueName)).getJob(jobId)
  if (job === undefined) throw new JobsInputError(`no job ${jobId} in ${queueName}`)
  const state = await job.getState()
  if (state === 'active') throw new JobsInputError(`job ${jobId} in ${queueName} is running now: wait for it to finish or fail, then remove it`)
  await job.remove()
  return {queue: queueName, id: jobId, state}
}
