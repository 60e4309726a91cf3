/**
 * The desired stack as pure data: (config, profile, secrets, version) → services, network,
 * secrets, configs. No I/O here; `diff.ts` compares it with what the engine reports.
 */
import {createHash} from 'node:crypto'
import path from 'node:path'

import {
  componentNames,
  type ComponentEnv,
  type ComponentName,
  EDGE_CERTIFICATES_PORT,
  type HardwareProfile,
  imagePaths,
  MONGO_DATABASE,
  rtmpUrl,
  SECRETS_DIR,
  type SecretName,
  secretFiles,
  urlHost,
  WORKER_SHUTDOWN_GRACE_S,
} from '../../appliance/contract/index.js'
import type {ShingConfig} from '../config/schema.js'
import type {MountSettings, PortConfig, ServiceMode, ServiceSpec} from '../engine/engine.js'
import {TLS_CERT_FILE, TLS_KEY_FILE} from './caddyfile.js'
import {dockerName, labels, NETWORK, STACK, type ServiceName} from './names.js'

export interface PlanInputs {
  config: ShingConfig
  /** Every secret value by key: the secrets file's, plus tlsCert/tlsKey (file contents) with tls.mode files. */
  secrets: Record<string, string>
  /** The profile fitted to the box (ingest.maxLadders from config.hardware). */
  profile: HardwareProfile
  /** The Shing release: the appliance image tag and a label on everything. */
  version: string
  /** templates/Caddyfile, rendered by `renderCaddyfile`. */
  caddyfile: string
}

export interface PlannedSecret {
  /** Docker name: shing_<key>_<hash8>; a new value makes a new secret (they are immutable). */
  name: string
  key: string
  hash: string
}

export interface PlannedConfig {
  name: string
  data: string
}

export interface PlannedService {
  name: ServiceName
  dockerName: string
  /** Core services start (and are healthy) before the components. */
  tier: 'core' | 'app'
  spec: ServiceSpec
  /** Of the whole spec: any change updates the service. */
  hash: string
  /** Of the task template only: a change here replaces the tasks (scaling does not). */
  taskHash: string
}

export interface StackPlan {
  stack: string
  version: string
  network: {name: string; encrypted: boolean}
  secrets: PlannedSecret[]
  configs: PlannedConfig[]
  services: PlannedService[]
}

export const defaultImages = (version: string): Required<ShingConfig['images']> => ({
  appliance: `shing/appliance:${version}`,
  mongo: 'mongo:7.0',
  redis: 'redis:7.2-alpine',
  minio: 'minio/minio:latest',
  caddy: 'caddy:2-alpine',
})

/** The images the stack runs, by their key under `images:` (MinIO only when it is bundled). */
export function stackImages(config: ShingConfig, version: string): Array<{key: keyof ShingConfig['images']; ref: string}> {
  const images = {...defaultImages(version), ...config.images}
  const keys = (['mongo', 'redis', 'minio', 'caddy', 'appliance'] as const).filter((k) => k !== 'minio' || config.storage.kind === 'minio')
  return keys.map((key) => ({key, ref: images[key]}))
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

/** JSON with sorted keys: the same spec always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function specHash(spec: ServiceSpec): string {
  return sha(canonical(spec)).slice(0, 16)
}

const seconds = (s: number): number => s * 1_000_000_000

/** Shared by every service: restart on failure, health timing, one overlay, labels. */
function serviceSpec(options: {
  name: ServiceName
  version: string
  image: string
  command?: string[]
  args?: string[]
  env?: Record<string, string>
  secrets?: Array<{secret: PlannedSecret; file: string}>
  configs?: Array<{config: PlannedConfig; file: string}>
  health: string[]
  startPeriodS?: number
  mounts?: MountSettings[]
  constraints: string[]
  mode: ServiceMode
  ports?: PortConfig[]
  stopGraceS?: number
}): ServiceSpec {
  const objectLabels = {[labels.stack]: STACK, [labels.component]: options.name, [labels.version]: options.version}
  return {
    Name: dockerName(options.name),
    Labels: objectLabels,
    TaskTemplate: {
      ContainerSpec: {
        Image: options.image,
        Labels: objectLabels,
        ...(options.command ? {Command: options.command} : {}),
        ...(options.args ? {Args: options.args} : {}),
        Env: Object.entries(options.env ?? {})
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${k}=${v}`),
        Secrets: (options.secrets ?? []).map(({secret, file}) => ({
          SecretName: secret.name,
          File: {Name: file, UID: '0', GID: '0', Mode: 0o444},
        })),
        Configs: (options.configs ?? []).map(({config, file}) => ({
          ConfigName: config.name,
          File: {Name: file, UID: '0', GID: '0', Mode: 0o444},
        })),
        Mounts: options.mounts ?? [],
        HealthCheck: {
          Test: options.health,
          Interval: seconds(5),
          Timeout: seconds(4),
          Retries: 3,
          StartPeriod: seconds(options.startPeriodS ?? 30),
        },
        StopGracePeriod: seconds(options.stopGraceS ?? 15),
      },
      RestartPolicy: {Condition: 'any', Delay: seconds(2), MaxAttempts: 0},
      Placement: {Constraints: options.constraints},
      Networks: [{Target: NETWORK, Aliases: [options.name]}],
    },
    Mode: options.mode,
    UpdateConfig: {Parallelism: 1, Order: 'stop-first', FailureAction: 'pause'},
    // dnsrr: no virtual IP (this needs no IPVS) — boxes are addressed directly, ports in host mode.
    EndpointSpec: {Mode: 'dnsrr', Ports: options.ports ?? []},
  }
}

const CORE = [`node.labels.${labels.core}==true`]
const onRole = (role: string): string[] => [`node.labels.${labels.role(role)}==true`]
const volume = (name: string, target: string): MountSettings =>
  ({
    Type: 'volume',
    Source: dockerName(`${name}_data`),
    Target: target,
    // @types/dockerode marks every VolumeOptions field required; the API does not.
    VolumeOptions: {Labels: {[labels.stack]: STACK, [labels.component]: name}},
  }) as unknown as MountSettings

/** The relay's cache folder (made in appliance/Dockerfile, owned by the node user) and its files' bound. */
const RELAY_CACHE_DIR = '/var/cache/shing-relay'
const RELAY_CACHE_MB = 256

export const healthchecks = {
  mongo: ['CMD-SHELL', "mongosh --quiet --norc --eval 'quit(db.adminCommand({ping: 1}).ok ? 0 : 1)' >/dev/null"],
  redis: ['CMD-SHELL', `redis-cli -a "$(cat ${SECRETS_DIR}/${secretFiles.redisPassword})" --no-auth-warning ping | grep -q PONG`],
  minio: [
    'CMD-SHELL',
    'mc ready local >/dev/null 2>&1 || curl -fsS http://127.0.0.1:9000/minio/health/live >/dev/null 2>&1 || wget -q -O /dev/null http://127.0.0.1:9000/minio/health/live',
  ],
  edge: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:2019/config/ || curl -fsS http://127.0.0.1:2019/config/ >/dev/null'],
  component: ['CMD', 'node', imagePaths.healthcheck],
} as const

export function publicUrl(config: ShingConfig): string {
  const host = urlHost(config.site.hostname)
  if (config.tls.mode === 'none') return config.ports.http === 80 ? `http://${host}` : `http://${host}:${config.ports.http}`
  return config.ports.https === 443 ? `https://${host}` : `https://${host}:${config.ports.https}`
}

/** Where viewers' players fetch live video from the relays directly (ports.relayHttps), if they do. */
export function relayDirectOrigin(config: ShingConfig): string | undefined {
  const port = config.tls.mode === 'none' ? undefined : config.ports.relayHttps
  return port === undefined ? undefined : `https://${urlHost(config.site.hostname)}:${port}`
}

/** What `up` and `status` tell the admin: the site, OBS's server, and the relays' own port. */
export function siteUrls(config: ShingConfig): {web: string; rtmp: string; video?: string} {
  const video = relayDirectOrigin(config)
  return {web: publicUrl(config), rtmp: siteRtmpUrl(config), ...(video === undefined ? {} : {video})}
}

/** OBS's "Server" for the site's own address. */
export function siteRtmpUrl(config: ShingConfig): string {
  return rtmpUrl(config.site.hostname, config.ports.rtmp)
}

export function planStack(inputs: PlanInputs): StackPlan {
  const {config, secrets, profile, version} = inputs
  const images = {...defaultImages(version), ...config.images}
  const bundledS3 = config.storage.kind === 'minio'

  const plannedSecrets: PlannedSecret[] = Object.keys(secrets).sort().map((key) => {
    const hash = sha(String(secrets[key])).slice(0, 8)
    return {key, hash, name: dockerName(`${snake(key)}_${hash}`)}
  })
  const secret = (key: PlannedSecret['key']): PlannedSecret => {
    const s = plannedSecrets.find((p) => p.key === key)
    if (s === undefined) throw new Error(`secret ${key} is missing`)
    return s
  }
  const mount = (key: SecretName, as: SecretName = key): {secret: PlannedSecret; file: string} => ({
    secret: secret(key),
    file: secretFiles[as],
  })
  // Components read S3 keys from one pair of files: MinIO's root credentials when bundled.
  const s3Secrets = bundledS3
    ? [mount('minioRootUser', 's3AccessKey'), mount('minioRootPassword', 's3SecretKey')]
    : [mount('s3AccessKey'), mount('s3SecretKey')]

  const caddyConfig: PlannedConfig = {name: dockerName(`caddyfile_${sha(inputs.caddyfile).slice(0, 8)}`), data: inputs.caddyfile}

  const services: Array<Omit<PlannedService, 'hash' | 'taskHash'>> = []
  const core = (name: 'mongo' | 'redis' | 'minio' | 'edge', spec: ServiceSpec): void => {
    services.push({name, dockerName: dockerName(name), tier: 'core', spec})
  }
  const one: ServiceMode = {Replicated: {Replicas: 1}}

  core(
    'mongo',
    serviceSpec({
      name: 'mongo',
      version,
      image: images.mongo,
      env: {
        MONGO_INITDB_ROOT_USERNAME: 'root',
        MONGO_INITDB_ROOT_PASSWORD_FILE: `${SECRETS_DIR}/${secretFiles.mongoRootPassword}`,
        MONGO_INITDB_DATABASE: MONGO_DATABASE,
      },
      secrets: [mount('mongoRootPassword')],
      health: [...healthchecks.mongo],
      mounts: [volume('mongo', '/data/db')],
      constraints: CORE,
      mode: one,
    }),
  )
  core(
    'redis',
    serviceSpec({
      name: 'redis',
      version,
      image: images.redis,
      command: ['sh', '-c', `exec redis-server --requirepass "$(cat ${SECRETS_DIR}/${secretFiles.redisPassword})" --appendonly yes --dir /data`],
      secrets: [mount('redisPassword')],
      health: [...healthchecks.redis],
      mounts: [volume('redis', '/data')],
      constraints: CORE,
      mode: one,
    }),
  )
  if (bundledS3) {
    core(
      'minio',
      serviceSpec({
        name: 'minio',
        version,
        image: images.minio,
        args: ['server', '/data', '--address', ':9000'],
        // MinIO reads *_FILE names relative to /run/secrets.
        env: {MINIO_ROOT_USER_FILE: secretFiles.minioRootUser, MINIO_ROOT_PASSWORD_FILE: secretFiles.minioRootPassword, MINIO_BROWSER: 'off'},
        secrets: [mount('minioRootUser'), mount('minioRootPassword')],
        health: [...healthchecks.minio],
        mounts: [volume('minio', '/data')],
        constraints: CORE,
        mode: one,
      }),
    )
  }
  core(
    'edge',
    serviceSpec({
      name: 'edge',
      version,
      image: images.caddy,
      command: ['caddy', 'run', '--config', '/etc/caddy/Caddyfile', '--adapter', 'caddyfile'],
      configs: [{config: caddyConfig, file: '/etc/caddy/Caddyfile'}],
      ...(config.tls.mode === 'files'
        ? {secrets: [{secret: secret('tlsCert'), file: path.basename(TLS_CERT_FILE)}, {secret: secret('tlsKey'), file: path.basename(TLS_KEY_FILE)}]}
        : {}),
      health: [...healthchecks.edge],
      mounts: [volume('caddy', '/data')],
      constraints: CORE,
      mode: one,
      ports: [
        {Protocol: 'tcp', TargetPort: 80, PublishedPort: config.ports.http, PublishMode: 'host'},
        {Protocol: 'tcp', TargetPort: 443, PublishedPort: config.ports.https, PublishMode: 'host'},
      ],
    }),
  )

  const env: {[K in keyof ComponentEnv]?: string | number} = {
    SHING_MONGO_HOST: 'mongo:27017',
    SHING_REDIS_HOST: 'redis:6379',
    SHING_S3_ENDPOINT: config.storage.kind === 'minio' ? 'http://minio:9000' : config.storage.endpoint,
    SHING_S3_REGION: config.storage.kind === 's3' ? config.storage.region : 'us-east-1',
    SHING_S3_BUCKET: config.storage.bucket,
    SHING_S3_PATH_STYLE: config.storage.kind === 's3' ? String(config.storage.pathStyle) as 'true' | 'false' : 'true',
    SHING_PUBLIC_URL: publicUrl(config),
    SHING_PUBLIC_HOST: config.site.hostname,
    SHING_ADMIN_EMAIL: config.site.adminEmail,
    SHING_RTMP_PORT: config.ports.rtmp,
    SHING_WEBRTC_MIN_PORT: config.ports.webrtc.min,
    SHING_WEBRTC_MAX_PORT: config.ports.webrtc.max,
    SHING_WEBRTC_ANNOUNCED_ADDRESS: config.ports.webrtc.announcedAddress,
    SHING_TURN_PORT: config.ports.turn,
    SHING_PROFILE: JSON.stringify(profile),
    SHING_SECRETS_DIR: SECRETS_DIR,
    SHING_LOG_LEVEL: 'info',
    ...(config.mail.mode === 'smtp'
      ? {
          SHING_MAIL_FROM: config.mail.from,
          SHING_SMTP_HOST: config.mail.host,
          SHING_SMTP_PORT: config.mail.port,
          SHING_SMTP_SECURITY: config.mail.security,
          ...(config.mail.username === undefined ? {} : {SHING_SMTP_USER: config.mail.username}),
        }
      : {}),
  }
  // Viewers sent to the relays directly (ports.relayHttps): each relay opens that port with the
  // site's certificate: the admin's files (swarm secrets, as the edge has them), or Caddy's, which
  // the relay fetches from the edge (tls.mode auto).
  const relayHttps = config.tls.mode === 'none' ? undefined : config.ports.relayHttps
  const relayTlsSecrets = relayHttps !== undefined && config.tls.mode === 'files'
    ? [{secret: secret('tlsCert'), file: path.basename(TLS_CERT_FILE)}, {secret: secret('tlsKey'), file: path.basename(TLS_KEY_FILE)}]
    : []
  const relayTlsEnv: {[E in keyof ComponentEnv]?: string} = relayHttps === undefined
    ? {}
    : config.tls.mode === 'files'
      ? {SHING_RELAY_TLS_PORT: String(relayHttps), SHING_RELAY_TLS_CERT: TLS_CERT_FILE, SHING_RELAY_TLS_KEY: TLS_KEY_FILE}
      : {
          SHING_RELAY_TLS_PORT: String(relayHttps),
          // One file for both: the relay replaces it in one rename.
          SHING_RELAY_TLS_CERT: `${RELAY_CACHE_DIR}/tls/site.pem`,
          SHING_RELAY_TLS_KEY: `${RELAY_CACHE_DIR}/tls/site.pem`,
          SHING_RELAY_CERT_SOURCE: `http://edge:${EDGE_CERTIFICATES_PORT}`,
        }
  // The worker sends the mail; only it holds the SMTP password.
  const smtpSecrets = config.mail.mode === 'smtp' && config.mail.username !== undefined ? [mount('smtpPassword')] : []
  const componentSecrets: {[K in ComponentName]: Array<{secret: PlannedSecret; file: string}>} = {
    web: [mount('mongoRootPassword'), mount('redisPassword'), mount('sessionSecret'), mount('streamKeySecret'), ...s3Secrets],
    ingest: [mount('mongoRootPassword'), mount('redisPassword'), mount('streamKeySecret'), ...s3Secrets],
    relay: [mount('redisPassword'), ...relayTlsSecrets],
    // The stream-key secret: the SFU checks the web's forwarded call requests with a token derived from it.
    sfu: [mount('redisPassword'), mount('streamKeySecret')],
    worker: [mount('mongoRootPassword'), mount('redisPassword'), ...s3Secrets, ...smtpSecrets],
  }
  const webrtcPorts: PortConfig[] = []
  for (let p = config.ports.webrtc.min; p <= config.ports.webrtc.max; p++) {
    // Each mediasoup worker takes one port, UDP and TCP (ICE over TCP where UDP is blocked).
    webrtcPorts.push({Protocol: 'udp', TargetPort: p, PublishedPort: p, PublishMode: 'host'}, {Protocol: 'tcp', TargetPort: p, PublishedPort: p, PublishMode: 'host'})
  }
  const turn = config.ports.turn
  if (turn !== undefined) webrtcPorts.push({Protocol: 'udp', TargetPort: turn, PublishedPort: turn, PublishMode: 'host'}, {Protocol: 'tcp', TargetPort: turn, PublishedPort: turn, PublishMode: 'host'})
  const componentShape: {[K in ComponentName]: {mode: ServiceMode; ports?: PortConfig[]; env?: {[E in keyof ComponentEnv]?: string}; stopGraceS?: number}} = {
    // Only the web runs chat; its limits are in the spec, so changing them updates the web. Media
    // and retention settings reach the web (what it offers) and the worker (what it does).
    web: {
      mode: {Replicated: {Replicas: config.components.web.replicas}},
      env: {
        SHING_CHAT_LIMITS: JSON.stringify(config.chat),
        SHING_MEDIA: JSON.stringify(config.media),
        SHING_RETENTION: JSON.stringify(config.retention),
        SHING_COMMUNITY: JSON.stringify(config.community),
        ...(relayHttps === undefined ? {} : {SHING_RELAY_DIRECT_ORIGIN: relayDirectOrigin(config)}),
      },
    },
    worker: {
      mode: {Replicated: {Replicas: config.components.worker.replicas}},
      env: {SHING_MEDIA: JSON.stringify(config.media), SHING_RETENTION: JSON.stringify(config.retention), SHING_COMMUNITY: JSON.stringify(config.community)},
      // A stopping worker finishes or hands back its jobs within its grace; then Docker may kill it.
      stopGraceS: WORKER_SHUTDOWN_GRACE_S + 10,
    },
    // One per box of the role: adding a box of that role adds one.
    ingest: {
      mode: {Global: {}},
      ports: [{Protocol: 'tcp', TargetPort: config.ports.rtmp, PublishedPort: config.ports.rtmp, PublishMode: 'host'}],
    },
    // The relay's media files (nginx sends them from the page cache), nginx's log and temp
    // folders, in the container's own folder: swarm ignores a tmpfs mount's mode (swarmkit
    // #3226), so a tmpfs would be root's and the relay (uid 1000) could not write to it.
    relay: {
      mode: {Global: {}},
      env: {SHING_RELAY_CACHE_DIR: RELAY_CACHE_DIR, SHING_RELAY_CACHE_MB: String(RELAY_CACHE_MB), ...relayTlsEnv},
      ...(relayHttps === undefined ? {} : {ports: [{Protocol: 'tcp', TargetPort: relayHttps, PublishedPort: relayHttps, PublishMode: 'host'}]}),
    },
    sfu: {mode: {Global: {}}, ports: webrtcPorts},
  }
  for (const name of componentNames) {
    const shape = componentShape[name]
    services.push({
      name,
      dockerName: dockerName(name),
      tier: 'app',
      spec: serviceSpec({
        name,
        version,
        image: images.appliance,
        args: [name],
        env: {
          ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])),
          ...shape.env,
          SHING_COMPONENT: name,
          SHING_NODE_HOSTNAME: '{{.Node.Hostname}}',
          SHING_TASK_NAME: '{{.Task.Name}}',
        },
        secrets: componentSecrets[name],
        health: [...healthchecks.component],
        constraints: onRole(name),
        mode: shape.mode,
        ...(shape.ports ? {ports: shape.ports} : {}),
        ...(shape.stopGraceS === undefined ? {} : {stopGraceS: shape.stopGraceS}),
      }),
    })
  }

  return {
    stack: STACK,
    version,
    network: {name: NETWORK, encrypted: config.swarm.encryptOverlay},
    secrets: plannedSecrets,
    configs: [caddyConfig],
    services: services.map((s) => ({...s, hash: specHash(s.spec), taskHash: specHash({TaskTemplate: s.spec.TaskTemplate})})),
  }
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}
