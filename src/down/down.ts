import type {Engine} from '../engine/engine.js'
import {EngineError} from '../engine/docker-engine.js'
import {pollUntil} from '../engine/poll.js'
import {readActualStack, stackLabels} from '../up/read-stack.js'
import {NETWORK} from '../stack/names.js'

export interface DownResult {
  removed: {services: string[]; secrets: string[]; configs: string[]; network: boolean; volumes: string[]; swarm: boolean}
  keptVolumes: string[]
}

/** Removing a secret, config or network fails while a stopping container still holds it: try again. */
async function removeOnceFree(what: string, remove: () => Promise<void>): Promise<void> {
  await pollUntil(
    async () => {
      try {
        await remove()
        return true
      } catch (error) {
        if (error instanceof EngineError && /in use|has active endpoints/i.test(error.reason)) return undefined
        throw error
      }
    },
    {what: `${what} to be free`, timeoutMs: 30_000, intervalMs: 1000},
  )
}

/** Removes the stack; volumes (the data) only when asked. Already gone counts as done. */
export async function down(engine: Engine, options: {removeVolumes: boolean}): Promise<DownResult> {
  const actual = await readActualStack(engine)
  const result: DownResult = {removed: {services: [], secrets: [], configs: [], network: false, volumes: [], swarm: false}, keptVolumes: []}
  if (actual.swarm.state === 'active' && actual.swarm.isManager) {
    for (const s of actual.services) {
      await engine.removeService(s.dockerName)
      result.removed.services.push(s.dockerName)
    }
    await pollUntil(async () => ((await engine.listContainers({labels: stackLabels})).length === 0 ? true : undefined), {
      what: "the stack's containers to stop",
      timeoutMs: 90_000,
      intervalMs: 1000,
    })
    for (const name of actual.secrets) {
      await removeOnceFree(name, () => engine.removeSecret(name))
      result.removed.secrets.push(name)
    }
    for (const name of actual.configs) {
      await removeOnceFree(name, () => engine.removeConfig(name))
      result.removed.configs.push(name)
    }
    if (actual.network) {
      await removeOnceFree(NETWORK, () => engine.removeNetwork(NETWORK))
      result.removed.network = true
    }
  }
  const volumes = await engine.listVolumes(stackLabels)
  if (options.removeVolumes) {
    for (const name of volumes) {
      await removeOnceFree(name, () => engine.removeVolume(name))
      result.removed.volumes.push(name)
    }
    // The swarm too, when Shing made it and nothing else runs in it: nothing of Shing remains.
    if (actual.swarm.createdByShing && (await engine.listServices({})).length === 0) {
      await engine.swarmLeave()
      result.removed.swarm = true
    }
  } else result.keptVolumes = volumes
  return result
}
