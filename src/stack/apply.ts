/** Carries out a diff's actions on the engine, core first, waiting for health between tiers. */
import type Docker from 'dockerode'

import {AbortError, errorMessage} from '../errors.js'
import {logger} from '../logger.js'
import type {Action} from './diff.js'
import {demuxLogs} from './docker-logs.js'
import {labels, STACK, type ServiceName} from './names.js'
import type {PlannedService, StackPlan} from './plan.js'

const log = logger('stack')

export type ProgressEvent =
  | {kind: 'action'; action: Action; description: string}
  | {kind: 'waiting'; service: ServiceName; running: number; desired: number}
  | {kind: 'healthy'; service: ServiceName; running: number; seconds: number}

export interface ApplyOptions {
  docker: Docker
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

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
const objectLabels = {[labels.stack]: STACK}

export async function applyActions(options: ApplyOptions): Promise<ServiceHealth[]> {
  const {docker, plan, actions} = options
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
  const withHash = async (s: PlannedService): Promise<Docker.ServiceSpec> => {
    ids ??= await objectIds(docker)
    const spec = withIds(s.spec, ids)
    const task = spec.TaskTemplate as Docker.ContainerTaskSpec
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
        await step(action, () => initSwarm(docker, options.advertiseAddr))
        break
      case 'node.label':
        await step(action, () => labelNode(docker, action.labels))
        break
      case 'network.create':
        await step(action, () =>
          docker.createNetwork({
            Name: action.name,
            Driver: 'overlay',
            Attachable: true,
            CheckDuplicate: true,
            Labels: objectLabels,
            Options: action.encrypted ? {encrypted: ''} : {},
          }),
        )
        break
      case 'network.recreate':
        throw new AbortError(`The overlay network ${action.name} must be recreated (${action.why}), which needs the stack down.`, [
          'Run `shing down` (data is kept), then `shing up`',
        ])
      case 'secret.create': {
        const value = options.secretValues[action.key]
        if (value === undefined) throw new Error(`no value for secret ${action.key}`)
        await step(action, () => docker.createSecret({Name: action.name, Labels: objectLabels, Data: b64(value)}))
        break
      }
      case 'config.create': {
        const config = plan.configs.find((c) => c.name === action.name)
        if (config === undefined) throw new Error(`no planned config ${action.name}`)
        await step(action, () => docker.createConfig({Name: config.name, Labels: objectLabels, Data: b64(config.data)}))
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
        await step(action, async () => docker.createService(await withHash(s)).catch((error: unknown) => {
          throw new AbortError(`Creating service ${s.dockerName} failed: ${errorMessage(error)}`, ['Check the engine with: shing doctor'])
        }))
        changed.push(action.service)
      }
      if (action.kind === 'service.update' && action.tier === tier) {
        const s = serviceSpec(action.service)
        await step(action, async () => {
          const service = docker.getService(s.dockerName)
          const current = (await service.inspect()) as {Version?: {Index?: number}}
          await service.update({_query: {version: current.Version?.Index}, _body: await withHash(s)} as unknown as Docker.ServiceSpec)
          if (await rollsOut(service)) updated.push(action.service)
        })
        changed.push(action.service)
      }
    }
    // Everything of the tier must be healthy before the next tier, changed or not.
    const services = plan.services.filter((s) => s.tier === tier)
    const results = await Promise.all(
      services.map((s) =>
        waitHealthy(docker, {name: s.name, dockerName: s.dockerName, image: imageOf(s.spec), tier: s.tier}, {
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
    if (action.kind === 'service.remove') await step(action, () => docker.getService(action.dockerName).remove())
  }
  for (const action of actions) {
    if (action.kind === 'secret.remove') await step(action, () => removeWhenUnused(() => docker.getSecret(action.name).remove(), action.name))
    if (action.kind === 'config.remove') await step(action, () => removeWhenUnused(() => docker.getConfig(action.name).remove(), action.name))
  }
  return health
}

/** Secret and config IDs by name, for the stack's objects. */
async function objectIds(docker: Docker): Promise<Map<string, string>> {
  const filters = {label: [`${labels.stack}=${STACK}`]}
  const [secrets, configs] = await Promise.all([docker.listSecrets({filters}), docker.listConfigs({filters})])
  const ids = new Map<string, string>()
  for (const o of [...secrets, ...configs]) {
    const name = (o.Spec as {Name?: string} | undefined)?.Name
    if (name !== undefined) ids.set(name, o.ID)
  }
  return ids
}

function withIds(spec: Docker.ServiceSpec, ids: Map<string, string>): Docker.ServiceSpec {
  const task = spec.TaskTemplate as Docker.ContainerTaskSpec | undefined
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

async function initSwarm(docker: Docker, advertiseAddr: string | undefined): Promise<void> {
  try {
    await docker.swarmInit({
      ListenAddr: '0.0.0.0:2377',
      ...(advertiseAddr ? {AdvertiseAddr: advertiseAddr} : {}),
      Spec: {Labels: {[labels.createdBy]: STACK}},
    })
  } catch (error) {
    const message = errorMessage(error)
    if (/advertise/i.test(message)) {
      throw new AbortError(`This box has several addresses and Docker cannot pick the one to advertise: ${message}`, [
        'Set swarm.advertiseAddr in shing.yaml to the address other boxes reach this one at, then run shing up again',
      ])
    }
    throw new AbortError(`Making this box a swarm failed: ${message}`, ['See: shing doctor'])
  }
}

async function labelNode(docker: Docker, add: Record<string, string>): Promise<void> {
  const info = (await docker.info()) as {Swarm?: {NodeID?: string}}
  const node = docker.getNode(info.Swarm?.NodeID ?? '')
  const current = (await node.inspect()) as {Version: {Index: number}; Spec: {Labels?: Record<string, string>; Role: string; Availability: string}}
  await node.update({
    version: current.Version.Index,
    ...current.Spec,
    Labels: {...current.Spec.Labels, ...add},
  })
}

/** A secret still held by a task that is shutting down cannot go yet: retry briefly, then leave it. */
async function removeWhenUnused(remove: () => Promise<unknown>, name: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await remove()
      return
    } catch (error) {
      if (!/in use/i.test(errorMessage(error))) throw error
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
  log.warn({name}, 'still in use; the next `shing up` removes it')
}

interface TaskInfo {
  ID: string
  CreatedAt?: string
  DesiredState?: string
  Spec?: {ContainerSpec?: {Image?: string; Labels?: Record<string, string>}; ForceUpdate?: number}
  Status?: {State?: string; Err?: string; Message?: string; Timestamp?: string}
}

/**
 * Whether the last update replaces tasks (a changed task template) rather than only scaling or
 * relabelling: compared on the engine's own normalized specs.
 */
export async function rollsOut(service: Docker.Service): Promise<boolean> {
  const after = (await service.inspect()) as {Spec?: {TaskTemplate?: unknown}; PreviousSpec?: {TaskTemplate?: unknown}}
  return JSON.stringify(after.Spec?.TaskTemplate) !== JSON.stringify(after.PreviousSpec?.TaskTemplate)
}

export function imageOf(spec: Docker.ServiceSpec): string {
  return (spec.TaskTemplate as {ContainerSpec?: {Image?: string}} | undefined)?.ContainerSpec?.Image ?? ''
}

export interface WatchedService {
  name: ServiceName
  dockerName: string
  image: string
  tier: PlannedService['tier']
}

/** Running tasks count only once healthy: swarm holds a task in "starting" until its healthcheck passes. */
export async function waitHealthy(
  docker: Docker,
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
  const deadline = started + options.timeoutMs
  let last = {running: 0, desired: 0}
  for (;;) {
    const [info] = (await docker.listServices({status: true, filters: {name: [service.dockerName]}} as Docker.ServiceListOptions)) as Array<{
      Spec?: {Name?: string}
      ServiceStatus?: {RunningTasks?: number; DesiredTasks?: number}
      UpdateStatus?: {State?: string; Message?: string}
    }>
    const running = info?.ServiceStatus?.RunningTasks ?? 0
    const desired = info?.ServiceStatus?.DesiredTasks ?? 0
    const updateState = info?.UpdateStatus?.State
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
    const current = (await docker.getService(service.dockerName).inspect()) as {
      Spec?: {TaskTemplate?: {ForceUpdate?: number; ContainerSpec?: {Labels?: Record<string, string>}}}
    }
    const template = current.Spec?.TaskTemplate
    const tasks = ((await docker.listTasks({filters: {service: [service.dockerName]}})) as TaskInfo[]).filter(
      (t) =>
        (t.Spec?.ForceUpdate ?? 0) === (template?.ForceUpdate ?? 0) &&
        t.Spec?.ContainerSpec?.Labels?.[labels.taskHash] === template?.ContainerSpec?.Labels?.[labels.taskHash],
    )
    const failure =
      fatalTaskError(tasks) ??
      (updateState === 'paused' || updateState?.startsWith('rollback') ? `its update ${updateState}: ${info?.UpdateStatus?.Message ?? ''}` : undefined)
    if (failure !== undefined || Date.now() > deadline) {
      const why = failure ?? `${running}/${desired} tasks healthy after ${Math.round(options.timeoutMs / 1000)} s`
      const tail = await serviceLogTail(docker, service.dockerName)
      throw new AbortError(
        `Service ${service.dockerName} did not become healthy: ${why}${tail ? `\n--- last log lines ---\n${tail}` : ''}`,
        [
          `See its logs: shing logs ${service.name} --tail 100`,
          failure?.includes('No such image')
            ? `Load or pull the image ${service.image} on this box, or fix images.${imageKey(service)} in shing.yaml`
            : 'Run `shing up` again once fixed; it continues from where this one stopped',
        ],
      )
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

function imageKey(service: WatchedService): string {
  if (service.tier === 'app') return 'appliance'
  return service.name === 'edge' ? 'caddy' : service.name
}

/** An error that retrying will not fix: the image is missing, or the task failed the same way 3 times. */
function fatalTaskError(tasks: TaskInfo[]): string | undefined {
  const sorted = [...tasks].sort((a, b) => (a.CreatedAt ?? '').localeCompare(b.CreatedAt ?? ''))
  const failed = sorted.filter((t) => t.Status?.State === 'rejected' || t.Status?.State === 'failed')
  const noImage = failed.find((t) => /No such image|pull access denied|not found/i.test(t.Status?.Err ?? ''))
  if (noImage) return `${noImage.Status?.Err}`
  if (failed.length >= 3) {
    const last = failed.at(-1)
    return `its tasks keep failing: ${last?.Status?.Err ?? last?.Status?.Message ?? 'unknown error'}`
  }
  return undefined
}

async function serviceLogTail(docker: Docker, dockerName: string): Promise<string> {
  try {
    const buffer = (await docker.getService(dockerName).logs({stdout: true, stderr: true, tail: 20, follow: false})) as unknown as Buffer
    return demuxLogs(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer))).trimEnd()
  } catch (error) {
    return `(logs unavailable: ${errorMessage(error)})`
  }
}
