import type Docker from 'dockerode'

import {connectEngine} from '../engine/docker.js'
import {errorMessage} from '../errors.js'
import {logger} from '../logger.js'
import {readActualStack} from './engine-state.js'
import {labels, NETWORK, STACK} from './names.js'

const log = logger('stack')
const stackFilter = {label: [`${labels.stack}=${STACK}`]}

export interface DownResult {
  removed: {services: string[]; secrets: string[]; configs: string[]; network: boolean; volumes: string[]; swarm: boolean}
  keptVolumes: string[]
}

async function retry<T>(what: string, fn: () => Promise<T>, attempts = 30): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn()
    } catch (error) {
      if (i >= attempts) throw error
      log.debug({what, error: errorMessage(error)}, 'retrying')
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

/** Removes the stack; volumes (the data) only when asked. Already gone counts as done. */
export async function down(options: {removeVolumes: boolean}): Promise<DownResult> {
  const docker = connectEngine({timeoutMs: 60_000})
  const actual = await readActualStack(docker)
  const result: DownResult = {removed: {services: [], secrets: [], configs: [], network: false, volumes: [], swarm: false}, keptVolumes: []}
  if (actual.swarm.state === 'active' && actual.swarm.isManager) {
    for (const s of actual.services) {
      await docker.getService(s.dockerName).remove().catch(ignoreMissing)
      result.removed.services.push(s.dockerName)
    }
    await waitContainersGone(docker)
    for (const name of actual.secrets) {
      await retry(name, () => docker.getSecret(name).remove().catch(ignoreMissing))
      result.removed.secrets.push(name)
    }
    for (const name of actual.configs) {
      await retry(name, () => docker.getConfig(name).remove().catch(ignoreMissing))
      result.removed.configs.push(name)
    }
    if (actual.network) {
      await retry(NETWORK, () => docker.getNetwork(NETWORK).remove().catch(ignoreMissing))
      result.removed.network = true
    }
  }
  const volumes = ((await docker.listVolumes({filters: stackFilter})).Volumes ?? []).map((v) => v.Name)
  if (options.removeVolumes) {
    for (const name of volumes) {
      await retry(name, () => docker.getVolume(name).remove().catch(ignoreMissing))
      result.removed.volumes.push(name)
    }
    // The swarm too, when Shing made it and nothing else runs in it: nothing of Shing remains.
    if (actual.swarm.createdByShing && (await docker.listServices()).length === 0) {
      await docker.swarmLeave({force: true})
      result.removed.swarm = true
    }
  } else result.keptVolumes = volumes
  return result
}

async function waitContainersGone(docker: Docker): Promise<void> {
  await retry('stack containers to stop', async () => {
    const left = await docker.listContainers({all: true, filters: stackFilter})
    if (left.length > 0) throw new Error(`${left.length} containers still there`)
  }, 90)
}

function ignoreMissing(error: unknown): void {
  const status = (error as {statusCode?: number}).statusCode
  if (status === 404) return
  throw error
}
