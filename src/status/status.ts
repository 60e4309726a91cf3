import {NODES_API_PATH, nodesViewSchema, registeredRoles, type RegistryRecord} from '../../appliance/contract/index.js'
import {fetchInWeb} from '../admin/web-exec.js'
import {loadConfig} from '../config/load.js'
import type {Engine} from '../engine/engine.js'
import {errorMessage} from '../errors.js'
import {labels, STACK} from '../stack/names.js'
import {siteUrls} from '../stack/plan.js'
import {readActualStack, stackLabels} from '../up/read-stack.js'

export interface ServiceStatus {
  name: string
  image: string
  running: number
  desired: number
  healthy: boolean
  tasks: Array<{node: string; state: string; since: string; health?: string; error?: string}>
}

export interface StatusResult {
  stack: string
  swarm: string
  services: ServiceStatus[]
  registry?: RegistryRecord[]
  registryError?: string
  urls: {web: string; rtmp: string; video?: string}
}

export async function stackStatus(engine: Engine, dir: string): Promise<StatusResult> {
  const {config} = await loadConfig(dir)
  const actual = await readActualStack(engine)
  const urls = siteUrls(config)
  if (actual.swarm.state !== 'active') return {stack: STACK, swarm: actual.swarm.state, services: [], urls}

  const [services, nodes] = await Promise.all([engine.listServices({labels: stackLabels}), engine.listNodes()])
  const hostname = new Map(nodes.map((n) => [n.id, n.hostname]))
  const out: ServiceStatus[] = []
  for (const service of services) {
    const tasks = await engine.listTasks({service: service.name, desiredState: 'running'})
    const taskStatus = await Promise.all(
      tasks.map(async (t) => {
        // Only containers on this box can be inspected from here.
        const health = t.containerId === undefined ? undefined : await engine.containerHealth(t.containerId).catch(() => undefined)
        return {
          node: hostname.get(t.nodeId ?? '') ?? t.nodeId ?? '?',
          state: t.state ?? 'unknown',
          since: t.timestamp ?? '',
          ...(health ? {health} : {}),
          ...(t.error ? {error: t.error} : {}),
        }
      }),
    )
    out.push({
      name: service.labels[labels.component] ?? service.name,
      image: (service.spec.TaskTemplate as {ContainerSpec?: {Image?: string}} | undefined)?.ContainerSpec?.Image ?? '',
      running: service.running,
      desired: service.desired,
      healthy: service.desired > 0 && service.running >= service.desired && taskStatus.every((t) => t.health === undefined || t.health === 'healthy'),
      tasks: taskStatus,
    })
  }
  out.sort((a, b) => a.name.localeCompare(b.name))
  const registry = await readRegistry(engine).then(
    (records) => ({registry: records}),
    (error: unknown) => ({registryError: errorMessage(error)}),
  )
  return {stack: STACK, swarm: actual.swarm.state, services: out, ...registry, urls}
}

/** The registry as the web API serves it, asked from inside a web container on this box. */
async function readRegistry(engine: Engine): Promise<RegistryRecord[]> {
  const {status, body} = await fetchInWeb(engine, NODES_API_PATH)
  if (status !== 200) throw new Error(`${NODES_API_PATH} answered ${status}: ${body.slice(0, 200)}`)
  const view = nodesViewSchema.parse(JSON.parse(body))
  return registeredRoles.flatMap((role) => view[role])
}
