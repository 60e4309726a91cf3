import type {Redis} from 'ioredis'

import type {ComponentName, SecretName} from '../contract/index.js'
import type {ApplianceEnv} from './env.js'
import type {Metrics} from './http-server.js'
import type {Logger} from './logger.js'
import type {MongoConnection} from './mongo.js'
import type {RedisEndpoint} from './redis.js'
import type {Storage} from './storage.js'

/** What main hands a component: its settings and the shared clients (closed by main after stop()). */
export interface ComponentContext<K extends ComponentName> {
  readonly name: K
  readonly env: ApplianceEnv
  readonly log: Logger
  /** Ports it listens on: the contract's, unless SHING_HTTP_PORT / SHING_RTMP_PORT override them. */
  readonly ports: {http: number; rtmp: number}
  /** Unique per process: the registry id. */
  readonly id: string
  /** Where other containers reach it: the registry's `host`. */
  readonly host: string
  readonly metrics: Metrics
  readonly redis: Redis
  readonly redisEndpoint: RedisEndpoint
  /** A secret the component declared in its def (throws for one it did not). */
  secret(name: SecretName): string
  /** Made on first use; needs the mongoRootPassword secret. */
  mongo(): MongoConnection
  /** Made on first use (and the bucket ensured); needs the s3 secrets. */
  storage(): Storage
}

export interface RunningComponent {
  /** Stop accepting work, finish or hand back what is in progress, deregister. */
  stop(): Promise<void>
}

export interface ComponentDef<K extends ComponentName> {
  readonly name: K
  /** Secret files it reads besides the Redis password; a missing one stops the start with exit 1. */
  readonly secrets: readonly SecretName[]
  start(ctx: ComponentContext<K>): Promise<RunningComponent>
}
