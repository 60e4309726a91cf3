import type {ComponentName} from '../../appliance/contract/index.js'

/** The stack's name: every Docker object Shing owns starts with it and carries its label. */
export const STACK = 'shing'

export const coreServiceNames = ['mongo', 'redis', 'minio', 'edge'] as const
export type CoreServiceName = (typeof coreServiceNames)[number]
export type ServiceName = CoreServiceName | ComponentName

export const labels = {
  stack: 'io.shing.stack',
  component: 'io.shing.component',
  specHash: 'io.shing.spec-hash',
  /** On tasks' containers: the task template's hash, to tell this spec's tasks from older ones. */
  taskHash: 'io.shing.task-hash',
  version: 'io.shing.version',
  /** On the swarm itself: Shing created it. */
  createdBy: 'io.shing.created-by',
  /** On nodes: the box holds MongoDB, Redis, MinIO and the edge. */
  core: 'io.shing.core',
  role: (role: string) => `io.shing.role.${role}`,
} as const

export const dockerName = (name: string): string => `${STACK}_${name}`
export const NETWORK = dockerName('net')
