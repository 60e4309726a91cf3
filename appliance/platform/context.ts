/** The context main hands a component: its settings, and the shared clients made on first use. */
import os from 'node:os'

import {componentPorts, type ComponentName} from '../contract/index.js'
import {ownAddress} from '../registry/heartbeat.js'
import type {ComponentContext} from './component.js'
import {secret, type ApplianceEnv, type Secrets} from './env.js'
import {createMetrics} from './http-server.js'
import type {Logger} from './logger.js'
import {connectMongo, type MongoConnection} from './mongo.js'
import {closeRedis, connectRedis, parseHostPort} from './redis.js'
import {connectStorage, storageOptions, type Storage} from './storage.js'

export interface Context<K extends ComponentName> extends ComponentContext<K> {
  /** Closes the clients the component used, after it stopped. */
  close(): Promise<void>
}

export function createContext<K extends ComponentName>(name: K, env: ApplianceEnv, secrets: Secrets, log: Logger): Context<K> {
  const redisEndpoint = {...parseHostPort(env.SHING_REDIS_HOST, 6379), password: secret(secrets, 'redisPassword')}
  const redis = connectRedis(redisEndpoint, log.child({module: 'redis'}), `shing-${name}`)
  let mongo: MongoConnection | undefined
  let storage: Storage | undefined
  const id = env.SHING_TASK_NAME ?? `${os.hostname()}-${process.pid}`
  return {
    name,
    env,
    log,
    ports: {http: env.SHING_HTTP_PORT ?? componentPorts[name].http, rtmp: env.SHING_RTMP_PORT},
    id,
    // Bound to one address (tests): that is where others reach it. Else its container address.
    // In swarm the task's name resolves on the overlay (a container may have several addresses).
    host: env.SHING_BIND_HOST !== '0.0.0.0' ? env.SHING_BIND_HOST : (env.SHING_TASK_NAME ?? ownAddress() ?? os.hostname()),
    metrics: createMetrics(name),
    redis,
    redisEndpoint,
    secret: (key) => secret(secrets, key),
    mongo: () => (mongo ??= connectMongo(env.SHING_MONGO_HOST, secret(secrets, 'mongoRootPassword'), `shing-${name}`)),
    storage: () => {
      if (storage === undefined) {
        storage = connectStorage(storageOptions(env, secrets))
        storage.ensureBucket(log.child({module: 's3'}))
      }
      return storage
    },
    close: async () => {
      storage?.close()
      await Promise.all([closeRedis(redis), mongo?.close().catch((error: Error) => log.warn({err: error.message}, 'mongo close failed'))])
    },
  }
}
