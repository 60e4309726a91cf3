import type {Writable} from 'node:stream'

import {componentNames} from '../../appliance/contract/index.js'
import {connectEngine} from '../engine/docker.js'
import {AbortError} from '../errors.js'
import {coreServiceNames, dockerName} from './names.js'

export const serviceNames = [...coreServiceNames, ...componentNames] as const
export type StackServiceName = (typeof serviceNames)[number]

export function checkServiceName(name: string): StackServiceName {
  if (!(serviceNames as readonly string[]).includes(name)) {
    throw new AbortError(`There is no component named "${name}".`, [`Use one of: ${serviceNames.join(', ')}`])
  }
  return name as StackServiceName
}

/** `docker service logs`: every task's output, demultiplexed onto the given streams. */
export async function streamLogs(options: {
  component: StackServiceName
  follow: boolean
  since?: string
  tail?: number
  stdout: Writable
  stderr: Writable
}): Promise<void> {
  const docker = connectEngine({timeoutMs: options.follow ? 0 : 60_000})
  const service = docker.getService(dockerName(options.component))
  await service.inspect().catch(() => {
    throw new AbortError(`Service ${dockerName(options.component)} does not exist.`, ['Bring the stack up first: shing up'])
  })
  const query = {
    stdout: true,
    stderr: true,
    timestamps: true,
    follow: options.follow,
    ...(options.since ? {since: sinceSeconds(options.since)} : {}),
    ...(options.tail !== undefined ? {tail: options.tail} : {}),
  }
  const result = (await service.logs(query as Parameters<typeof service.logs>[0])) as unknown
  if (Buffer.isBuffer(result)) {
    const {demuxLogs} = await import('./docker-logs.js')
    options.stdout.write(demuxLogs(result))
    return
  }
  const stream = result as NodeJS.ReadableStream
  docker.modem.demuxStream(stream, options.stdout, options.stderr)
  await new Promise((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('error', reject)
  })
}

/** `10m`, `2h`, `30s`, `1d` → a UNIX timestamp; a number or date passes through. */
export function sinceSeconds(since: string, now = Date.now()): number {
  const m = /^(\d+)([smhd])$/.exec(since)
  if (m) return Math.floor(now / 1000) - Number(m[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[m[2] as 's' | 'm' | 'h' | 'd']
  const date = Date.parse(since)
  if (!Number.isNaN(date)) return Math.floor(date / 1000)
  throw new AbortError(`--since ${since} is neither a duration nor a date.`, ['Use e.g. --since 10m, --since 2h or --since 2026-11-21T10:00:00Z'])
}
