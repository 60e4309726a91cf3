/** (desired, actual) → actions. Pure: what `up --dry-run` prints and `up` carries out. */
import {labels, STACK, type ServiceName} from './names.js'
import type {PlannedService, StackPlan} from './plan.js'

export interface ActualStack {
  swarm: {state: string; isManager: boolean; createdByShing: boolean}
  /** Labels of the node `shing` talks to (the core box). */
  nodeLabels: Record<string, string>
  network?: {name: string; encrypted: boolean}
  secrets: string[]
  configs: string[]
  services: Array<{dockerName: string; component?: string; hash?: string}>
}

export type Action =
  | {kind: 'swarm.init'}
  | {kind: 'node.label'; labels: Record<string, string>}
  | {kind: 'network.create'; name: string; encrypted: boolean}
  | {kind: 'network.recreate'; name: string; encrypted: boolean; why: string}
  | {kind: 'secret.create'; name: string; key: string}
  | {kind: 'config.create'; name: string}
  | {kind: 'service.create'; service: ServiceName; tier: PlannedService['tier']}
  | {kind: 'service.update'; service: ServiceName; tier: PlannedService['tier']; from: string; to: string}
  | {kind: 'service.remove'; dockerName: string}
  | {kind: 'secret.remove'; name: string}
  | {kind: 'config.remove'; name: string}

/** Labels the core box needs on a first `up`: core, and every role (one box does it all). */
export function coreNodeLabels(): Record<string, string> {
  const out: Record<string, string> = {[labels.core]: 'true'}
  for (const role of ['web', 'ingest', 'relay', 'sfu', 'worker']) out[labels.role(role)] = 'true'
  return out
}

export function diffStack(plan: StackPlan, actual: ActualStack): Action[] {
  const actions: Action[] = []
  if (actual.swarm.state !== 'active') actions.push({kind: 'swarm.init'})

  // Only a box with none of our labels gets the defaults: later role choices are the admin's.
  const hasShingLabels = Object.keys(actual.nodeLabels).some((k) => k.startsWith('io.shing.'))
  if (!hasShingLabels) actions.push({kind: 'node.label', labels: coreNodeLabels()})

  const {network} = plan
  if (actual.network === undefined) actions.push({kind: 'network.create', ...network})
  else if (actual.network.encrypted !== network.encrypted) {
    actions.push({kind: 'network.recreate', ...network, why: `encryption ${actual.network.encrypted} → ${network.encrypted}`})
  }

  for (const s of plan.secrets) if (!actual.secrets.includes(s.name)) actions.push({kind: 'secret.create', name: s.name, key: s.key})
  for (const c of plan.configs) if (!actual.configs.includes(c.name)) actions.push({kind: 'config.create', name: c.name})

  for (const service of plan.services) {
    const current = actual.services.find((s) => s.dockerName === service.dockerName)
    if (current === undefined) actions.push({kind: 'service.create', service: service.name, tier: service.tier})
    else if (current.hash !== service.hash || actual.network === undefined || actions.some((a) => a.kind === 'network.recreate')) {
      actions.push({kind: 'service.update', service: service.name, tier: service.tier, from: current.hash ?? 'none', to: service.hash})
    }
  }
  for (const s of actual.services) {
    if (!plan.services.some((p) => p.dockerName === s.dockerName)) actions.push({kind: 'service.remove', dockerName: s.dockerName})
  }
  // Old secrets and configs go once nothing uses them (after the services moved on).
  for (const name of actual.secrets) if (!plan.secrets.some((s) => s.name === name)) actions.push({kind: 'secret.remove', name})
  for (const name of actual.configs) if (!plan.configs.some((c) => c.name === name)) actions.push({kind: 'config.remove', name})
  return actions
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'swarm.init':
      return 'make this box a single-node swarm'
    case 'node.label':
      return `label this box: ${Object.keys(a.labels).join(', ')}`
    case 'network.create':
      return `create overlay network ${a.name}${a.encrypted ? ' (encrypted)' : ''}`
    case 'network.recreate':
      return `recreate overlay network ${a.name} (${a.why})`
    case 'secret.create':
      return `create secret ${a.name} (${a.key})`
    case 'config.create':
      return `create config ${a.name}`
    case 'service.create':
      return `create service ${STACK}_${a.service}`
    case 'service.update':
      return `update service ${STACK}_${a.service} (spec ${a.from} → ${a.to})`
    case 'service.remove':
      return `remove service ${a.dockerName}`
    case 'secret.remove':
      return `remove unused secret ${a.name}`
    case 'config.remove':
      return `remove unused config ${a.name}`
  }
}
