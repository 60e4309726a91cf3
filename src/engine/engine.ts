/**
 * The one port to a Docker engine. Use cases see these types, never dockerode's replies: the
 * adapter (docker-engine.ts) reads the engine's answers once and hands back these shapes.
 */
import type {Readable, Writable} from 'node:stream'

import type Docker from 'dockerode'

/** What Shing asks the engine to run: swarm service specs as the Engine API takes them. */
export type ServiceSpec = Docker.ServiceSpec
export type ContainerTaskSpec = Docker.ContainerTaskSpec
export type MountSettings = Docker.MountSettings
export type PortConfig = Docker.PortConfig
export type ServiceMode = Docker.ServiceMode

export type Labels = Record<string, string>

export interface EngineInfo {
  version: string
  apiVersion: string
  os: string
  swarm: {state: string; nodeId?: string; isManager: boolean; clusterId?: string}
  runtimes: string[]
  defaultRuntime?: string
}

export interface NodeInfo {
  id: string
  hostname: string
  labels: Labels
  role: string
  availability: string
  state: string
  address?: string
}

export interface NamedObject {
  id: string
  name: string
}

export interface NetworkInfo {
  name: string
  options: Record<string, string>
}

export interface ServiceInfo {
  id: string
  name: string
  labels: Labels
  /** The spec's version: an update must name it. */
  version: number
  spec: ServiceSpec
  previousSpec?: ServiceSpec
  running: number
  desired: number
  update?: {state: string; message?: string}
  publishedPorts: Array<{protocol: string; port: number}>
}

export interface TaskInfo {
  id: string
  nodeId?: string
  createdAt?: string
  desiredState?: string
  state?: string
  error?: string
  message?: string
  timestamp?: string
  containerId?: string
  /** ForceUpdate counter of the task's template (a restart bumps it). */
  forceUpdate: number
  containerLabels: Labels
  image?: string
}

export interface ContainerInfo {
  id: string
  labels: Labels
  state: string
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface LogOptions {
  follow: boolean
  since?: number
  tail?: number
  timestamps?: boolean
}

/** One line of progress from a pull, load or build. */
export type ImageProgress = {kind: 'status'; text: string} | {kind: 'bytes'; done: number; total?: number; id?: string}

export interface BuildOptions {
  tag: string
  /** Path of the Dockerfile inside the context. */
  dockerfile: string
  buildArgs?: Record<string, string>
  /** `host` lets RUN steps use the box's own network (and its proxies). */
  networkMode?: string
  labels?: Labels
}

export interface SwarmInitOptions {
  advertiseAddr?: string
  labels: Labels
}

/** The engine, as the use cases need it. Already-in-state counts as success (remove of a missing thing). */
export interface Engine {
  /** Where it is, for messages: unix:///…, tcp://…, ssh://… */
  readonly address: string

  /** Throws EngineUnreachableError when the engine does not answer. */
  info(): Promise<EngineInfo>

  swarmInit(options: SwarmInitOptions): Promise<void>
  swarmLabels(): Promise<Labels>
  swarmLeave(): Promise<void>
  listNodes(): Promise<NodeInfo[]>
  /** Adds labels to a node (keeps the others). */
  labelNode(nodeId: string, labels: Labels): Promise<void>

  listNetworks(name: string): Promise<NetworkInfo[]>
  createOverlayNetwork(options: {name: string; labels: Labels; encrypted: boolean}): Promise<void>
  removeNetwork(name: string): Promise<void>

  listSecrets(labels: Labels): Promise<NamedObject[]>
  createSecret(options: {name: string; labels: Labels; value: string}): Promise<void>
  removeSecret(name: string): Promise<void>
  listConfigs(labels: Labels): Promise<NamedObject[]>
  createConfig(options: {name: string; labels: Labels; value: string}): Promise<void>
  removeConfig(name: string): Promise<void>

  listServices(filter: {labels?: Labels; name?: string}): Promise<ServiceInfo[]>
  /** undefined when there is no such service. */
  inspectService(name: string): Promise<ServiceInfo | undefined>
  createService(spec: ServiceSpec): Promise<void>
  updateService(name: string, version: number, spec: ServiceSpec): Promise<void>
  removeService(name: string): Promise<void>
  listTasks(filter: {service: string; desiredState?: string}): Promise<TaskInfo[]>
  /** A service's logs (every task), demultiplexed onto the two streams; with follow, until the stream ends. */
  serviceLogs(name: string, options: LogOptions, out: {stdout: Writable; stderr: Writable}): Promise<void>

  listContainers(filter: {labels: Labels; running?: boolean}): Promise<ContainerInfo[]>
  /** The container's healthcheck status (healthy, unhealthy, starting), undefined without one or when it is gone. */
  containerHealth(id: string): Promise<string | undefined>
  exec(containerId: string, cmd: string[]): Promise<ExecResult>

  listVolumes(labels: Labels): Promise<string[]>
  removeVolume(name: string): Promise<void>

  hasImage(ref: string): Promise<boolean>
  /** Asks the image's registry (through the engine, pulling nothing) whether it serves the image. */
  registryHasImage(ref: string): Promise<{available: true} | {available: false; reason: string}>
  /** Pulls from a registry; rejects with the registry's answer when it cannot. */
  pullImage(ref: string, onProgress: (p: ImageProgress) => void): Promise<void>
  /** Builds from a tar of the context. */
  buildImage(context: Readable, options: BuildOptions, onProgress: (p: ImageProgress) => void): Promise<void>
  loadImage(tar: Readable, onProgress?: (p: ImageProgress) => void): Promise<void>
  saveImage(ref: string): Promise<Readable>
}
