/**
 * Runs the job handlers: one BullMQ Worker per queue this worker's capabilities allow (general
 * queues with the profile's `concurrency`, video and encode queues with its `videoConcurrency`),
 * the recurring housekeeping job, and a heartbeat of what it can do (jobs/workers.ts).
 *
 * Each job's data is checked against the catalog again before its handler runs: one that does
 * not fit fails at once, without retries (it would never fit). Stopping (SIGTERM) takes no new
 * jobs and lets the running ones finish for up to SHUTDOWN_GRACE_MS; those still running then are
 * cancelled and handed back to their queue (not counted as an attempt), for another worker. A
 * worker killed outright (SIGKILL) stops renewing its jobs' locks: BullMQ's stalled-job check
 * gives them to another worker within LOCK_MS + STALLED_CHECK_MS.
 */
import {hostname} from 'node:os'

import {Queue, UnrecoverableError, WaitingError, Worker, type Job} from 'bullmq'
import type {Redis} from 'ioredis'
import {Counter} from 'prom-client'

import {WORKER_SHUTDOWN_GRACE_S} from '../contract/jobs.js'
import {gpuCapabilities, jobCatalog, jobTypeOfQueue, jobTypes, queuesOf, routeOf, type Capability, type JobType} from '../jobs/catalog.js'
import {QUEUE_PREFIX, type JobHandlers, type JobRun} from '../jobs/types.js'
import {forgetWorker, heartbeatWorker, WORKER_HEARTBEAT_MS, type WorkerRecord} from '../jobs/workers.js'
import type {HealthCheck, Metrics} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {bullConnection, type RedisEndpoint} from '../platform/redis.js'

/** How often the worker schedules housekeeping (one scheduler entry shared by all worker replicas). */
export const HOUSEKEEPING_EVERY_MS = 60_000
/** The scheduler's id: its jobs' ids are `repeat:<id>:<time>` (housekeeping tells its own runs from those asked for). */
export const HOUSEKEEPING_SCHEDULER_ID = 'housekeeping-every-minute'
/** How long a stopping worker lets its running jobs finish before handing them back. */
export const SHUTDOWN_GRACE_MS = WORKER_SHUTDOWN_GRACE_S * 1000
/** A job's lock: renewed every half of it while the job runs; a dead worker's jobs are free after it. */
export const LOCK_MS = 15_000
export const STALLED_CHECK_MS = 10_000

const SHUTDOWN_REASON = 'the worker is stopping'

export interface JobRunnerOptions<Context> {
  handlers: JobHandlers<Context>
  context: Context
  /** The general client: the heartbeat, and close() checks whether Redis is there to wait on. */
  redis: Redis
  redisEndpoint: RedisEndpoint
  capabilities: readonly Capability[]
  concurrency: {general: number; video: number}
  /** This worker's name in the heartbeat (the swarm task's name; else host and pid). */
  id?: string
  /** How long close() lets running jobs finish before handing them back (default SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number
  metrics: Metrics
  log: Logger
}

export interface JobRunner {
  /** Healthy while every queue it serves is being consumed. */
  readonly check: HealthCheck
  /** The queues this worker consumes. */
  readonly queues: readonly string[]
  close(): Promise<void>
}

/** Whether a worker with these capabilities takes jobs from this queue. */
export function servesQueue(queue: string, caps: readonly Capability[]): boolean {
  const type = jobTypeOfQueue(queue)
  if (type === undefined) return false
  const route = routeOf(type)
  if (route === 'general') return caps.includes('general')
  if (route === 'video' || queue.endsWith('@cpu')) return caps.includes('video-cpu')
  return caps.some((c) => (gpuCapabilities as readonly string[]).includes(c))
}

export async function startJobRunner<Context>(options: JobRunnerOptions<Context>): Promise<JobRunner> {
  const {handlers, context, concurrency, metrics, log, redis, capabilities} = options
  const connection = bullConnection(options.redisEndpoint)
  const jobsTotal = new Counter({
    name: 'shing_worker_jobs_total',
    help: 'Jobs this worker finished, by type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [metrics.registry],
  })
  let active = 0
  let stopping = false

  const startWorker = (queue: string, type: JobType): Worker => {
    const handler = handlers[type] as (data: unknown, context: Context, run: JobRun) => Promise<unknown>
    const schema = jobCatalog[type].data
    const video = routeOf(type) !== 'general'
    const bull = new Worker(
      queue,
      async (job: Job, token?: string, signal?: AbortSignal) => {
        const parsed = schema.safeParse(job.data)
        if (!parsed.success) throw new UnrecoverableError(`the job's data does not fit ${type}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
        active += 1
        try {
          return await handler(parsed.data, context, {
            id: job.id ?? '',
            attempt: job.attemptsMade + 1,
            signal: signal ?? new AbortController().signal,
            progress: (value) => job.updateProgress(value),
            resumeFrom: typeof job.progress === 'object' && job.progress !== null ? (job.progress as Record<string, unknown>) : undefined,
            checkpoint: (value) => job.updateProgress(value),
          })
        } catch (error) {
          if (stopping && signal?.aborted === true) {
            // Cancelled by close(): back to its queue as it was, for another worker.
            await job.moveToWait(token)
            throw new WaitingError()
          }
          throw error
        } finally {
          active -= 1
        }
      },
      {connection, prefix: QUEUE_PREFIX, concurrency: video ? concurrency.video : concurrency.general, lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS},
    )
    bull.on('completed', (job) => {
      jobsTotal.inc({type, outcome: 'completed'})
      log.debug({queue, jobId: job.id}, 'job done')
    })
    bull.on('failed', (job, error) => {
      if (error instanceof WaitingError || error.name === 'WaitingError') return
      jobsTotal.inc({type, outcome: 'failed'})
      log.warn({queue, jobId: job?.id, attempt: job?.attemptsMade, err: error.message}, 'job failed')
    })
    bull.on('stalled', (jobId) => log.warn({queue, jobId}, 'a job whose worker died is given to another'))
    // Connection trouble shows in the redis check; log it once here rather than per retry.
    bull.on('error', (error) => log.debug({queue, err: error.message}, 'bullmq worker error'))
    return bull
  }
  const served = jobTypes.flatMap((type) => queuesOf(type).map((queue) => ({queue, type}))).filter(({queue}) => servesQueue(queue, capabilities))
  const workers = served.map(({queue, type}) => startWorker(queue, type))
  await Promise.all(workers.map((w) => w.waitUntilReady()))

  // Housekeeping runs by itself: upsert is idempotent, so every replica may declare it.
  const housekeepingQueue = new Queue('housekeeping', {connection, prefix: QUEUE_PREFIX})
  housekeepingQueue.on('error', (error) => log.debug({err: error.message}, 'bullmq queue error'))
  await housekeepingQueue.upsertJobScheduler(HOUSEKEEPING_SCHEDULER_ID, {every: HOUSEKEEPING_EVERY_MS}, {
    name: 'housekeeping',
    data: {},
    opts: {removeOnComplete: 100, removeOnFail: 100},
  })

  const id = options.id ?? `${hostname()}-${process.pid}`
  const startedAt = new Date().toISOString()
  const record = (): WorkerRecord => ({id, capabilities: [...capabilities], concurrency, active, startedAt, heartbeatAt: new Date().toISOString()})
  const beat = () => heartbeatWorker(redis, record()).catch((error: Error) => log.debug({err: error.message}, 'worker heartbeat failed'))
  await beat()
  const heartbeat = setInterval(() => void beat(), WORKER_HEARTBEAT_MS)
  heartbeat.unref()

  log.info({id, capabilities, queues: served.map((s) => s.queue), concurrency}, 'job workers running')
  metrics.gauge('shing_worker_jobs_active', 'Jobs running in this worker now', () => active)
  metrics.gauge('shing_worker_concurrency', 'General jobs per type this worker runs at once (profile worker.concurrency)', () => concurrency.general)

  return {
    queues: served.map((s) => s.queue),
    check: {
      name: 'queues',
      kind: 'self',
      run: async () => {
        const idle = served.filter((_, i) => !workers[i]?.isRunning()).map((s) => s.queue)
        if (idle.length > 0) throw new Error(`not consuming: ${idle.join(', ')}`)
      },
    },
    close: async () => {
      stopping = true
      clearInterval(heartbeat)
      await forgetWorker(redis, id).catch(() => undefined)
      // Without Redis the jobs could not be marked done anyway, and the wait would never end:
      // then BullMQ's stalled check gives them to another worker later.
      if (redis.status !== 'ready') {
        log.warn('redis is unavailable: closing job workers without waiting for active jobs')
        await Promise.all([...workers.map((w) => w.close(true)), housekeepingQueue.close()])
        return
      }
      const closing = Promise.all(workers.map((w) => w.close()))
      const grace = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS
      const graceOver = await Promise.race([closing.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), grace).unref())])
      if (graceOver) {
        log.warn({active}, `jobs still running after ${grace / 1000} s: handing them back to their queues`)
        for (const w of workers) w.cancelAllJobs(SHUTDOWN_REASON)
        await closing
      }
      await housekeepingQueue.close()
    },
  }
}

