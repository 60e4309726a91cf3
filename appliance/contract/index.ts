/**
 * What the CLI (src/) and the appliance agree on: component names, ports, environment, secret
 * files, the node registry in Redis. src/ may import this file; the appliance never imports src/.
 */
import {z} from 'zod'

export const componentNames = ['web', 'ingest', 'relay', 'sfu', 'worker'] as const
export type ComponentName = (typeof componentNames)[number]

/** Ports inside the container. `http` serves /healthz and /metrics (and the app, for web). */
export const componentPorts: {[K in ComponentName]: {http: number; rtmp?: number}} = {
  web: {http: 8080},
  ingest: {http: 8081, rtmp: 1935},
  relay: {http: 8082},
  sfu: {http: 8083},
  worker: {http: 8084},
}

export const HEALTH_PATH = '/healthz'
export const METRICS_PATH = '/metrics'

/** Where swarm mounts secrets, and each secret's file name there. */
export const SECRETS_DIR = '/run/secrets'
export const secretFiles = {
  mongoRootPassword: 'shing_mongo_root_password',
  redisPassword: 'shing_redis_password',
  minioRootUser: 'shing_minio_root_user',
  minioRootPassword: 'shing_minio_root_password',
  sessionSecret: 'shing_session_secret',
  streamKeySecret: 'shing_stream_key_secret',
  /** What components use for S3: MinIO's root credentials when bundled, the external keys otherwise. */
  s3AccessKey: 'shing_s3_access_key',
  s3SecretKey: 'shing_s3_secret_key',
} as const
export type SecretName = keyof typeof secretFiles

/** The MongoDB user the components authenticate as (the root user of the bundled MongoDB). */
export const MONGO_USER = 'root'
export const MONGO_DATABASE = 'shing'

/** Environment every component container gets; parsed by the appliance at start. */
export const componentEnvSchema = z.object({
  SHING_COMPONENT: z.enum(componentNames),
  /** host:port of MongoDB, Redis; the S3 endpoint URL. */
  SHING_MONGO_HOST: z.string().min(1),
  SHING_REDIS_HOST: z.string().min(1),
  SHING_S3_ENDPOINT: z.url(),
  SHING_S3_REGION: z.string().default('us-east-1'),
  SHING_S3_BUCKET: z.string().min(3),
  SHING_S3_PATH_STYLE: z.enum(['true', 'false']).default('true'),
  /** The URL viewers use, e.g. https://live.example.org */
  SHING_PUBLIC_URL: z.url(),
  /** Host and port streamers point OBS at. */
  SHING_PUBLIC_HOST: z.string().min(1),
  /** The public name of this box when it differs from SHING_PUBLIC_HOST (an ingest box in a multi-box swarm). */
  SHING_BOX_PUBLIC_HOST: z.string().min(1).optional(),
  /** What the ingest's RTMP server listens on (the same port is published in host mode). */
  SHING_RTMP_PORT: z.coerce.number().int().default(1935),
  /** Overrides componentPorts[component].http; only for running several components on one host (tests). */
  SHING_HTTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Address the component's servers bind; containers need every interface, tests use 127.0.0.1. */
  SHING_BIND_HOST: z.string().default('0.0.0.0'),
  /** The relay's in-memory cache of HLS objects (MiB); it never holds more. */
  SHING_RELAY_CACHE_MB: z.coerce.number().int().min(1).default(256),
  SHING_WEBRTC_MIN_PORT: z.coerce.number().int().default(40000),
  SHING_WEBRTC_MAX_PORT: z.coerce.number().int().default(40100),
  /** The hardware profile, as JSON (hardware-profiles/ schema), fitted to the box. */
  SHING_PROFILE: z.string().min(2),
  SHING_SECRETS_DIR: z.string().default(SECRETS_DIR),
  SHING_LOG_LEVEL: z.string().default('info'),
  /** Swarm fills these through templates: which node and task this is. */
  SHING_NODE_HOSTNAME: z.string().optional(),
  SHING_TASK_NAME: z.string().optional(),
})
export type ComponentEnv = z.infer<typeof componentEnvSchema>

/** The node registry: ingest, relay and sfu processes announce themselves and their load. */
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
  }),
})
export type RegistryRecord = z.infer<typeof registryRecordSchema>

/** GET /api/nodes on web: the live registry by role, least loaded first. */
export type NodesView = {[R in RegisteredRole]: RegistryRecord[]}
export const NODES_API_PATH = '/api/nodes'

/** Redis key of one registry record (a string with a TTL). */
export const registryKey = (role: RegisteredRole, id: string): string => `${REGISTRY_PREFIX}:${role}:${id}`

/* ---- The live video path (issue 5) ---- */

/** Channel names: in URLs (/c/<channel>, /live/<channel>/…) and S3 keys. */
export const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/
/** OBS: server rtmp://<host>:<port>/live, stream key <key>. */
export const RTMP_APP = 'live'

/**
 * A live stream's state in Redis, written by the ingest that holds it and refreshed with its
 * heartbeat (TTL = REGISTRY_TTL_SECONDS): when that ingest dies, the stream goes offline by itself.
 */
export const streamStateKey = (channel: string): string => `shing:stream:${channel}`
export const streamStateSchema = z.object({
  channel: z.string(),
  /** One id per broadcast: S3 keys and the VOD live under it. */
  streamId: z.string(),
  since: z.string(),
  ingestId: z.string(),
  /** Where relays fetch from: the ingest's HTTP server (host:port). */
  origin: z.string(),
  renditions: z.array(z.object({name: z.string(), height: z.number(), bandwidth: z.number()})),
})
export type StreamState = z.infer<typeof streamStateSchema>

/**
 * HLS paths, the same at the ingest (origin), the relays and the edge:
 *   /live/<channel>/master.m3u8
 *   /live/<channel>/<rendition>/index.m3u8   (LL-HLS: EXT-X-PART, blocking reload with _HLS_msn/_HLS_part)
 *   /live/<channel>/<rendition>/init.mp4, seg<N>.m4s, part<N>.<i>.m4s
 */
export const LIVE_PREFIX = '/live'

/** Web API: where OBS should publish (the least-loaded ingest with a free ladder slot); 503 when none. */
export const INGEST_ASSIGN_PATH = '/api/ingest/assign'
export interface IngestAssignment {
  /** rtmp://<host>:<port>/live: OBS's "Server"; the stream key goes in its own field. */
  rtmpUrl: string
  ingestId: string
}

/** Web API: what a player loads for a channel; 404 for a name that is not a channel name. */
export const playbackApiPath = (channel: string): string => `/api/streams/${channel}/playback`
export interface Playback {
  live: boolean
  since?: string
  streamId?: string
  /** /live/<channel>/master.m3u8, relative: the page's origin (the edge routes /live/* to the relays). */
  url: string
  /** <SHING_PUBLIC_URL>/live/<channel>/master.m3u8, for players elsewhere. */
  publicUrl: string
  /** The least-loaded relay's registry id, for clients that go to a relay directly. */
  relay?: string
}
