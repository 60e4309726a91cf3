/**
 * Enqueueing jobs: the one way a component hands work to the workers. The data is checked against
 * the catalog's schema here (a bad job is our bug, refused before it reaches a queue), the job gets
 * its type's retry policy and id, and an `encode` job goes to the GPU queue while a GPU worker is
 * up, else to the CPU queue at low priority (or waits for a GPU, when asked to).
 */
import {Queue, type JobsOptions} from 'bullmq'
import type {Redis} from 'ioredis'

import type {Logger} from '../platform/logger.js'
import {bullConnection, type RedisEndpoint} from '../platform/redis.js'
import {jobCatalog, jobTypes, QUEUE_PREFIX, routeOf, type JobData, type JobType} from './catalog.js'
import type {JobResult} from './types.js'
import {hasGpu, liveWorkers} from './workers.js'

/** BullMQ priority of an encode that fell back to CPU: after everything else (1 is the highest). */
export const CPU_FALLBACK_PRIORITY = 100
/** The end of the job name of an encode that waits for a GPU worker (`gpu: 'require'`). */
const GPU_REQUIRED = ' (GPU required)'

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
    // An encode that must have a GPU says so in its job's name: rerouteStrandedEncodes leaves it waiting.
    let jobName: string = type
    if (routeOf(type) === 'encode') {
      const gpuUp = (await liveWorkers(this.redis)).some(hasGpu)
      if (options.gpu === 'require') jobName = `${type}${GPU_REQUIRED}`
      if (gpuUp || options.gpu === 'require') {
        name = `${type}@gpu`
      } else {
        name = `${type}@cpu`
        opts.priority = CPU_FALLBACK_PRIORITY
      }
    }
    const job = await this.queue(name).add(jobName, parsed.data, opts)
    return {queue: name, jobId: job.id ?? ''}
  }

  /**
   * Encode jobs queued for a GPU worker (`prefer`) while one was up, which no GPU worker is left
   * to run: moved to the CPU queue at low priority, as if enqueued now. Those that require a GPU
   * stay. Answers the jobs moved (`<queue> <id>`); housekeeping calls it every minute.
   */
  async rerouteStrandedEncodes(dryRun = false): Promise<string[]> {
    if ((await liveWorkers(this.redis)).some(hasGpu)) return []
    const moved: string[] = []
    for (const type of jobTypes.filter((t) => routeOf(t) === 'encode')) {
      const gpu = this.queue(`${type}@gpu`)
      for (const job of await gpu.getJobs(['waiting', 'prioritized', 'delayed'])) {
        if (job.name.endsWith(GPU_REQUIRED)) continue
        if (!dryRun) {
          try {
            await job.remove()
          } catch {
            continue // taken meanwhile (a GPU worker came back): it runs there
          }
          const delay = job.delay > 0 ? Math.max(0, job.timestamp + job.delay - Date.now()) : 0
          await this.queue(`${type}@cpu`).add(job.name, job.data, {...job.opts, priority: CPU_FALLBACK_PRIORITY, ...(delay > 0 ? {delay} : {delay: 0})})
        }
        moved.push(`${type}@gpu ${job.id ?? ''}`)
      }
    }
    return moved
  }

  /**
   * Enqueues and waits for the result (for an admin's command that shows what the job did). It
   * asks the job's state rather than listening to the queue's events: a QueueEvents reader starts
   * at the stream's end only once it first reads, and a job that finished before that is missed.
   */
  async run<T extends JobType>(type: T, data: JobData[T], timeoutMs: number, options: EnqueueOptions = {}): Promise<JobResult[T]> {
    const {queue, jobId} = await this.enqueue(type, data, options)
    const deadline = Date.now() + timeoutMs
    for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
      // The state first, then the job: a job read before it completed carries no return value yet.
      const state = await this.queue(queue).getJobState(jobId)
      if (state === 'unknown') throw new Error(`job ${jobId} left ${queue} before it could be followed`)
      if (state === 'completed' || state === 'failed') {
        const job = await this.queue(queue).getJob(jobId)
        if (job === undefined) throw new Error(`job ${jobId} left ${queue} before it could be followed`)
        if (state === 'completed') return job.returnvalue as JobResult[T]
        throw new Error(job.failedReason || `job ${jobId} failed`)
      }
      if (Date.now() + wait > deadline) throw new Error(`job ${jobId} in ${queue} is still ${state} after ${Math.round(timeoutMs / 1000)} s`)
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()))
  }
}
