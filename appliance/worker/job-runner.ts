import type {Redis} from 'ioredis'
import {Queue, Worker, type Job} from 'bullmq'
import type {Db} from 'mongodb'
import {Counter} from 'prom-client'

import type {ComponentDef} from '../platform/component.js'
import {registeredRoles, registryRecordSchema} from '../contract/index.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import {createHttpServer, listen, type HealthCheck} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {bullConnection} from '../platform/redis.js'
import {isLive, registryKeys, safeJson} from '../registry/registry.js'
import type {Storage} from '../platform/storage.js'
import {dvrPrefix} from '../vods/dvr-archive.js'
import {STREAMS_COLLECTION} from '../channels/stream-state.js'
import {
  QUEUE_PREFIX,
  jobTypes,
  type DvrFinalizeResult,
  type HousekeepingResult,
  type JobData,
  type JobHandlers,
  type JobResult,
  type JobType,
} from '../jobs/types.js'
import {VODS_COLLECTION, listObjectNames, readObjectText, type VodDoc} from '../vods/vods.js'

interface JobContext {
  redis: Redis
  log: Logger
  db: Db
  storage: Storage
}

/** Media playlist → its segment URIs and their total duration. */
function readMediaPlaylist(text: string): {segments: string[]; durationSeconds: number; closed: boolean} {
  const lines = text.split('\n').map((l) => l.trim())
  let durationSeconds = 0
  for (const line of lines) if (line.startsWith('#EXTINF:')) durationSeconds += Number.parseFloat(line.slice('#EXTINF:'.length)) || 0
  return {segments: lines.filter((l) => l !== '' && !l.startsWith('#')), durationSeconds, closed: lines.includes('#EXT-X-ENDLIST')}
}

/**
 * dvr.finalize: the ingest closed a broadcast's archive. Check it in S3 (the master playlist, and
 * for each rendition a closed playlist whose init and segments all exist), then record the VOD.
 * A missing piece throws: BullMQ retries, and the job fails visibly when it stays missing.
 */
export async function dvrFinalize({streamId}: JobData['dvr.finalize'], {db, storage, log}: JobContext): Promise<DvrFinalizeResult> {
  const stream = await db.collection<{streamId: string; channel: string}>(STREAMS_COLLECTION).findOne({streamId})
  if (stream === null) throw new Error(`no broadcast ${streamId} in ${STREAMS_COLLECTION}`)
  const {channel} = stream
  const prefix = dvrPrefix(channel, streamId)
  const objects = new Set(await listObjectNames(storage, `${prefix}/`))
  if (!objects.has(`${prefix}/master.m3u8`)) throw new Error(`${prefix}/master.m3u8 is missing: the archive was not closed`)
  const master = await readObjectText(storage, `${prefix}/master.m3u8`)
  const playlists = master.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  if (playlists.length === 0) throw new Error(`${prefix}/master.m3u8 lists no rendition`)
  const renditions: DvrFinalizeResult['renditions'] = []
  for (const playlist of playlists) {
    const folder = playlist.includes('/') ? playlist.slice(0, playlist.lastIndexOf('/') + 1) : ''
    const name = folder.replace(/\/$/, '') || playlist
    const media = readMediaPlaylist(await readObjectText(storage, `${prefix}/${playlist}`))
    if (!media.closed) throw new Error(`${prefix}/${playlist} has no #EXT-X-ENDLIST: not closed`)
    const missing = [`init.mp4`, ...media.segments].filter((s) => !objects.has(`${prefix}/${folder}${s}`))
    if (missing.length > 0) throw new Error(`${prefix}/${playlist}: ${missing.length} object(s) missing, e.g. ${missing.slice(0, 3).join(', ')}`)
    renditions.push({name, segments: media.segments.length, durationSeconds: Math.round(media.durationSeconds * 1000) / 1000})
  }
  const segments = renditions.reduce((sum, r) => sum + r.segments, 0)
  const durationSeconds = Math.max(...renditions.map((r) => r.durationSeconds))
  // One document per broadcast, whatever the retries: upsert on streamId.
  await db.collection<VodDoc>(VODS_COLLECTION).updateOne(
    {streamId},
    {$set: {channel, segments, durationSeconds, renditions}, $setOnInsert: {streamId, createdAt: new Date()}},
    {upsert: true},
  )
  log.info({channel, streamId, segments, durationSeconds}, 'VOD recorded')
  return {status: 'done', streamId, channel, prefix, segments, durationSeconds, renditions}
}

/**
 * Drops registry records that no live process stands behind: a heartbeat older than the TTL
 * (e.g. written without EX by an old version, or a clock jump), or a record that does not parse.
 */
export async function housekeeping(_data: JobData['housekeeping'], {redis, log}: JobContext): Promise<HousekeepingResult> {
  const result: HousekeepingResult = {
    status: 'done',
    registry: {ingest: {live: 0, removed: 0}, relay: {live: 0, removed: 0}, sfu: {live: 0, removed: 0}},
  }
  const now = Date.now()
  for (const role of registeredRoles) {
    for (const key of await registryKeys(redis, role)) {
      const value = await redis.get(key)
      if (value === null) continue // expired meanwhile
      const record = registryRecordSchema.safeParse(safeJson(value))
      if (record.success && record.data.role === role && isLive(record.data, now)) {
        result.registry[role].live += 1
      } else {
        await redis.del(key)
        result.registry[role].removed += 1
        log.info({key, reason: record.success ? 'stale heartbeat' : 'unparseable record'}, 'dropped dead registry record')
      }
    }
  }
  return result
}

const notYet = (type: JobType) => async (): Promise<{status: 'not-implemented'; type: JobType}> => ({status: 'not-implemented', type})

const handlers: JobHandlers<JobContext> = {
  notifications: notYet('notifications'),
  'dvr.finalize': dvrFinalize,
  'dvr.encode': notYet('dvr.encode'),
  'clips.cut': notYet('clips.cut'),
  'timeline.fanout': notYet('timeline.fanout'),
  housekeeping,
}

/** How often the worker schedules housekeeping (one scheduler entry shared by all worker replicas). */
export const HOUSEKEEPING_EVERY_MS = 60_000

/**
 * Worker: one BullMQ Worker per job type, each running up to the profile's worker.concurrency
 * jobs at once. stop() lets active jobs finish (BullMQ close()).
 */
export const worker: ComponentDef<'worker'> = {
  name: 'worker',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    const connection = bullConnection(ctx.redisEndpoint)
    const concurrency = env.profile.worker.concurrency
    const jobContext: JobContext = {redis, log: log.child({module: 'jobs'}), db: mongo.db, storage}
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
            return await handler(job.data, jobContext)
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
    const queuesCheck: HealthCheck = {
      name: 'queues',
      run: async () => {
        const idle = jobTypes.filter((_, i) => !workers[i]?.isRunning())
        if (idle.length > 0) throw new Error(`not consuming: ${idle.join(', ')}`)
      },
    }
    const app = createHttpServer({component: 'worker', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage), queuesCheck], metrics, log})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

    return {
      stop: async () => {
        await app.close()
        // close() waits for the jobs in progress and takes no new ones. Without Redis they could
        // not be marked done anyway, and the wait would never end: then BullMQ retries them later.
        const force = redis.status !== 'ready'
        if (force) log.warn('redis is unavailable: closing job workers without waiting for active jobs')
        await Promise.all([...workers.map((w) => w.close(force)), housekeepingQueue.close()])
      },
    }
  },
}
