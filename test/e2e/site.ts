/**
 * A Shing site on a test box: a Docker engine in its own network namespace (not yet a swarm),
 * images built offline and loaded into it, and a `shing init`ed config pointing at them.
 */
import {execa} from 'execa'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {expect} from 'vitest'
import YAML from 'yaml'

import {runShing, type CliRun} from '../harness/cli.js'
import {ensureImages} from '../harness/images.js'
import {tempDir} from '../harness/process.js'
import {startSwarm, type SwarmBox} from '../harness/swarm.js'

export interface Site {
  box: SwarmBox
  dir: string
  /** DOCKER_HOST for the box's engine. */
  env: NodeJS.ProcessEnv
  shing(...args: string[]): Promise<CliRun>
  editConfig(change: (c: Record<string, unknown>) => void): Promise<void>
  /** Runs a command inside the box's network namespace, where its published ports are. */
  inBox(command: string, args: string[], timeoutMs?: number): Promise<{stdout: string; stderr: string; exitCode?: number}>
  stop(): Promise<void>
}

export const explain = (run: CliRun): string => `exit ${run.exitCode}\nstdout: ${run.stdout.slice(-3000)}\nstderr: ${run.stderr.slice(-3000)}`

/** A site as `shing init` makes one on the box's address: plain HTTP (--tls none) unless told otherwise. */
export async function startSite(initArgs: string[] = [], options: {tls?: 'none' | 'auto'} = {}): Promise<Site> {
  const {dir, remove} = await tempDir('site')
  const swarm = await startSwarm({boxes: 1, form: false})
  const box = swarm.manager
  const env = {DOCKER_HOST: `unix://${box.socketPath}`}
  const stop = async (): Promise<void> => {
    await swarm.stop()
    await remove()
  }
  try {
    const images = await ensureImages(box.docker, ['appliance', 'redis', 'ferretdb', 'minio', 'caddy'])
    const init = await runShing(
      ['init', '--yes', '--json', '--dir', dir, '--hostname', box.address, '--tls', options.tls ?? 'none', '--webrtc-ports', '40000-40004', '--data-dir', dir, ...initArgs],
      {env},
    )
    expect(init.exitCode, explain(init)).toBe(0)
    const editConfig = async (change: (c: Record<string, unknown>) => void): Promise<void> => {
      const file = path.join(dir, 'shing.yaml')
      const doc = YAML.parseDocument(await readFile(file, 'utf8'))
      const value = doc.toJS() as Record<string, unknown>
      change(value)
      for (const [key, v] of Object.entries(value)) doc.set(key, v)
      await writeFile(file, doc.toString())
    }
    await editConfig((c) => {
      // The appliance runs under its default name (shing/appliance:<version>), built from appliance/Dockerfile.
      c.images = {mongo: images.ferretdb, redis: images.redis, minio: images.minio, caddy: images.caddy}
      // This kernel has no ESP: an encrypted overlay passes no packets here (see src/hardware/kernel.ts).
      c.swarm = {encryptOverlay: false}
    })
    return {
      box,
      dir,
      env,
      shing: (...args) => runShing([...args, '--dir', dir], {env}),
      editConfig,
      inBox: async (command, args, timeoutMs = 30_000) => {
        const r = await execa('ip', ['netns', 'exec', box.netns, command, ...args], {reject: false, timeout: timeoutMs})
        return {stdout: String(r.stdout), stderr: String(r.stderr), ...(r.exitCode === undefined ? {} : {exitCode: r.exitCode})}
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
