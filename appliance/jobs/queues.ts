/**
 * Enqueueing jobs: the one way a component hands work to the workers. The data is checked against
 * the catalog's schema here (a bad job is our bug, refused before it reaches a queue), the job gets
 * its type's retry policy and id, and an `encode` job goes to the GPU queue while a GPU worker is
 * up, else to the CPU queue at low priority (or waits for a GPU, when asked to).
 */
import {Queue, QueueEvents, type JobsOptions} from 'bullmq'
import type {Redis} from 'ioredis'

import type {Logger} from '../platform/logger.js'
import {bullConnection, type RedisEndpoint} from '../platform/redis.js'
import {jobCatalog, QUEUE_PREFIX, routeOf, type JobData, type JobType} from './catalog.js'
import type {JobResult} from './types.js'
import {hasGpu, liveWorkers} from './workers.js'

/** BullMQ priority of an encode that fell back to CPU: after everything else (1 is the highest). */
export const CPU_FALLBACK_PRIORITY = 100

export interface EnqueueOptions {
  /** Run no sooner than this many ms from now. */
  delayMs?: number
  /** A job id other than the type's own (the same id twice is one job). */
  jobId?: string
  /** encode jobs only: `prefer` (default) a GPU worker when one is up, else CPU; `require` a GPU worker, waiting for one. */
  gpu?: 'prefer' | 'require'
}

export interface Enqueued {
  queue: string
  jobId: string
}

export class JobDataError extends Error {}

export class JobQueues {
  private readonly queues = new Map<string, Queue>()
  private readonly connection

  constructor(
    redisEndpoint: RedisEndpoint,
    /** The general client: it reads which workers are up. */
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    this.connection = bullConnection(redisEndpoint)
  }

  /** The queue of that name (created once, kept open). */
  queue(name: string): Queue {
    let queue = this.queues.get(name)
    if (queue === undefined) {
      queue = new Queue(name, {connection: this.connection, prefix: QUEUE_PREFIX})
      queue.on('error', (error) => this.log.debug({queue: name, err: error.message}, 'bullmq queue error'))
      this.queues.set(name, queue)
    }
    return queue
  }

  async enqueue<T extends JobType>(type: T, data: JobData[T], options: EnqueueOptions = {}): Promise<Enqueued> {
    const entry = jobCatalog[type]
    const parsed = entry.data.safeParse(data)
    if (!parsed.success) throw new JobDataError(`job ${type}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ')}`)
    const opts: JobsOptions = {...entry.options}
    const ownId = options.jobId ?? (entry.jobId as ((d: JobData[T]) => string) | undefined)?.(parsed.data as JobData[T])
    if (ownId !== undefined) opts.jobId = ownId
    if (options.delayMs !== undefined) opts.delay = options.delayMs
    let name: string = type
    if (routeOf(type) === 'encode') {
      const gpuUp = (await liveWorkers(this.redis)).some(hasGpu)
      if (gpuUp || options.gpu === 'require') {
        name = `${type}@gpu`
      } else {
        name = `${type}@cpu`
        opts.priority = CPU_FALLBACK_PRIORITY
      }
    }
    const job = await this.queue(name).add(type, parsed.data, opts)
    return {queue: name, jobId: job.id ?? ''}
  }

  /** Enqueues and waits for the result (for an admin's command that shows what the job did). */
  async run<T extends JobType>(type: T, data: JobData[T], timeoutMs: number, options: EnqueueOptions = {}): Promise<JobResult[T]> {
    const {queue, jobId} = await this.enqueue(type, data, options)
    const events = new QueueEvents(queue, {connection: this.connection, prefix: QUEUE_PREFIX})
    try {
      await events.waitUntilReady()
      const job = await this.queue(queue).getJob(jobId)
      if (job === undefined) throw new Error(`job ${jobId} left ${queue} before it could be followed`)
      return (await job.waitUntilFinished(events, timeoutMs)) as JobResult[T]
    } finally {
      await events.close()
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()))
  }
}
