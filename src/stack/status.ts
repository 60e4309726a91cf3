import type Docker from 'dockerode'

import {NODES_API_PATH, registeredRoles, type NodesView, type RegistryRecord} from '../../appliance/contract/index.js'
import {loadConfig} from '../config/load.js'
import {connectEngine} from '../engine/docker.js'
import {errorMessage} from '../errors.js'
import {readActualStack} from './engine-state.js'
import {labels, STACK} from './names.js'
import {publicUrl, rtmpUrl} from './plan.js'
import {fetchInWeb} from './web-exec.js'

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
  urls: {web: string; rtmp: string}
}

interface TaskInfo {
  NodeID?: string
  DesiredState?: string
  Status?: {State?: string; Timestamp?: string; Err?: string; ContainerStatus?: {ContainerID?: string}}
}

export async function stackStatus(dir: string): Promise<StatusResult> {
  const {config} = await loadConfig(dir)
  const docker = connectEngine({timeoutMs: 30_000})
  const actual = await readActualStack(docker)
  const urls = {web: publicUrl(config), rtmp: rtmpUrl(config)}
  if (actual.swarm.state !== 'active') return {stack: STACK, swarm: actual.swarm.state, services: [], urls}

  const [services, nodes] = await Promise.all([
    docker.listServices({status: true, filters: {label: [`${labels.stack}=${STACK}`]}} as Docker.ServiceListOptions),
    docker.listNodes(),
  ])
  const hostname = new Map(nodes.map((n) => [n.ID, n.Description?.Hostname ?? n.ID]))
  const out: ServiceStatus[] = []
  for (const service of services as Array<Docker.Service & {ServiceStatus?: {RunningTasks?: number; DesiredTasks?: number}}>) {
    const name = service.Spec?.Labels?.[labels.component] ?? service.Spec?.Name ?? '?'
    const tasks = (await docker.listTasks({filters: {service: [service.Spec?.Name ?? ''], 'desired-state': ['running']}})) as TaskInfo[]
    const taskStatus = await Promise.all(
      tasks.map(async (t) => {
        const containerId = t.Status?.ContainerStatus?.ContainerID
        let health: string | undefined
        // Only containers on this box can be inspected from here.
        if (containerId) {
          health = await docker
            .getContainer(containerId)
            .inspect()
            .then((c) => c.State.Health?.Status)
            .catch(() => undefined)
        }
        return {
          node: hostname.get(t.NodeID ?? '') ?? t.NodeID ?? '?',
          state: t.Status?.State ?? 'unknown',
          since: t.Status?.Timestamp ?? '',
          ...(health ? {health} : {}),
          ...(t.Status?.Err ? {error: t.Status.Err} : {}),
        }
      }),
    )
    const running = service.ServiceStatus?.RunningTasks ?? 0
    const desired = service.ServiceStatus?.DesiredTasks ?? 0
    const spec = service.Spec?.TaskTemplate as {ContainerSpec?: {Image?: string}} | undefined
    out.push({
      name,
      image: spec?.ContainerSpec?.Image ?? '',
      running,
      desired,
      healthy: desired > 0 && running >= desired && taskStatus.every((t) => t.health === undefined || t.health === 'healthy'),
      tasks: taskStatus,
    })
  }
  out.sort((a, b) => a.name.localeCompare(b.name))
  const registry = await readRegistry(docker).then(
    (records) => ({registry: records}),
    (error: unknown) => ({registryError: errorMessage(error)}),
  )
  return {stack: STACK, swarm: actual.swarm.state, services: out, ...registry, urls}
}

/** The registry as the web API serves it, asked from inside a web container on this box. */
async function readRegistry(docker: Docker): Promise<RegistryRecord[]> {
  const {status, body} = await fetchInWeb(docker, NODES_API_PATH)
  if (status !== 200) throw new Error(`${NODES_API_PATH} answered ${status}: ${body.slice(0, 200)}`)
  const view = JSON.parse(body) as NodesView
  return registeredRoles.flatMap((role) => view[role] ?? [])
}
