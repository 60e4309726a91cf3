import Docker from 'dockerode'

import {errorMessage} from '../errors.js'

/** Oldest engine Shing supports: Debian 12's docker.io (20.10, API 1.41). */
export const MIN_ENGINE_VERSION = '20.10.0'
export const MIN_API_VERSION = '1.41'

export interface EngineTarget {
  /** e.g. unix:///var/run/docker.sock, tcp://box:2376; default: DOCKER_HOST or the local socket. */
  host?: string
  timeoutMs?: number
}

/** A dockerode client for the target; DOCKER_HOST/DOCKER_CERT_PATH apply as in the docker CLI. */
export function connectEngine(target: EngineTarget = {}): Docker {
  const timeout = target.timeoutMs ?? 5000
  const host = target.host
  if (host === undefined) return new Docker({timeout})
  if (host.startsWith('unix://')) return new Docker({socketPath: host.slice('unix://'.length), timeout})
  const url = new URL(host)
  return new Docker({
    host: url.hostname,
    port: url.port === '' ? 2375 : Number(url.port),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    timeout,
  })
}

export function describeTarget(target: EngineTarget = {}): string {
  return target.host ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'
}

export interface EngineReport {
  reachable: boolean
  host: string
  version?: string
  apiVersion?: string
  os?: string
  swarm?: {state: string; nodeId?: string; isManager: boolean; clusterId?: string}
  runtimes: string[]
  defaultRuntime?: string
  error?: string
}

/** What the engine says about itself; an unreachable engine is a report, not a throw. */
export async function inspectEngine(target: EngineTarget = {}): Promise<EngineReport> {
  const host = describeTarget(target)
  const docker = connectEngine(target)
  try {
    const [version, info] = await Promise.all([docker.version(), docker.info() as Promise<DockerInfo>])
    const swarm = info.Swarm
    return {
      reachable: true,
      host,
      version: version.Version,
      apiVersion: version.ApiVersion,
      os: info.OperatingSystem,
      swarm: {
        state: swarm?.LocalNodeState ?? 'inactive',
        ...(swarm?.NodeID ? {nodeId: swarm.NodeID} : {}),
        isManager: swarm?.ControlAvailable === true,
        ...(swarm?.Cluster?.ID ? {clusterId: swarm.Cluster.ID} : {}),
      },
      runtimes: Object.keys(info.Runtimes ?? {}).sort(),
      ...(info.DefaultRuntime ? {defaultRuntime: info.DefaultRuntime} : {}),
    }
  } catch (error) {
    return {reachable: false, host, runtimes: [], error: errorMessage(error)}
  }
}

/** The subset of `GET /info` Shing reads. */
interface DockerInfo {
  OperatingSystem?: string
  Runtimes?: Record<string, unknown>
  DefaultRuntime?: string
  Swarm?: {LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean; Cluster?: {ID?: string}}
}

/** Compares dotted versions numerically: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}
