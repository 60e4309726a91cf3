import type {Writable} from 'node:stream'

import {componentNames} from '../../appliance/contract/index.js'
import type {Engine} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {coreServiceNames, dockerName} from '../stack/names.js'

export const serviceNames = [...coreServiceNames, ...componentNames] as const
export type StackServiceName = (typeof serviceNames)[number]

export function checkServiceName(name: string): StackServiceName {
  if (!(serviceNames as readonly string[]).includes(name)) {
    throw new AbortError(`There is no component named "${name}".`, [`Use one of: ${serviceNames.join(', ')}`])
  }
  return name as StackServiceName
}

/** `docker service logs`: every task's output, onto the given streams. */
export async function streamLogs(
  engine: Engine,
  options: {component: StackServiceName; follow: boolean; since?: string; tail?: number; stdout: Writable; stderr: Writable},
): Promise<void> {
  const name = dockerName(options.component)
  if ((await engine.inspectService(name)) === undefined) {
    throw new AbortError(`Service ${name} does not exist.`, ['Bring the stack up first: shing up'])
  }
  await engine.serviceLogs(
    name,
    {
      follow: options.follow,
      timestamps: true,
      ...(options.since ? {since: sinceSeconds(options.since)} : {}),
      ...(options.tail !== undefined ? {tail: options.tail} : {}),
    },
    {stdout: options.stdout, stderr: options.stderr},
  )
}

/** `10m`, `2h`, `30s`, `1d` → a UNIX timestamp; a number or date passes through. */
export function sinceSeconds(since: string, now = Date.now()): number {
  const m = /^(\d+)([smhd])$/.exec(since)
  if (m) return Math.floor(now / 1000) - Number(m[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[m[2] as 's' | 'm' | 'h' | 'd']
  const date = Date.parse(since)
  if (!Number.isNaN(date)) return Math.floor(date / 1000)
  throw new AbortError(`--since ${since} is neither a duration nor a date.`, ['Use e.g. --since 10m, --since 2h or --since 2026-11-21T10:00:00Z'])
}
