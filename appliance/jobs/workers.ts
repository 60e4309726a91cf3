/**
 * The workers that are up, in Redis: each worker process heartbeats what it can do (its
 * capabilities) and how busy it is, with a TTL, so that an encode job goes to a GPU worker only
 * while one is there, and `shing jobs` shows who consumes the queues.
 */
import type {Redis} from 'ioredis'
import {z} from 'zod'

import type {EncoderKind} from '../contract/hardware-profile.js'
import {safeJson} from '../platform/json.js'
import {capabilities, gpuCapabilities, type Capability} from './catalog.js'

export const WORKER_KEY_PREFIX = 'shing:workers'
export const WORKER_HEARTBEAT_MS = 5000
/** A worker that has not heartbeat for this long is gone. */
export const WORKER_TTL_SECONDS = 15

export const workerRecordSchema = z.object({
  id: z.string(),
  capabilities: z.array(z.enum(capabilities)),
  /** Jobs per type at once: general and video queues. */
  concurrency: z.object({general: z.number().int(), video: z.number().int()}),
  /** Jobs running now. */
  active: z.number().int().min(0),
  startedAt: z.string(),
  heartbeatAt: z.string(),
})
export type WorkerRecord = z.infer<typeof workerRecordSchema>

const GPU_OF: Record<EncoderKind, Capability | undefined> = {x264: undefined, nvenc: 'video-gpu-nvenc', vaapi: 'video-gpu-vaapi', qsv: 'video-gpu-qsv'}

/**
 * What a worker can do: every worker runs general and CPU video jobs; one whose profile encodes on
 * a GPU also takes GPU encodes. `override` (SHING_WORKER_CAPABILITIES) replaces that list.
 */
export function workerCapabilities(encoder: EncoderKind, override?: string): Capability[] {
  if (override !== undefined && override.trim() !== '') {
    const listed = override.split(',').map((c) => c.trim()).filter(Boolean)
    const unknown = listed.filter((c) => !(capabilities as readonly string[]).includes(c))
    if (unknown.length > 0) throw new Error(`SHING_WORKER_CAPABILITIES names ${unknown.join(', ')}: known are ${capabilities.join(', ')}`)
    return [...new Set(listed)] as Capability[]
  }
  const gpu = GPU_OF[encoder]
  return gpu === undefined ? ['general', 'video-cpu'] : ['general', 'video-cpu', gpu]
}

export const hasGpu = (record: Pick<WorkerRecord, 'capabilities'>): boolean => record.capabilities.some((c) => (gpuCapabilities as readonly string[]).includes(c))

export async function heartbeatWorker(redis: Redis, record: WorkerRecord): Promise<void> {
  await redis.set(`${WORKER_KEY_PREFIX}:${record.id}`, JSON.stringify(record), 'EX', WORKER_TTL_SECONDS)
}

export async function forgetWorker(redis: Redis, id: string): Promise<void> {
  await redis.del(`${WORKER_KEY_PREFIX}:${id}`)
}

/** The workers whose heartbeat is fresh, by id. */
export async function liveWorkers(redis: Redis): Promise<WorkerRecord[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${WORKER_KEY_PREFIX}:*`, 'COUNT', 200)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  if (keys.length === 0) return []
  const now = Date.now()
  return (await redis.mget(keys))
    .flatMap((value) => {
      const parsed = workerRecordSchema.safeParse(safeJson(value ?? ''))
      return parsed.success && now - Date.parse(parsed.data.heartbeatAt) <= WORKER_TTL_SECONDS * 1000 ? [parsed.data] : []
    })
    .sort((a, b) => a.id.localeCompare(b.id))
}
