import {connectEngine} from '../engine/docker.js'
import {AbortError} from '../errors.js'
import {imageOf, waitHealthy, type ProgressEvent, type ServiceHealth} from './apply.js'
import type {StackServiceName} from './logs.js'
import {coreServiceNames, dockerName} from './names.js'

/** Replaces every task of one service (a forced update), then waits until it is healthy again. */
export async function restartService(options: {
  component: StackServiceName
  timeoutMs: number
  onProgress: (e: ProgressEvent) => void
}): Promise<ServiceHealth> {
  const docker = connectEngine({timeoutMs: 60_000})
  const name = dockerName(options.component)
  const service = docker.getService(name)
  const current = (await service.inspect().catch(() => {
    throw new AbortError(`Service ${name} does not exist.`, ['Bring the stack up first: shing up'])
  })) as {Version: {Index: number}; Spec: {TaskTemplate?: {ForceUpdate?: number}} & Record<string, unknown>}
  const spec = {...current.Spec, TaskTemplate: {...current.Spec.TaskTemplate, ForceUpdate: (current.Spec.TaskTemplate?.ForceUpdate ?? 0) + 1}}
  await service.update({_query: {version: current.Version.Index}, _body: spec} as never)
  const tier = (coreServiceNames as readonly string[]).includes(options.component) ? 'core' : 'app'
  return waitHealthy(
    docker,
    {name: options.component, dockerName: name, image: imageOf(spec as never), tier},
    {timeoutMs: options.timeoutMs, onProgress: options.onProgress, announce: true, expectUpdate: true},
  )
}
