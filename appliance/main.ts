/**
 * The appliance entry: `node dist/appliance/main.js <component>` (or SHING_COMPONENT). Reads the
 * environment and secrets, starts the component, and on SIGTERM/SIGINT stops it cleanly.
 */
import os from 'node:os'

import type {ComponentContext, ComponentDef, RunningComponent} from './platform/component.js'
import {createIngest} from './ingest/rtmp-ingest.js'
import {relay} from './relay/relay-server.js'
import {sfu} from './sfu/worker-pool.js'
import {web} from './web/web-app.js'
import {worker} from './worker/job-runner.js'
import {componentNames, componentPorts, type ComponentName} from './contract/index.js'
import {ConfigError, parseEnv, readSecrets, secret, type ApplianceEnv, type Secrets} from './platform/env.js'
import {createMetrics} from './platform/http-server.js'
import {createLogger, type Logger} from './platform/logger.js'
import {connectMongo, type MongoConnection} from './platform/mongo.js'
import {closeRedis, connectRedis, parseHostPort} from './platform/redis.js'
import {ownAddress} from './registry/registry.js'
import {connectStorage, type Storage} from './platform/storage.js'
import {liveLadder} from './ingest/live-ladder.js'

/** Every component, typed so that a new name in the contract does not compile until it is here. */
const components: {[K in ComponentName]: ComponentDef<K>} = {web, ingest: createIngest(liveLadder()), relay, sfu, worker}

/** Docker sends SIGKILL 10 s after SIGTERM by default: finish before that. */
const SHUTDOWN_DEADLINE_MS = 9000

function componentFromArgs(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  const fromArgs = argv[2]
  if (fromArgs !== undefined && env.SHING_COMPONENT !== undefined && env.SHING_COMPONENT !== fromArgs) {
    throw new ConfigError(`the command says ${fromArgs} but SHING_COMPONENT says ${env.SHING_COMPONENT}`)
  }
  const name = fromArgs ?? env.SHING_COMPONENT
  if (name !== undefined && !(componentNames as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown component ${name}: expected one of ${componentNames.join(', ')}`)
  }
  return name
}

interface Context<K extends ComponentName> extends ComponentContext<K> {
  /** Closes the clients the component used, after it stopped. */
  close(): Promise<void>
}

function createContext<K extends ComponentName>(name: K, env: ApplianceEnv, secrets: Secrets, log: Logger): Context<K> {
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
        storage = connectStorage({
          endpoint: env.SHING_S3_ENDPOINT,
          region: env.SHING_S3_REGION,
          bucket: env.SHING_S3_BUCKET,
          pathStyle: env.SHING_S3_PATH_STYLE === 'true',
          accessKey: secret(secrets, 's3AccessKey'),
          secretKey: secret(secrets, 's3SecretKey'),
        })
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

async function run<K extends ComponentName>(name: K, env: ApplianceEnv): Promise<void> {
  const def = components[name]
  const secrets = await readSecrets(env.SHING_SECRETS_DIR, ['redisPassword', ...def.secrets])
  const log = createLogger({
    component: name,
    level: env.SHING_LOG_LEVEL,
    secretValues: Object.values(secrets),
    ...(env.SHING_TASK_NAME === undefined ? {} : {task: env.SHING_TASK_NAME}),
  })
  process.on('uncaughtException', (error) => {
    log.fatal({err: error}, 'uncaught exception')
    process.exit(1)
  })
  process.on('unhandledRejection', (reason) => {
    log.fatal({err: reason}, 'unhandled rejection')
    process.exit(1)
  })

  const ctx = createContext(name, env, secrets, log)
  let running: RunningComponent | undefined
  let stopping = false
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return
    stopping = true
    log.info({signal}, 'shutting down')
    setTimeout(() => {
      log.error({deadlineMs: SHUTDOWN_DEADLINE_MS}, 'shutdown took too long; exiting anyway')
      process.exit(1)
    }, SHUTDOWN_DEADLINE_MS).unref()
    try {
      await running?.stop()
      await ctx.close()
    } catch (error) {
      log.error({err: error}, 'shutdown failed')
      process.exit(1)
    }
    log.info('stopped')
    process.exit(0)
  }
  // Signals are hooked before start, so a SIGTERM during a slow start still shuts down cleanly.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (s) => void shutdown(s))

  const started = performance.now()
  try {
    running = await def.start(ctx)
  } catch (error) {
    log.fatal({err: error}, `${name} failed to start`)
    await ctx.close()
    process.exit(1)
  }
  log.info({ports: ctx.ports, id: ctx.id, host: ctx.host, startMs: Math.round(performance.now() - started)}, `${name} started`)
}

async function main(): Promise<void> {
  try {
    const name = componentFromArgs(process.argv, process.env)
    const env = parseEnv({...process.env, ...(name === undefined ? {} : {SHING_COMPONENT: name})})
    await run(env.SHING_COMPONENT, env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`shing appliance: ${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
}

await main()
