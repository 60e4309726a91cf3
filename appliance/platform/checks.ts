import type {Redis} from 'ioredis'

import type {HealthCheck} from './http-server.js'
import type {MongoConnection} from './mongo.js'
import type {Storage} from './storage.js'

/** Ready and answering PING: a reconnecting client fails at once instead of waiting for the timeout. */
export const redisCheck = (redis: Redis): HealthCheck => ({
  name: 'redis',
  run: async () => {
    if (redis.status !== 'ready') throw new Error(`connection is ${redis.status}`)
    const answer = await redis.ping()
    if (answer !== 'PONG') throw new Error(`PING answered ${answer}`)
  },
})

export const mongoCheck = (mongo: MongoConnection): HealthCheck => ({name: 'mongo', run: () => mongo.ping()})

export const s3Check = (storage: Storage): HealthCheck => ({name: 's3', run: () => storage.check()})
