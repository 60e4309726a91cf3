/** What a component container is given: environment variables and secret files. */
import {z} from 'zod'

import {componentNames} from './components.js'

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
  /** Only with an SMTP server that wants a log-in (SHING_SMTP_USER set). */
  smtpPassword: 'shing_smtp_password',
} as const
export type SecretName = keyof typeof secretFiles

/** The MongoDB user the components authenticate as (the root user of the bundled MongoDB). */
export const MONGO_USER = 'root'

export const smtpSecurityModes = ['starttls', 'tls', 'none'] as const
export type SmtpSecurity = (typeof smtpSecurityModes)[number]
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
  /**
   * site.adminEmail: on a site that mails, the account that signs up with it and confirms it
   * becomes the first admin (while the site has none).
   */
  SHING_ADMIN_EMAIL: z.string().optional(),
  /** The public name of this box when it differs from SHING_PUBLIC_HOST (an ingest box in a multi-box swarm). */
  SHING_BOX_PUBLIC_HOST: z.string().min(1).optional(),
  /** What the ingest's RTMP server listens on (the same port is published in host mode). */
  SHING_RTMP_PORT: z.coerce.number().int().default(1935),
  /** Overrides componentPorts[component].http; only for running several components on one host (tests). */
  SHING_HTTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Address the component's servers bind; containers need every interface, tests use 127.0.0.1. */
  SHING_BIND_HOST: z.string().default('0.0.0.0'),
  /** The relay's media files (MiB) for nginx to send; it never holds more. */
  SHING_RELAY_CACHE_MB: z.coerce.number().int().min(1).default(256),
  /** Where the relay keeps those files, nginx's config, temp folders and access log (a tmpfs where one can be had). */
  SHING_RELAY_CACHE_DIR: z.string().min(1).default('/var/cache/shing-relay'),
  /** The nginx binary the relay runs in front of itself (default: nginx on PATH, or /usr/sbin/nginx). */
  SHING_NGINX: z.string().min(1).optional(),
  /** A TLS port of the relay's own, for viewers sent to it directly rather than through the edge (none when unset). */
  SHING_RELAY_TLS_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  /** Its certificate chain and key (PEM files); served once both are readable, reloaded when they change. */
  SHING_RELAY_TLS_CERT: z.string().min(1).optional(),
  SHING_RELAY_TLS_KEY: z.string().min(1).optional(),
  /**
   * Relay: the edge's certificate folder (http://edge:2020, tls.mode auto), from which it keeps the
   * site's certificate in SHING_RELAY_TLS_CERT/KEY. Unset: those files come from elsewhere (tls.mode files).
   */
  SHING_RELAY_CERT_SOURCE: z.url().optional(),
  /**
   * Web: where viewers reach the relays directly (https://<site>:<ports.relayHttps>). The playback
   * API offers it while a relay serves it, and pages may load video from it. Unset: the edge only.
   */
  SHING_RELAY_DIRECT_ORIGIN: z.url().optional(),
  SHING_WEBRTC_MIN_PORT: z.coerce.number().int().default(40000),
  SHING_WEBRTC_MAX_PORT: z.coerce.number().int().default(40100),
  /** ports.turn: where the SFU's TURN server (coturn) listens, UDP and TCP; unset: no TURN. */
  SHING_TURN_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  /** The IP browsers send WebRTC media to (ports.webrtc.announcedAddress); unset: the box's public name, resolved. */
  SHING_WEBRTC_ANNOUNCED_ADDRESS: z.string().min(1).optional(),
  /** The hardware profile, as JSON (contract/hardware-profile.ts), fitted to the box. */
  SHING_PROFILE: z.string().min(2),
  SHING_SECRETS_DIR: z.string().default(SECRETS_DIR),
  /**
   * Account mail (verification, password reset). Unset: this site sends no mail, and accounts
   * need no verification. Set: the worker sends through SHING_SMTP_HOST.
   */
  SHING_MAIL_FROM: z.string().min(3).optional(),
  SHING_SMTP_HOST: z.string().min(1).optional(),
  SHING_SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587),
  /** starttls: plain connection upgraded (587); tls: TLS from the start (465); none: a local relay. */
  SHING_SMTP_SECURITY: z.enum(smtpSecurityModes).default('starttls'),
  /** The SMTP log-in; its password is the smtpPassword secret. */
  SHING_SMTP_USER: z.string().min(1).optional(),
  /** shing.yaml `chat:` as JSON (contract/chat.ts chatLimitsSchema); unset: the defaults. */
  SHING_CHAT_LIMITS: z.string().optional(),
  /** shing.yaml `media:` as JSON (contract/media.ts mediaSettingsSchema); unset: the defaults. */
  SHING_MEDIA: z.string().optional(),
  /** shing.yaml `retention:` as JSON (contract/media.ts retentionSchema); unset: the defaults. */
  SHING_RETENTION: z.string().optional(),
  /** shing.yaml `community:` as JSON (contract/community.ts communitySettingsSchema); unset: the defaults. */
  SHING_COMMUNITY: z.string().optional(),
  SHING_LOG_LEVEL: z.string().default('info'),
  /**
   * A worker's capabilities (comma-separated: general, video-cpu, video-gpu-nvenc, …) instead of
   * those its hardware profile implies: a worker kept to mail, or one kept off video.
   */
  SHING_WORKER_CAPABILITIES: z.string().optional(),
  /** Swarm fills these through templates: which node and task this is. */
  SHING_NODE_HOSTNAME: z.string().optional(),
  SHING_TASK_NAME: z.string().optional(),
})
export type ComponentEnv = z.infer<typeof componentEnvSchema>
