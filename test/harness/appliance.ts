import path from 'node:path'

import type {ComponentName} from '../../appliance/contract.js'
import {repoRoot} from './cli.js'
import {freePort, startProcess, type ManagedProcess} from './process.js'

export const mainJs = path.join(repoRoot, 'dist/appliance/main.js')
export const adminJs = path.join(repoRoot, 'dist/appliance/admin.js')

export interface RunningComponent {
  process: ManagedProcess
  httpPort: number
  rtmpPort: number
}

/**
 * One appliance component as a process (`node dist/appliance/main.js <component>`) on ports of
 * its own, ready once its /healthz answers 200. `env` carries the site (Redis, MongoDB, S3…).
 */
export async function startComponent(options: {
  component: ComponentName
  env: NodeJS.ProcessEnv
  /** A label for logs and the registry id (SHING_TASK_NAME) when several run. */
  id?: string
  timeoutMs?: number
}): Promise<RunningComponent> {
  const [httpPort, rtmpPort] = [await freePort(), await freePort()]
  const {component} = options
  const process = await startProcess({
    name: `appliance ${options.id ?? component}`,
    command: globalThis.process.execPath,
    args: [mainJs, component],
    env: {
      ...options.env,
      SHING_COMPONENT: component,
      SHING_TASK_NAME: options.id,
      SHING_HTTP_PORT: String(httpPort),
      SHING_RTMP_PORT: String(rtmpPort),
    },
    ready: {probe: async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`, {signal: AbortSignal.timeout(3000)})).status === 200},
    timeoutMs: options.timeoutMs ?? 60_000,
  })
  return {process, httpPort, rtmpPort}
}
