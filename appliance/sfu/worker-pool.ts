import {once} from 'node:events'
import os from 'node:os'

import * as mediasoup from 'mediasoup'
import type {types} from 'mediasoup'

import type {ComponentContext, RunningComponent} from '../platform/component.js'
import {redisCheck} from '../platform/checks.js'
import {createHttpServer, listen, type HealthCheck} from '../platform/http-server.js'
import {startHeartbeat} from '../registry/heartbeat.js'

/** What browsers send without negotiation surprises; rooms (issue 5+) pick from these. */
export const mediaCodecs: types.RouterRtpCodecCapability[] = [
  {kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2},
  {kind: 'video', mimeType: 'video/VP8', clockRate: 90_000},
  {kind: 'video', mimeType: 'video/H264', clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1}},
]

interface WorkerSlot {
  worker: types.Worker
  router: types.Router
  /** Why it died, once it has. */
  death?: string
}

/**
 * SFU: mediasoup workers (profile sfu.workers, 0 = one per CPU), one Router each. Calls and
 * co-streaming rooms come later; health fails as soon as any worker dies, so swarm replaces the task.
 */
export async function startSfu(ctx: ComponentContext<'sfu'>): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const count = env.profile.sfu.workers === 0 ? os.availableParallelism() : env.profile.sfu.workers
  const slots: WorkerSlot[] = []
  let stopping = false
  try {
    for (let i = 0; i < count; i += 1) {
      // Every worker gets the whole range: each binds a free port in it per transport.
      const worker = await mediasoup.createWorker({
        logLevel: 'warn',
        rtcMinPort: env.SHING_WEBRTC_MIN_PORT,
        rtcMaxPort: env.SHING_WEBRTC_MAX_PORT,
      })
      const slot: WorkerSlot = {worker, router: await worker.createRouter({mediaCodecs})}
      worker.on('died', (error) => {
        slot.death = error.message
        if (!stopping) log.error({workerPid: worker.pid, err: error.message}, 'mediasoup worker died')
      })
      slots.push(slot)
    }
  } catch (error) {
    for (const slot of slots) slot.worker.close()
    throw new Error(`mediasoup worker failed to start (${mediasoup.workerBin}): ${(error as Error).message}`, {cause: error})
  }
  log.info({workers: count, pids: slots.map((s) => s.worker.pid), version: mediasoup.version}, 'mediasoup workers running')

  const alive = (): WorkerSlot[] => slots.filter((s) => s.death === undefined && !s.worker.closed)
  const workersCheck: HealthCheck = {
    name: 'mediasoup',
    kind: 'self',
    run: async () => {
      const dead = slots.filter((s) => !alive().includes(s))
      if (dead.length > 0) throw new Error(dead.map((s) => `worker ${s.worker.pid} ${s.death === undefined ? 'closed' : `died: ${s.death}`}`).join('; '))
      // Alive is not enough: each must answer a request over its channel.
      await Promise.all(slots.map((s) => s.worker.getResourceUsage()))
    },
  }
  metrics.gauge('shing_sfu_workers', 'mediasoup workers this SFU runs (configured)', () => count)
  metrics.gauge('shing_sfu_workers_alive', 'mediasoup workers alive', () => alive().length)
  metrics.gauge('shing_sfu_routers', 'mediasoup routers open', () => slots.filter((s) => !s.router.closed).length)

  const app = createHttpServer({component: 'sfu', checks: [redisCheck(redis), workersCheck], metrics, log})
  await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

  const heartbeat = startHeartbeat({
    redis,
    role: 'sfu',
    id: ctx.id,
    host: ctx.host,
    ports: {http: ctx.ports.http, rtcMin: env.SHING_WEBRTC_MIN_PORT, rtcMax: env.SHING_WEBRTC_MAX_PORT},
    load: async () => {
      // The media work happens in the workers: count their CPU with this process's.
      const usage = await Promise.all(alive().map((s) => s.worker.getResourceUsage().catch(() => undefined)))
      const workerMs = usage.reduce((sum, u) => sum + (u === undefined ? 0 : u.ru_utime + u.ru_stime), 0)
      return {streams: 0, viewers: 0, egressBitsPerSecond: 0, extraCpuMicros: workerMs * 1000}
    },
    log,
  })

  return {
    stop: async () => {
      stopping = true
      await heartbeat.stop()
      await app.close()
      // Wait for the worker processes to be gone, so none outlives the container's main process.
      const exited = slots.map((s) => (s.worker.subprocessClosed ? Promise.resolve() : once(s.worker, 'subprocessclose').then(() => undefined)))
      for (const slot of slots) slot.worker.close()
      await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 3000))])
    },
  }
}
