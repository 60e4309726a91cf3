/** Carries out a diff's actions on the engine, core first, waiting for health between tiers. */
import {PassThrough} from 'node:stream'

import {AbortError, errorMessage} from '../errors.js'
import {EngineError} from '../engine/docker-engine.js'
import type {ContainerTaskSpec, Engine, ServiceInfo, ServiceSpec, TaskInfo} from '../engine/engine.js'
import {pollUntil, PollTimeoutError} from '../engine/poll.js'
import {logger} from '../logger.js'
import type {Action} from '../stack/diff.js'
import {stackLabels} from './read-stack.js'
import {labels, STACK, type ServiceName} from '../stack/names.js'
import type {PlannedService, StackPlan} from '../stack/plan.js'

const log = logger('stack')

export type ProgressEvent =
  | {kind: 'action'; action: Action; description: string}
  | {kind: 'waiting'; service: ServiceName; running: number; desired: number}
  | {kind: 'healthy'; service: ServiceName; running: number; seconds: number}
  | {kind: 'image'; image: string; text: string}

export interface ApplyOptions {
  engine: Engine
  plan: StackPlan
  actions: Action[]
  /** Secret values by key (plan.secrets[].key). */
  secretValues: Record<string, string>
  advertiseAddr?: string
  /** Per service, how long it may take to become healthy. */
  healthTimeoutMs: number
  onProgress: (event: ProgressEvent) => void
  describe: (action: Action) => string
}

export interface ServiceHealth {
  service: ServiceName
  running: number
  desired: number
  seconds: number
}

export async function applyActions(options: ApplyOptions): Promise<ServiceHealth[]> {
  const {engine, plan, actions} = options
  const step = async (action: Action, run: () => Promise<unknown>): Promise<void> => {
    options.onProgress({kind: 'action', action, description: options.describe(action)})
    log.debug({action}, 'applying')
    await run()
  }
  const serviceSpec = (name: ServiceName): PlannedService => {
    const s = plan.services.find((p) => p.name === name)
    if (s === undefined) throw new Error(`no planned service ${name}`)
    return s
  }
  // The engine wants secrets and configs by ID as well as by name; IDs exist only once created.
  let ids: Map<string, string> | undefined
  const withHash = async (s: PlannedService): Promise<ServiceSpec> => {
    ids ??= await objectIds(engine)
    const spec = withIds(s.spec, ids)
    const task = spec.TaskTemplate as ContainerTaskSpec
    // The task hash on the tasks too, so health checks look only at tasks of this template.
    return {
      ...spec,
      Labels: {...spec.Labels, [labels.specHash]: s.hash},
      TaskTemplate: {...task, ContainerSpec: {...task.ContainerSpec, Labels: {...task.ContainerSpec?.Labels, [labels.taskHash]: s.taskHash}}},
    }
  }

  for (const action of actions) {
    switch (action.kind) {
      case 'swarm.init':
        await step(action, () => initSwarm(engine, options.advertiseAddr))
        break
      case 'node.label':
        await step(action, async () => {
          const {swarm} = await engine.info()
          if (swarm.nodeId === undefined) throw new Error('the engine is in a swarm but has no node id')
          await engine.labelNode(swarm.nodeId, action.labels)
        })
        break
      case 'network.create':
        await step(action, () => engine.createOverlayNetwork({name: action.name, labels: stackLabels, encrypted: action.encrypted}))
        break
      case 'network.recreate':
        throw new AbortError(`The overlay network ${action.name} must be recreated (${action.why}), which needs the stack down.`, [
          'Run `shing down` (data is kept), then `shing up`',
        ])
      case 'secret.create': {
        const value = options.secretValues[action.key]
        if (value === undefined) throw new Error(`no value for secret ${action.key}`)
        await step(action, () => engine.createSecret({name: action.name, labels: stackLabels, value}))
        break
      }
      case 'config.create': {
        const config = plan.configs.find((c) => c.name === action.name)
        if (config === undefined) throw new Error(`no planned config ${action.name}`)
        await step(action, () => engine.createConfig({name: config.name, labels: stackLabels, value: config.data}))
        break
      }
      default:
        break
    }
  }

  const health: ServiceHealth[] = []
  for (const tier of ['core', 'app'] as const) {
    const changed: ServiceName[] = []
    const updated: ServiceName[] = []
    for (const action of actions) {
      if (action.kind === 'service.create' && action.tier === tier) {
        const s = serviceSpec(action.service)
        await step(action, async () => {
          await engine.createService(await withHash(s)).catch((error: unknown) => {
            throw new AbortError(`Creating service ${s.dockerName} failed: ${errorMessage(error)}`, ['Check the engine with: shing doctor'])
          })
        })
        changed.push(action.service)
      }
      if (action.kind === 'service.update' && action.tier === tier) {
        const s = serviceSpec(action.service)
        await step(action, async () => {
          const current = await engine.inspectService(s.dockerName)
          if (current === undefined) throw new AbortError(`Service ${s.dockerName} disappeared while updating.`, ['Run `shing up` again'])
          await engine.updateService(s.dockerName, current.version, await withHash(s))
          const after = await engine.inspectService(s.dockerName)
          if (after !== undefined && rollsOut(after)) updated.push(action.service)
        })
        changed.push(action.service)
      }
    }
    // Everything of the tier must be healthy before the next tier, changed or not.
    const services = plan.services.filter((s) => s.tier === tier)
    const results = await Promise.all(
      services.map((s) =>
        waitHealthy(engine, {name: s.name, dockerName: s.dockerName, image: imageOf(s.spec), tier: s.tier}, {
          timeoutMs: options.healthTimeoutMs,
          onProgress: options.onProgress,
          announce: changed.includes(s.name),
          expectUpdate: updated.includes(s.name),
        }),
      ),
    )
    health.push(...results)
  }

  for (const action of actions) {
    if (action.kind === 'service.remove') await step(action, () => engine.removeService(action.dockerName))
  }
  for (const action of actions) {
    if (action.kind === 'secret.remove') await step(action, () => removeWhenUnused(() => engine.removeSecret(action.name), action.name))
    if (action.kind === 'config.remove') await step(action, () => removeWhenUnused(() => engine.removeConfig(action.name), action.name))
  }
  return health
}

/** Secret and config IDs by name, for the stack's objects. */
async function objectIds(engine: Engine): Promise<Map<string, string>> {
  const [secrets, configs] = await Promise.all([engine.listSecrets(stackLabels), engine.listConfigs(stackLabels)])
  return new Map([...secrets, ...configs].map((o) => [o.name, o.id]))
}

function withIds(spec: ServiceSpec, ids: Map<string, string>): ServiceSpec {
  const task = spec.TaskTemplate as ContainerTaskSpec | undefined
  const container = task?.ContainerSpec
  if (task === undefined || container === undefined) return spec
  const id = (name: string | undefined): string => {
    const found = ids.get(name ?? '')
    if (found === undefined) throw new Error(`${name} was not created`)
    return found
  }
  return {
    ...spec,
    TaskTemplate: {
      ...task,
      ContainerSpec: {
        ...container,
        Secrets: (container.Secrets ?? []).map((r) => ({...r, SecretID: id(r.SecretName)})),
        Configs: (container.Configs ?? []).map((r) => ({...r, ConfigID: id(r.ConfigName)})),
      },
    },
  }
}

async function initSwarm(engine: Engine, advertiseAddr: string | undefined): Promise<void> {
  try {
    await engine.swarmInit({...(advertiseAddr ? {advertiseAddr} : {}), labels: {[labels.createdBy]: STACK}})
  } catch (error) {
    if (!(error instanceof EngineError)) throw error
    if (/advertise/i.test(error.reason)) {
      throw new AbortError(`This box has several addresses and Docker cannot pick the one to advertise: ${error.reason}`, [
        'Set swarm.advertiseAddr in shing.yaml to the address other boxes reach this one at, then run shing up again',
      ])
    }
    throw new AbortError(`Making this box a swarm failed: ${error.reason}`, ['See: shing doctor'])
  }
}

/** A secret still held by a task that is shutting down cannot go yet: retry briefly, then leave it. */
async function removeWhenUnused(remove: () => Promise<void>, name: string): Promise<void> {
  const removed = await pollUntil(
    async () => {
      try {
        await remove()
        return true
      } catch (error) {
        if (error instanceof EngineError && /in use/i.test(error.reason)) return undefined
        throw error
      }
    },
    {what: `${name} to be unused`, timeoutMs: 10_000, intervalMs: 1000},
  ).catch((error: unknown) => {
    if (error instanceof PollTimeoutError) return false
    throw error
  })
  if (!removed) log.warn({name}, 'still in use; the next `shing up` removes it')
}

/**
 * Whether the last update replaces tasks (a changed task template) rather than only scaling or
 * relabelling: compared on the engine's own normalized specs.
 */
export function rollsOut(service: ServiceInfo): boolean {
  return JSON.stringify(service.spec.TaskTemplate) !== JSON.stringify(service.previousSpec?.TaskTemplate)
}

export function imageOf(spec: ServiceSpec): string {
  return (spec.TaskTemplate as ContainerTaskSpec | undefined)?.ContainerSpec?.Image ?? ''
}

/** A failure that waiting longer will not fix. */
class ServiceFailedError extends Error {
  override name = 'ServiceFailedError'
}

export interface WatchedService {
  name: ServiceName
  dockerName: string
  image: string
  tier: PlannedService['tier']
}

/** Running tasks count only once healthy: swarm holds a task in "starting" until its healthcheck passes. */
export async function waitHealthy(
  engine: Engine,
  service: WatchedService,
  options: {
    timeoutMs: number
    onProgress: (e: ProgressEvent) => void
    announce: boolean
    /** The service was just updated: wait for swarm to finish rolling it out. */
    expectUpdate?: boolean
  },
): Promise<ServiceHealth> {
  const started = Date.now()
  let last = {running: 0, desired: 0}
  let failure: string | undefined
  try {
    return await pollUntil(
      async () => {
        const info = await engine.inspectService(service.dockerName)
        const running = info?.running ?? 0
        const desired = info?.desired ?? 0
        const updateState = info?.update?.state
        const updating = options.expectUpdate ? updateState !== 'completed' : updateState === 'updating'
        if (running !== last.running || desired !== last.desired) {
          options.onProgress({kind: 'waiting', service: service.name, running, desired})
          last = {running, desired}
        }
        if (desired > 0 && running >= desired && !updating) {
          const seconds = (Date.now() - started) / 1000
          if (options.announce) options.onProgress({kind: 'healthy', service: service.name, running, seconds})
          return {service: service.name, running, desired, seconds}
        }
        // Earlier specs' failures (a missing image since fixed) are history, not news.
        const template = info?.spec.TaskTemplate as ContainerTaskSpec | undefined
        const tasks = (await engine.listTasks({service: service.dockerName})).filter(
          (t) => t.forceUpdate === (template?.ForceUpdate ?? 0) && t.containerLabels[labels.taskHash] === template?.ContainerSpec?.Labels?.[labels.taskHash],
        )
        failure =
          fatalTaskError(tasks) ??
          (updateState === 'paused' || updateState?.startsWith('rollback') ? `its update ${updateState}: ${info?.update?.message ?? ''}` : undefined)
        if (failure !== undefined) throw new ServiceFailedError(failure)
        return undefined
      },
      {what: `${service.dockerName} to become healthy`, timeoutMs: options.timeoutMs, lastState: () => `${last.running}/${last.desired} tasks healthy`},
    )
  } catch (error) {
    if (!(error instanceof PollTimeoutError) && !(error instanceof ServiceFailedError)) throw error
    const why = failure ?? `${last.running}/${last.desired} tasks healthy after ${Math.round(options.timeoutMs / 1000)} s`
    const tail = await serviceLogTail(engine, service.dockerName)
    throw new AbortError(`Service ${service.dockerName} did not become healthy: ${why}${tail ? `\n--- last log lines ---\n${tail}` : ''}`, [
      `See its logs: shing logs ${service.name} --tail 100`,
      failure?.includes('No such image')
        ? `Load or pull the image ${service.image} on this box, or fix images.${imageKey(service)} in shing.yaml`
        : 'Run `shing up` again once fixed; it continues from where this one stopped',
    ])
  }
}

function imageKey(service: WatchedService): string {
  if (service.tier === 'app') return 'appliance'
  return service.name === 'edge' ? 'caddy' : service.name
}

/** An error that retrying will not fix: the image is missing, or the task failed the same way 3 times. */
function fatalTaskError(tasks: TaskInfo[]): string | undefined {
  const sorted = [...tasks].sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''))
  const failed = sorted.filter((t) => t.state === 'rejected' || t.state === 'failed')
  const noImage = failed.find((t) => /No such image|pull access denied|not found/i.test(t.error ?? ''))
  if (noImage) return `${noImage.error}`
  if (failed.length >= 3) {
    const last = failed.at(-1)
    return `its tasks keep failing: ${last?.error ?? last?.message ?? 'unknown error'}`
  }
  return undefined
}

async function serviceLogTail(engine: Engine, dockerName: string): Promise<string> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const chunks: Buffer[] = []
  stdout.on('data', (c: Buffer) => chunks.push(c))
  stderr.on('data', (c: Buffer) => chunks.push(c))
  try {
    await engine.serviceLogs(dockerName, {follow: false, tail: 20}, {stdout, stderr})
    return Buffer.concat(chunks).toString('utf8').trimEnd()
  } catch (error) {
    return `(logs unavailable: ${errorMessage(error)})`
  }
}
