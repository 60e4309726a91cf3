/**
 * Runs the job handlers: one BullMQ Worker per job type, each up to `concurrency` jobs at once,
 * and the recurring housekeeping job. close() lets active jobs finish (BullMQ close()).
 */
import {Queue, Worker, type Job} from 'bullmq'
import type {Redis} from 'ioredis'
import {Counter} from 'prom-client'

import {jobTypes, QUEUE_PREFIX, type JobData, type JobHandlers, type JobResult, type JobType} from '../jobs/types.js'
import type {HealthCheck, Metrics} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {bullConnection, type RedisEndpoint} from '../platform/redis.js'

/** How often the worker schedules housekeeping (one scheduler entry shared by all worker replicas). */
export const HOUSEKEEPING_EVERY_MS = 60_000

export interface JobRunnerOptions<Context> {
  handlers: JobHandlers<Context>
  context: Context
  /** The general client: close() checks whether Redis is there to wait on. */
  redis: Redis
  redisEndpoint: RedisEndpoint
  concurrency: number
  metrics: Metrics
  log: Logger
}

export interface JobRunner {
  /** Healthy while every job type is being consumed. */
  readonly check: HealthCheck
  close(): Promise<void>
}

export async function startJobRunner<Context>(options: JobRunnerOptions<Context>): Promise<JobRunner> {
  const {handlers, context, concurrency, metrics, log, redis} = options
  const connection = bullConnection(options.redisEndpoint)
  const jobsTotal = new Counter({
    name: 'shing_worker_jobs_total',
    help: 'Jobs this worker finished, by type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [metrics.registry],
  })
  let active = 0

  const startWorker = <T extends JobType>(type: T): Worker<JobData[T], JobResult[T]> => {
    const handler = handlers[type]
    const bull = new Worker<JobData[T], JobResult[T]>(
      type,
      async (job: Job<JobData[T], JobResult[T]>) => {
        active += 1
        try {
          return await handler(job.data, context)
        } finally {
          active -= 1
        }
      },
      {connection, prefix: QUEUE_PREFIX, concurrency},
    )
    bull.on('completed', (job) => {
      jobsTotal.inc({type, outcome: 'completed'})
      log.debug({type, jobId: job.id}, 'job done')
    })
    bull.on('failed', (job, error) => {
      jobsTotal.inc({type, outcome: 'failed'})
      log.warn({type, jobId: job?.id, err: error.message}, 'job failed')
    })
    // Connection trouble shows in the redis check; log it once here rather than per retry.
    bull.on('error', (error) => log.debug({type, err: error.message}, 'bullmq worker error'))
    return bull
  }
  const workers = jobTypes.map((type) => startWorker(type))
  await Promise.all(workers.map((w) => w.waitUntilReady()))

  // Housekeeping runs by itself: upsert is idempotent, so every replica may declare it.
  const housekeepingQueue = new Queue<JobData['housekeeping'], JobResult['housekeeping']>('housekeeping', {connection, prefix: QUEUE_PREFIX})
  housekeepingQueue.on('error', (error) => log.debug({err: error.message}, 'bullmq queue error'))
  await housekeepingQueue.upsertJobScheduler('housekeeping-every-minute', {every: HOUSEKEEPING_EVERY_MS}, {
    name: 'housekeeping',
    data: {},
    opts: {removeOnComplete: 100, removeOnFail: 100},
  })
  log.info({types: jobTypes, concurrency}, 'job workers running')
  metrics.gauge('shing_worker_jobs_active', 'Jobs running in this worker now', () => active)
  metrics.gauge('shing_worker_concurrency', 'Jobs per type this worker runs at once (profile worker.concurrency)', () => concurrency)

  return {
    check: {
      name: 'queues',
      kind: 'self',
      run: async () => {
        const idle = jobTypes.filter((_, i) => !workers[i]?.isRunning())
        if (idle.length > 0) throw new Error(`not consuming: ${idle.join(', ')}`)
      },
    },
    close: async () => {
      // close() waits for the jobs in progress and takes no new ones. Without Redis they could
      // not be marked done anyway, and the wait would never end: then BullMQ retries them later.
      const force = redis.status !== 'ready'
      if (force) log.warn('redis is unavailable: closing job workers without waiting for active jobs')
      await Promise.all([...workers.map((w) => w.close(force)), housekeepingQueue.close()])
    },
  }
}
