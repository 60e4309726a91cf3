/**
 * The job runner against a real Redis: data checked at enqueue and at run (a job that does not fit
 * fails at once, without retries, and shows in `jobs.summary` with its error), a stopping worker
 * hands back the job it cannot finish in its grace (not counted as an attempt) and another worker
 * runs it, encode jobs go to the GPU queue only while a GPU worker heartbeats, and failed jobs are
 * retried and removed as `shing jobs` does.
 */
import {Queue} from 'bullmq'
import {Redis} from 'ioredis'
import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {jobsSummary, removeJob, retryJobs} from '../../../appliance/admin/jobs.js'
import {jobTypes, QUEUE_PREFIX, routeOf, type JobType} from '../../../appliance/jobs/catalog.js'
import {CPU_FALLBACK_PRIORITY, JobDataError, JobQueues} from '../../../appliance/jobs/queues.js'
import type {JobHandlers, JobRun} from '../../../appliance/jobs/types.js'
import {forgetWorker, heartbeatWorker, liveWorkers} from '../../../appliance/jobs/workers.js'
import {createMetrics} from '../../../appliance/platform/http-server.js'
import {startJobRunner, type JobRunner} from '../../../appliance/worker/job-runner.js'
import {waitFor} from '../../harness/process.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'

let server: RedisServer
let redis: Redis
let jobs: JobQueues
const quiet = pino({level: 'silent'})
const runners: JobRunner[] = []

beforeAll(async () => {
  server = await startRedis({password: 'job-runner-test'})
  redis = new Redis({port: server.port, host: '127.0.0.1', password: 'job-runner-test', maxRetriesPerRequest: null})
  jobs = new JobQueues({host: '127.0.0.1', port: server.port, password: 'job-runner-test'}, redis, quiet)
})

afterAll(async () => {
  for (const runner of runners) await runner.close().catch(() => undefined)
  await jobs?.close()
  redis?.disconnect()
  await server?.stop()
})

/** Handlers for every type that answer through `run` (the test decides what a job does). */
function handlersThat(run: (type: JobType, data: unknown, job: JobRun) => Promise<unknown>): JobHandlers<unknown> {
  return Object.fromEntries(jobTypes.map((type) => [type, (data: unknown, _ctx: unknown, job: JobRun) => run(type, data, job)])) as unknown as JobHandlers<unknown>
}

async function startRunner(id: string, run: (type: JobType, data: unknown, job: JobRun) => Promise<unknown>, shutdownGraceMs = 1000): Promise<JobRunner> {
  const runner = await startJobRunner({
    handlers: handlersThat(run),
    context: {},
    redis,
    redisEndpoint: {host: '127.0.0.1', port: server.port, password: 'job-runner-test'},
    capabilities: ['general', 'video-cpu'],
    concurrency: {general: 2, video: 1},
    id,
    shutdownGraceMs,
    metrics: createMetrics('worker'),
    log: quiet,
  })
  runners.push(runner)
  return runner
}

describe('the job runner', () => {
  it('refuses a job whose data does not fit its type, at enqueue', async () => {
    await expect(jobs.enqueue('vod.delete', {channel: 'Not A Channel!', streamId: 'x'})).rejects.toThrow(JobDataError)
    await expect(jobs.enqueue('vod.delete', {channel: 'ok', streamId: 'x'} as never)).resolves.toMatchObject({queue: 'vod.delete', jobId: 'vod.delete-x'})
    await jobs.queue('vod.delete').obliterate({force: true})
  })

  it('fails at once, without retries, a job that reached a queue with data that does not fit, and shows it with its error', async () => {
    const ran: string[] = []
    const runner = await startRunner('runner-fit', async (type) => {
      if (type === 'vod.delete') ran.push(type)
      return {status: 'done'}
    })
    // Straight onto the queue, as an old version or a hand-made job might put it: the worker checks again.
    const queue = new Queue('vod.delete', {connection: {host: '127.0.0.1', port: server.port, password: 'job-runner-test'}, prefix: QUEUE_PREFIX})
    const job = await queue.add('vod.delete', {channel: 42}, {attempts: 5, backoff: {type: 'fixed', delay: 100}, jobId: 'misfit'})
    await waitFor('the misfit to fail', async () => (await job.getState()) === 'failed', {timeoutMs: 10_000, intervalMs: 100})
    const failed = await queue.getJob('misfit')
    expect(failed?.attemptsMade).toBe(1)
    expect(failed?.failedReason).toMatch(/does not fit vod\.delete: channel/)
    expect(ran).toEqual([])

    const summary = await jobsSummary(jobs, redis, 10)
    expect(summary.queues.find((q) => q.queue === 'vod.delete')?.counts.failed).toBe(1)
    expect(summary.failed).toEqual([expect.objectContaining({queue: 'vod.delete', id: 'misfit', attemptsMade: 1, about: '{"channel":42}'})])
    expect(summary.workers.map((w) => w.id)).toContain('runner-fit')

    // Retried, it fails again (the data still does not fit); then the admin removes it.
    const firstFailure = failed?.finishedOn ?? 0
    expect(await retryJobs(jobs, {queue: 'vod.delete', jobId: 'misfit'})).toEqual({retried: [{queue: 'vod.delete', id: 'misfit'}]})
    await waitFor('the retried misfit to fail again', async () => {
      const again = await queue.getJob('misfit')
      return (await again?.getState()) === 'failed' && (again?.finishedOn ?? 0) > firstFailure
    }, {timeoutMs: 10_000, intervalMs: 100})
    expect(await removeJob(jobs, 'vod.delete', 'misfit')).toEqual({queue: 'vod.delete', id: 'misfit', state: 'failed'})
    expect(await queue.getJob('misfit')).toBeUndefined()
    await expect(removeJob(jobs, 'no.such.queue', 'x')).rejects.toThrow(/there is no queue "no.such.queue"; the queues are: .*vod\.delete/)
    await queue.close()
    await runner.close()
  })

  it('a stopping worker hands back the job it cannot finish in its grace, without using an attempt; another worker runs it once', async () => {
    const started: string[] = []
    const first = await startRunner('runner-slow', async (type, _data, job) => {
      if (type !== 'vod.delete') return {status: 'done'}
      started.push('first')
      // A remux that outlasts the grace: it ends only when cancelled.
      await new Promise((_resolve, reject) => job.signal.addEventListener('abort', () => reject(new Error('cancelled')), {once: true}))
    })
    const {jobId} = await jobs.enqueue('vod.delete', {channel: 'slow', streamId: 'long-one'})
    await waitFor('the job to run on the first worker', async () => started.length === 1, {timeoutMs: 10_000, intervalMs: 50}).catch(async (error: Error) => {
      const job = await jobs.queue('vod.delete').getJob(jobId)
      throw new Error(`${error.message}; the job is ${await job?.getState()}: ${job?.failedReason ?? ''}`)
    })
    const t0 = Date.now()
    await first.close()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    const handedBack = await jobs.queue('vod.delete').getJob(jobId)
    expect(await handedBack?.getState()).toBe('waiting')
    expect(handedBack?.attemptsMade).toBe(0)
    expect((await liveWorkers(redis)).map((w) => w.id)).not.toContain('runner-slow')

    let second = 0
    const other = await startRunner('runner-quick', async () => {
      second += 1
      return {status: 'done', prefix: 'dvr/slow/long-one', objectsRemoved: 0}
    })
    await waitFor('the other worker to finish it', async () => (await (await jobs.queue('vod.delete').getJob(jobId))?.getState()) === 'completed', {timeoutMs: 10_000, intervalMs: 100})
    expect(second).toBe(1)
    await other.close()
  })

  it('an encode job goes to the GPU queue while a GPU worker heartbeats, else to the CPU queue at low priority; `require` waits for a GPU', async () => {
    const encode = jobTypes.find((t) => routeOf(t) === 'encode')
    if (encode === undefined) throw new Error('the catalog has no encode job type to route')
    const data = await sampleData(encode)
    const cpu = await jobs.enqueue(encode, data as never, {jobId: 'route-cpu'})
    expect(cpu.queue).toBe(`${encode}@cpu`)
    expect((await jobs.queue(cpu.queue).getJob('route-cpu'))?.opts.priority).toBe(CPU_FALLBACK_PRIORITY)
    expect((await jobs.enqueue(encode, data as never, {jobId: 'route-require', gpu: 'require'})).queue).toBe(`${encode}@gpu`)
    const now = new Date().toISOString()
    await heartbeatWorker(redis, {id: 'gpu-box', capabilities: ['general', 'video-cpu', 'video-gpu-nvenc'], concurrency: {general: 4, video: 2}, active: 0, startedAt: now, heartbeatAt: now})
    expect((await jobs.enqueue(encode, data as never, {jobId: 'route-gpu'})).queue).toBe(`${encode}@gpu`)

    // The GPU worker goes away: what preferred a GPU moves to the CPU queue; what requires one waits on.
    expect(await jobs.rerouteStrandedEncodes()).toEqual([])
    await forgetWorker(redis, 'gpu-box')
    expect(await jobs.rerouteStrandedEncodes(true)).toEqual([`${encode}@gpu route-gpu`])
    expect(await jobs.queue(`${encode}@gpu`).getJob('route-gpu')).toBeDefined()
    expect(await jobs.rerouteStrandedEncodes()).toEqual([`${encode}@gpu route-gpu`])
    expect(await jobs.queue(`${encode}@gpu`).getJob('route-gpu')).toBeUndefined()
    const moved = await jobs.queue(`${encode}@cpu`).getJob('route-gpu')
    expect(moved?.opts.priority).toBe(CPU_FALLBACK_PRIORITY)
    expect(moved?.data).toEqual(data)
    expect(await jobs.queue(`${encode}@gpu`).getJob('route-require')).toBeDefined()
  })
})

/** Data that fits an encode job type (whichever the catalog has): its schema's own example, or a stream's ids. */
async function sampleData(type: JobType): Promise<unknown> {
  const ids = {channel: 'routing', streamId: '20261206T101500Z-9f3a1c2b'}
  const candidates = [ids, {...ids, height: 480, videoKbps: 1000, codec: 'h264'}, {streamId: ids.streamId}]
  const {jobCatalog} = await import('../../../appliance/jobs/catalog.js')
  const fit = candidates.find((c) => jobCatalog[type].data.safeParse(c).success)
  if (fit === undefined) throw new Error(`no sample data fits ${type}: add one here`)
  return fit
}
