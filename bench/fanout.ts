/**
 * bench:fanout — how long one post takes to reach every follower's home timeline, for a channel
 * with 10,000 and with 100,000 followers, and what those timelines take in Redis; beside it, the
 * same number of ZADDs pipelined from one client straight into Redis, in the same run.
 *
 *   npm run bench:fanout [-- --followers 10000,100000]   (it builds the appliance first)
 *
 * Shing: real Redis and FerretDB (MongoDB wire) from the test harness and one worker process
 * (`node appliance/dist/main.js worker`) with the fan-out threshold above the largest count, so
 * that every size is fanned out on write. Per size: the follows are seeded into MongoDB directly
 * and every follower's timeline is made to exist in Redis as a first read of /home leaves it (a
 * marker only; the fan-out writes only into timelines that exist) (neither timed), a post is
 * inserted and its `channel.event` queued as the posts' route does; timed
 * from the enqueue until the worker's post.fanout job has finished (the channel.event job, its
 * listener, then post.fanout paging the followers out of MongoDB and writing each page into
 * Redis). Then every follower's timeline is checked to hold the post (not timed). Redis memory is
 * INFO memory's used_memory before the timelines are made to exist and after the fan-out: one
 * timeline per follower (a sorted set of the post and the marker). CPU per process (worker,
 * FerretDB, Redis) over the fan-out, from /proc.
 * - redis-pipeline (the baseline of the last line): one ioredis client ZADDs the same post into
 *   as many fresh keys, pipelined 1,000 commands per round trip (Shing's page size) — what
 *   writing the timelines costs with nothing else around it. Its keys are removed after.
 * Memory: used_memory's growth over each side's writes (it moves with everything else Redis holds:
 * queues, lazily freed keys), and MEMORY USAGE of 200 of the new timelines, averaged (bytes/timeline).
 * Progress on stderr, results on stdout; the last line:
 *   fanout: 100k followers in <s>s, shing/redis-pipeline ratio=<x>
 */
import {parseArgs} from 'node:util'

import {Queue} from 'bullmq'
import {ObjectId, type Db} from 'mongodb'
import type {Redis} from 'ioredis'
import pino from 'pino'

import {MONGO_DATABASE} from '../appliance/contract/index.js'
import {Follows} from '../appliance/community/follows.js'
import {Posts} from '../appliance/community/posts.js'
import {ensureTimelineIndexes, FANOUT_PAGE, TIMELINE_TTL_MS, timelineKey} from '../appliance/community/timelines.js'
import {QUEUE_PREFIX} from '../appliance/jobs/catalog.js'
import {JobQueues} from '../appliance/jobs/queues.js'
import type {PostFanoutResult} from '../appliance/jobs/types.js'
import {startLiveSite, type LiveSite} from '../test/harness/live-site.js'
import {childPidByCommand, coresBetween, sampleProcess, type ProcessSample} from './lib/proc-stats.js'

const {values: args} = parseArgs({
  options: {followers: {type: 'string', default: '10000,100000'}},
  strict: true,
})
const sizes = args.followers.split(',').map(Number)
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--followers must be whole numbers ≥ 1, got ${args.followers}`)
const largest = Math.max(...sizes)

const progress = (line: string): void => void process.stderr.write(`${line}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const seconds = (ms: number): string => (ms / 1000).toFixed(2)
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN)
}

/** Follows of `count` accounts (bench-<channel>-<i>), inserted straight into MongoDB. */
async function seedFollows(db: Db, channel: string, count: number): Promise<void> {
  const follows = new Follows(db).collection
  const since = performance.now()
  for (let i = 0; i < count; i += 5000) {
    const batch = Array.from({length: Math.min(5000, count - i)}, (_, j) => ({userId: `${channel}-${i + j}`, channel, notify: false, at: new Date(0)}))
    await follows.insertMany(batch, {ordered: false})
  }
  progress(`  ${count} follows of ${channel} seeded in ${seconds(performance.now() - since)} s`)
}

/** Each follower's timeline made to exist, as an account's first read of /home leaves it: its marker only. */
async function seedTimelines(redis: Redis, channel: string, count: number): Promise<void> {
  const since = performance.now()
  for (let i = 0; i < count; i += 10_000) {
    const pipeline = redis.pipeline()
    for (let j = i; j < Math.min(count, i + 10_000); j++) pipeline.zadd(timelineKey(`${channel}-${j}`), '+inf', 'synced:0').pexpire(timelineKey(`${channel}-${j}`), TIMELINE_TTL_MS)
    await pipeline.exec()
  }
  progress(`  ${count} timelines of ${channel}'s followers made to exist in ${seconds(performance.now() - since)} s`)
}

/** MEMORY USAGE of 200 of these keys, evenly spread, averaged: what one key takes (INFO's total moves with everything else). */
async function bytesPerKey(redis: Redis, keys: readonly string[]): Promise<number> {
  const step = Math.max(1, Math.floor(keys.length / 200))
  const pipeline = redis.pipeline()
  for (let i = 0; i < keys.length; i += step) pipeline.call('MEMORY', 'USAGE', keys[i]!, 'SAMPLES', '0')
  const sizes = ((await pipeline.exec()) ?? []).map(([, bytes]) => Number(bytes))
  return sizes.reduce((a, b) => a + b, 0) / sizes.length
}

/** How many of these timelines hold the post (pipelined ZSCOREs). */
async function holding(redis: Redis, keys: readonly string[], postId: string): Promise<number> {
  let found = 0
  for (let i = 0; i < keys.length; i += 10_000) {
    const pipeline = redis.pipeline()
    for (const key of keys.slice(i, i + 10_000)) pipeline.zscore(key, postId)
    for (const [error, score] of (await pipeline.exec()) ?? []) if (error === null && score !== null) found++
  }
  return found
}

interface Row {
  followers: number
  /** Timelines the fan-out wrote into (those that existed). */
  written: number
  shingMs: number
  pipelineMs: number
  shingBytes: number
  pipelineBytes: number
  /** MEMORY USAGE of one follower's timeline (a sorted set holding the one post). */
  timelineBytes: number
  cores: {worker: number; ferretdb: number; redis: number}
}

async function shingFanout(site: LiveSite, db: Db, jobs: JobQueues, queue: Queue, pids: {worker: number; ferretdb: number; redis: number}, count: number): Promise<Omit<Row, 'pipelineMs' | 'pipelineBytes'>> {
  const channel = `bench-${count}`
  await seedFollows(db, channel, count)
  const _id = new ObjectId()
  const createdAt = new Date()
  await new Posts(db).insert({_id, channel, authorId: 'bench', markdown: 'fan me out', html: '<p>fan me out</p>', images: [], createdAt, likes: 0, comments: 0})
  const postId = _id.toHexString()
  const memoryBefore = await usedMemory(site.client)
  await seedTimelines(site.client, channel, count)
  const cpuBefore = {worker: sampleProcess(pids.worker), ferretdb: sampleProcess(pids.ferretdb), redis: sampleProcess(pids.redis)}
  const since = performance.now()
  await jobs.enqueue('channel.event', {channel, event: 'post', postId, at: createdAt.toISOString()})
  let result: PostFanoutResult | undefined
  for (;;) {
    const job = await queue.getJob(`post.fanout-${postId}`)
    if (job?.returnvalue !== undefined && job.returnvalue !== null) {
      result = job.returnvalue as PostFanoutResult
      break
    }
    if (job?.failedReason !== undefined && job.attemptsMade >= 8) throw new Error(`post.fanout failed: ${job.failedReason}`)
    if (performance.now() - since > 600_000) throw new Error('post.fanout not done within 10 minutes')
    await sleep(10)
  }
  const shingMs = performance.now() - since
  const cpuAfter = {worker: sampleProcess(pids.worker), ferretdb: sampleProcess(pids.ferretdb), redis: sampleProcess(pids.redis)}
  const cores = (k: keyof typeof cpuBefore): number => coresBetween(cpuBefore[k] as ProcessSample, cpuAfter[k] as ProcessSample)
  if (result.status !== 'done' || result.followers !== count || result.timelines !== count) throw new Error(`post.fanout answered ${JSON.stringify(result)}, not ${count} followers and timelines done`)
  const shingBytes = (await usedMemory(site.client)) - memoryBefore
  const keys = Array.from({length: count}, (_, i) => timelineKey(`${channel}-${i}`))
  const found = await holding(site.client, keys, postId)
  const timelineBytes = await bytesPerKey(site.client, keys)
  if (found !== count) throw new Error(`${found} of ${count} timelines hold the post`)
  const fanout = await queue.getJob(`post.fanout-${postId}`)
  const ran = (fanout?.finishedOn ?? 0) - (fanout?.processedOn ?? 0)
  progress(`  shing: ${count} timelines hold the post after ${seconds(shingMs)} s (checked every one); post.fanout ran ${seconds(ran)} s of it, queued at +${seconds((fanout?.timestamp ?? 0) - (Date.now() - (performance.now() - since)))} s`)
  return {followers: count, written: result.timelines, shingMs, shingBytes, timelineBytes, cores: {worker: cores('worker'), ferretdb: cores('ferretdb'), redis: cores('redis')}}
}

/** The baseline: the same ZADDs from one client, FANOUT_PAGE per round trip, into fresh keys. */
async function redisPipeline(redis: Redis, count: number): Promise<{pipelineMs: number; pipelineBytes: number}> {
  const postId = new ObjectId().toHexString()
  const score = Date.now()
  const keys = Array.from({length: count}, (_, i) => `bench:plain:${count}:${i}`)
  const memoryBefore = await usedMemory(redis)
  const since = performance.now()
  for (let i = 0; i < count; i += FANOUT_PAGE) {
    const pipeline = redis.pipeline()
    for (const key of keys.slice(i, i + FANOUT_PAGE)) pipeline.zadd(key, score, postId)
    await pipeline.exec()
  }
  const pipelineMs = performance.now() - since
  const pipelineBytes = (await usedMemory(redis)) - memoryBefore
  if ((await holding(redis, keys, postId)) !== count) throw new Error('the baseline missed keys')
  for (let i = 0; i < count; i += 10_000) await redis.unlink(...keys.slice(i, i + 10_000))
  progress(`  redis-pipeline: ${count} ZADDs in ${seconds(pipelineMs)} s`)
  return {pipelineMs, pipelineBytes}
}

async function main(): Promise<void> {
  progress(`bench:fanout: ${sizes.join(', ')} followers; Redis, FerretDB and a worker…`)
  const site = await startLiveSite()
  const rows: Row[] = []
  let jobs: JobQueues | undefined
  let queue: Queue | undefined
  try {
    const worker = await site.start('worker', {SHING_COMMUNITY: JSON.stringify({timelines: {fanoutMaxFollowers: largest, length: 800}})})
    const db = site.mongoClient.db(MONGO_DATABASE)
    // As the web makes them at start (no web runs here).
    await new Follows(db).ensureIndexes()
    await new Posts(db).ensureIndexes()
    await ensureTimelineIndexes(db)
    jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
    queue = new Queue('post.fanout', {connection: {...site.redisEndpoint, maxRetriesPerRequest: null}, prefix: QUEUE_PREFIX})
    const pids = {worker: worker.process.pid, ferretdb: childPidByCommand('ferretdb'), redis: childPidByCommand('redis-server')}
    for (const count of sizes) {
      progress(`== ${count} followers`)
      const shing = await shingFanout(site, db, jobs, queue, pids, count)
      const baseline = await redisPipeline(site.client, count)
      rows.push({...shing, ...baseline})
    }
  } finally {
    await queue?.close()
    await jobs?.close()
    await site.stop()
  }

  console.log('followers  written  shing-s  timelines/s  redis-pipeline-s  ratio  redis-MiB shing>pipeline  bytes/timeline  cores worker/ferretdb/redis')
  for (const r of rows) {
    console.log(
      `${String(r.followers).padStart(9)}  ${String(r.written).padStart(7)}  ${seconds(r.shingMs).padStart(7)}  ${String(Math.round(r.followers / (r.shingMs / 1000))).padStart(11)}  ${seconds(r.pipelineMs).padStart(16)}  ${(r.shingMs / r.pipelineMs).toFixed(1).padStart(5)}  ${`${mib(r.shingBytes)}>${mib(r.pipelineBytes)}`.padStart(23)}  ${String(Math.round(r.timelineBytes)).padStart(14)}  ${r.cores.worker.toFixed(2)}/${r.cores.ferretdb.toFixed(2)}/${r.cores.redis.toFixed(2)}`,
    )
  }
  const last = rows.find((r) => r.followers === 100_000) ?? rows.at(-1)!
  const label = last.followers % 1000 === 0 ? `${last.followers / 1000}k` : String(last.followers)
  console.log(`fanout: ${label} followers in ${seconds(last.shingMs)}s, shing/redis-pipeline ratio=${(last.shingMs / last.pipelineMs).toFixed(1)}`)
}

await main()
