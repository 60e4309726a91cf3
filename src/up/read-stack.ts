import type {Engine} from '../engine/engine.js'
import type {ActualStack} from '../stack/diff.js'
import {labels, NETWORK, STACK} from '../stack/names.js'

export const stackLabels = {[labels.stack]: STACK}

/** What the engine holds of the stack, read from `io.shing.*` labels. */
export async function readActualStack(engine: Engine): Promise<ActualStack> {
  const info = await engine.info()
  const {state, isManager, nodeId} = info.swarm
  if (state !== 'active' || !isManager || nodeId === undefined) {
    return {swarm: {state, isManager, createdByShing: false}, nodeLabels: {}, secrets: [], configs: [], services: []}
  }
  const [swarmLabels, nodes, networks, secrets, configs, services] = await Promise.all([
    engine.swarmLabels(),
    engine.listNodes(),
    engine.listNetworks(NETWORK),
    engine.listSecrets(stackLabels),
    engine.listConfigs(stackLabels),
    engine.listServices({labels: stackLabels}),
  ])
  const network = networks[0]
  return {
    swarm: {state, isManager, createdByShing: swarmLabels[labels.createdBy] === STACK},
    nodeLabels: nodes.find((n) => n.id === nodeId)?.labels ?? {},
    ...(network ? {network: {name: NETWORK, encrypted: network.options.encrypted !== undefined}} : {}),
    secrets: secrets.map((s) => s.name),
    configs: configs.map((c) => c.name),
    services: services.map((s) => ({
      dockerName: s.name,
      ...(s.labels[labels.component] ? {component: s.labels[labels.component]} : {}),
      ...(s.labels[labels.specHash] ? {hash: s.labels[labels.specHash]} : {}),
    })),
  }
}
