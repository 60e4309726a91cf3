import os from 'node:os'

import type {Redis} from 'ioredis'

import {
  HEARTBEAT_INTERVAL_MS,
  REGISTRY_TTL_SECONDS,
  registryKey,
  registryRecordSchema,
  type RegisteredRole,
  type RegistryRecord,
} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'

/** What a component reports on each heartbeat; cpu is measured here. */
export type LoadReport = Omit<RegistryRecord['load'], 'cpu'> & {
  /** CPU time (µs) spent outside this Node process since start, e.g. by mediasoup workers. */
  extraCpuMicros?: number
}

/** The task's address on the overlay network: the first non-internal IPv4 (then IPv6) interface. */
export function ownAddress(): string | undefined {
  const all = Object.values(os.networkInterfaces()).flatMap((list) => list ?? [])
  const external = all.filter((info) => !info.internal)
  return (external.find((info) => info.family === 'IPv4') ?? external.find((info) => info.family === 'IPv6'))?.address
}

/** Share of the box's CPUs used between two samples (0..1). */
export class CpuMeter {
  private lastWall = process.hrtime.bigint()
  private lastCpu = 0

  constructor(private readonly cpus = os.availableParallelism()) {
    this.lastCpu = this.processMicros(0)
  }

  sample(extraCpuMicros = 0): number {
    const now = process.hrtime.bigint()
    const cpu = this.processMicros(extraCpuMicros)
    const wallMicros = Number(now - this.lastWall) / 1000
    const used = cpu - this.lastCpu
    this.lastWall = now
    this.lastCpu = cpu
    if (wallMicros <= 0) return 0
    return Math.min(1, Math.max(0, used / (wallMicros * this.cpus)))
  }

  private processMicros(extra: number): number {
    const {user, system} = process.cpuUsage()
    return user + system + extra
  }
}

export interface HeartbeatOptions {
  redis: Redis
  role: RegisteredRole
  id: string
  host: string
  /** The record's publicHost: where the public reaches this process directly. */
  publicHost?: string
  ports: Record<string, number>
  load: () => LoadReport | Promise<LoadReport>
  log: Logger
  intervalMs?: number
}

export interface Heartbeat {
  readonly key: string
  /** The record last written (undefined before the first success). */
  readonly last: RegistryRecord | undefined
  /** Writes the record now (e.g. when load changed); never throws. */
  beat(): Promise<void>
  /** Stops beating and deletes the record, so assignment stops at once instead of after the TTL. */
  stop(): Promise<void>
}

/** SET <registryKey> <record> EX REGISTRY_TTL_SECONDS every HEARTBEAT_INTERVAL_MS. */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const {redis, role, id, host, ports, log} = options
  const key = registryKey(role, id)
  const startedAt = new Date().toISOString()
  const meter = new CpuMeter()
  let last: RegistryRecord | undefined
  let stopped = false
  let failing = false
  let inFlight: Promise<void> = Promise.resolve()

  const write = async (): Promise<void> => {
    const {extraCpuMicros, ...load} = await options.load()
    const record = registryRecordSchema.parse({
      id,
      role,
      host,
      ...(options.publicHost === undefined ? {} : {publicHost: options.publicHost}),
      ports,
      startedAt,
      heartbeatAt: new Date().toISOString(),
      load: {...load, cpu: meter.sample(extraCpuMicros)},
    })
    await redis.set(key, JSON.stringify(record), 'EX', REGISTRY_TTL_SECONDS)
    last = record
    if (failing) log.info({key}, 'heartbeat written again')
    failing = false
  }
  const beat = (): Promise<void> => {
    // One write at a time, so an older load never overwrites a newer one.
    inFlight = inFlight.then(async () => {
      if (stopped) return
      try {
        await write()
      } catch (error) {
        if (!failing) log.warn({key, err: (error as Error).message}, 'heartbeat failed; the record expires unless the next one gets through')
        failing = true
      }
    })
    return inFlight
  }
  const timer = setInterval(() => void beat(), options.intervalMs ?? HEARTBEAT_INTERVAL_MS)
  void beat()
  return {
    key,
    get last() {
      return last
    },
    beat,
    stop: async () => {
      clearInterval(timer)
      stopped = true
      await inFlight
      try {
        await redis.del(key)
        log.info({key}, 'deregistered')
      } catch (error) {
        log.warn({key, err: (error as Error).message}, 'could not delete the registry record; it expires by its TTL')
      }
    },
  }
}
