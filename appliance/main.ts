/**
 * The appliance entry: `node appliance/dist/main.js <component>` (or SHING_COMPONENT). Reads the
 * environment and secrets, starts the component, and on SIGTERM/SIGINT stops it cleanly.
 */
import {ingest} from './components/ingest.js'
import {relay} from './components/relay.js'
import {sfu} from './components/sfu.js'
import {web} from './components/web.js'
import {worker} from './components/worker.js'
import {componentNames, type ComponentName} from './contract/index.js'
import type {ComponentDef, RunningComponent} from './platform/component.js'
import {createContext} from './platform/context.js'
import {ConfigError, parseEnv, readSecrets, type ApplianceEnv} from './platform/env.js'
import {createLogger} from './platform/logger.js'

/** Every component, typed so that a new name in the contract does not compile until it is here. */
const components: {[K in ComponentName]: ComponentDef<K>} = {web, ingest, relay, sfu, worker}

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
