import type {ContainerTaskSpec, Engine} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {imageOf, waitHealthy, type ProgressEvent, type ServiceHealth} from '../up/apply.js'
import type {StackServiceName} from '../logs/logs.js'
import {coreServiceNames, dockerName} from '../stack/names.js'

/** Replaces every task of one service (a forced update), then waits until it is healthy again. */
export async function restartService(
  engine: Engine,
  options: {component: StackServiceName; timeoutMs: number; onProgress: (e: ProgressEvent) => void},
): Promise<ServiceHealth> {
  const name = dockerName(options.component)
  const current = await engine.inspectService(name)
  if (current === undefined) throw new AbortError(`Service ${name} does not exist.`, ['Bring the stack up first: shing up'])
  const task = current.spec.TaskTemplate as ContainerTaskSpec
  const spec = {...current.spec, TaskTemplate: {...task, ForceUpdate: (task.ForceUpdate ?? 0) + 1}}
  await engine.updateService(name, current.version, spec)
  const tier = (coreServiceNames as readonly string[]).includes(options.component) ? 'core' : 'app'
  return waitHealthy(
    engine,
    {name: options.component, dockerName: name, image: imageOf(spec), tier},
    {timeoutMs: options.timeoutMs, onProgress: options.onProgress, announce: true, expectUpdate: true},
  )
}
