import type Docker from 'dockerode'

import {AbortError, errorMessage} from '../errors.js'
import type {ActualStack} from './diff.js'
import {labels, NETWORK, STACK} from './names.js'

const stackFilter = {label: [`${labels.stack}=${STACK}`]}

/** What the engine holds of the stack, read from `io.shing.*` labels. */
export async function readActualStack(docker: Docker): Promise<ActualStack> {
  let info: {Swarm?: {LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string}}
  try {
    info = (await docker.info()) as typeof info
  } catch (error) {
    throw engineUnreachable(error)
  }
  const state = info.Swarm?.LocalNodeState ?? 'inactive'
  const isManager = info.Swarm?.ControlAvailable === true
  if (state !== 'active' || !isManager) {
    return {swarm: {state, isManager, createdByShing: false}, nodeLabels: {}, secrets: [], configs: [], services: []}
  }
  const [swarm, node, networks, secrets, configs, services] = await Promise.all([
    docker.swarmInspect() as Promise<{Spec?: {Labels?: Record<string, string>}}>,
    docker.getNode(info.Swarm?.NodeID ?? '').inspect() as Promise<{Spec?: {Labels?: Record<string, string>}}>,
    docker.listNetworks({filters: {name: [NETWORK]}}),
    docker.listSecrets({filters: stackFilter}),
    docker.listConfigs({filters: stackFilter}),
    docker.listServices({filters: stackFilter}),
  ])
  const network = networks.find((n) => n.Name === NETWORK)
  return {
    swarm: {state, isManager, createdByShing: swarm.Spec?.Labels?.[labels.createdBy] === STACK},
    nodeLabels: node.Spec?.Labels ?? {},
    ...(network ? {network: {name: NETWORK, encrypted: network.Options?.encrypted !== undefined}} : {}),
    secrets: secrets.map((s) => s.Spec?.Name ?? '').filter(Boolean),
    configs: configs.map((c) => (c.Spec as {Name?: string} | undefined)?.Name ?? '').filter(Boolean),
    services: services.map((s) => {
      const l = s.Spec?.Labels ?? {}
      return {
        dockerName: s.Spec?.Name ?? '',
        ...(l[labels.component] ? {component: l[labels.component]} : {}),
        ...(l[labels.specHash] ? {hash: l[labels.specHash]} : {}),
      }
    }),
  }
}

export function engineUnreachable(error: unknown): AbortError {
  return new AbortError(`The Docker engine is not reachable: ${errorMessage(error)}`, [
    'Start Docker on this box (systemctl start docker), or point DOCKER_HOST at the engine',
    'Check with: shing doctor',
  ])
}
