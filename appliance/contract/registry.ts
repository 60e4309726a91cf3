/** The node registry in Redis: ingest, relay and sfu processes announce themselves and their load. */
import {z} from 'zod'

export const REGISTRY_PREFIX = 'shing:registry'
export const REGISTRY_TTL_SECONDS = 15
export const HEARTBEAT_INTERVAL_MS = 5000
export const registeredRoles = ['ingest', 'relay', 'sfu'] as const
export type RegisteredRole = (typeof registeredRoles)[number]

export const registryRecordSchema = z.object({
  id: z.string(),
  role: z.enum(registeredRoles),
  /** Address other containers reach it at (task IP or name) and its ports. */
  host: z.string(),
  /** Where the public reaches this process directly (an ingest box's RTMP); absent: SHING_PUBLIC_HOST. */
  publicHost: z.string().optional(),
  ports: z.record(z.string(), z.number()),
  startedAt: z.string(),
  heartbeatAt: z.string(),
  load: z.object({
    streams: z.number().default(0),
    viewers: z.number().default(0),
    /** 0..1 of the container's CPUs. */
    cpu: z.number(),
    egressBitsPerSecond: z.number().default(0),
    slotsUsed: z.number().optional(),
    slotsFree: z.number().optional(),
    /** SFUs: call rooms open, and the people in them (streams: producers; viewers: consumers). */
    rooms: z.number().optional(),
    participants: z.number().optional(),
  }),
})
export type RegistryRecord = z.infer<typeof registryRecordSchema>

/** Redis key of one registry record (a string with a TTL). */
export const registryKey = (role: RegisteredRole, id: string): string => `${REGISTRY_PREFIX}:${role}:${id}`

/** GET /api/nodes on web: the live registry by role, least loaded first. */
export const NODES_API_PATH = '/api/nodes'
export const nodesViewSchema = z.object({
  ingest: z.array(registryRecordSchema),
  relay: z.array(registryRecordSchema),
  sfu: z.array(registryRecordSchema),
})
export type NodesView = z.infer<typeof nodesViewSchema>
