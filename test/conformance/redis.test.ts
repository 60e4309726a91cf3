import {once} from 'node:events'

import {Queue, QueueEvents, Worker} from 'bullmq'
import {Redis} from 'ioredis'
import {expect, it} from 'vitest'

import {markReal} from '../harness/real-part.js'
import {startRedis} from '../harness/redis.js'

interface AddJob {
  a: number
  b: number
}

it('redis', async (ctx) => {
  const started = performance.now()
  const redis = await startRedis()
  console.log(`timing: redis-server ready in ${Math.round(performance.now() - started)} ms`)
  const publisher = new Redis(redis.url)
  const subscriber = new Redis(redis.url)
  const connection = {host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null}
  const queue = new Queue<AddJob>('conformance', {connection})
  const events = new QueueEvents('conformance', {connection})
  const worker = new Worker<AddJob, {sum: number}>('conformance', async (job) => ({sum: job.data.a + job.data.b}), {connection})
  try {
    // Pub/sub: what a real subscriber receives, not what the publisher counted.
    await subscriber.subscribe('shing:conformance')
    const received = once(subscriber, 'message')
    expect(await publisher.publish('shing:conformance', 'hello')).toBe(1)
    expect(await received).toEqual(['shing:conformance', 'hello'])

    // BullMQ: a job goes in, a worker runs it, the result comes back through QueueEvents.
    await events.waitUntilReady()
    const job = await queue.add('add', {a: 2, b: 3})
    expect(await job.waitUntilFinished(events, 15_000)).toEqual({sum: 5})

    const version = /redis_version:(\S+)/.exec(await publisher.info('server'))?.[1]
    expect(version).toBeDefined()
    markReal(ctx, 'redis', version ?? '')
  } finally {
    await worker.close()
    await events.close()
    await queue.close()
    publisher.disconnect()
    subscriber.disconnect()
    await redis.stop()
  }
})
