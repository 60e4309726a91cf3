import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {adminReplySchema, type AdminReply, secretFiles, type AdminInput, type AdminOperationName, type ComponentName} from '../../appliance/contract/index.js'
import {repoRoot} from './cli.js'
import {freePort, freePortRange, startProcess, tempDir, type ManagedProcess} from './process.js'

export const mainJs = path.join(repoRoot, 'appliance/dist/main.js')
export const adminJs = path.join(repoRoot, 'appliance/dist/admin.js')

/** Runs an admin operation the way `shing` does in a container (`node admin.js <op> <json>`); its exit code and reply. */
export async function runAdminOperation<K extends AdminOperationName>(
  name: K,
  input: AdminInput<K> | string,
  env: NodeJS.ProcessEnv,
): Promise<{exitCode: number; reply: AdminReply; stderr: string}> {
  const result = await execa(process.execPath, [adminJs, name, typeof input === 'string' ? input : JSON.stringify(input)], {env, extendEnv: false, reject: false})
  return {exitCode: result.exitCode ?? -1, reply: adminReplySchema.parse(JSON.parse(String(result.stdout))), stderr: String(result.stderr)}
}

export interface RunningComponent {
  process: ManagedProcess
  httpPort: number
  rtmpPort: number
}

/**
 * One appliance component as a process (`node appliance/dist/main.js <component>`) on ports of
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
  // A relay keeps its media files, nginx's config and log in a folder of its own.
  const relayDir = component === 'relay' ? await tempDir('relay-cache') : undefined
  // An SFU's workers each bind a port of its WebRTC range: several SFUs on one host need ranges of their own.
  const webrtc = component === 'sfu' && options.env.SHING_WEBRTC_MIN_PORT === undefined ? await webrtcRange() : {}
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
      ...(relayDir === undefined ? {} : {SHING_RELAY_CACHE_DIR: relayDir.dir}),
      ...webrtc,
    },
    ready: {probe: async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`, {signal: AbortSignal.timeout(3000)})).status === 200},
    timeoutMs: options.timeoutMs ?? 60_000,
  })
  if (relayDir !== undefined) void process.exited.then(() => relayDir.remove())
  return {process, httpPort, rtmpPort}
}

/**
 * An SFU's WebRTC range of `size` ports (its workers take the first ones, its TURN server relays
 * from the rest), free and outside the ephemeral range; with `turn`, its TURN port after it.
 */
export async function webrtcRange(size = 8, {turn = false} = {}): Promise<{SHING_WEBRTC_MIN_PORT: string; SHING_WEBRTC_MAX_PORT: string; SHING_TURN_PORT?: string}> {
  const first = await freePortRange(turn ? size + 1 : size)
  return {SHING_WEBRTC_MIN_PORT: String(first), SHING_WEBRTC_MAX_PORT: String(first + size - 1), ...(turn ? {SHING_TURN_PORT: String(first + size)} : {})}
}

/** Writes every secret file a component reads (contract.secretFiles) into `dir`, mode 0600; the SMTP password only when given. */
export async function writeSecretFiles(dir: string, site: {mongoPassword: string; redisPassword: string; s3: {accessKey: string; secretKey: string}; streamKeySecret?: string; smtpPassword?: string}): Promise<void> {
  const values: {[K in keyof typeof secretFiles]: string | undefined} = {
    mongoRootPassword: site.mongoPassword,
    redisPassword: site.redisPassword,
    minioRootUser: site.s3.accessKey,
    minioRootPassword: site.s3.secretKey,
    sessionSecret: randomBytes(32).toString('hex'),
    streamKeySecret: site.streamKeySecret ?? randomBytes(32).toString('hex'),
    s3AccessKey: site.s3.accessKey,
    s3SecretKey: site.s3.secretKey,
    smtpPassword: site.smtpPassword,
  }
  for (const [name, file] of Object.entries(secretFiles)) {
    const value = values[name as keyof typeof secretFiles]
    if (value !== undefined) await writeFile(path.join(dir, file), `${value}\n`, {mode: 0o600})
  }
}

/** The environment components get in a test site: the harness's Redis, MongoDB wire server and S3, on 127.0.0.1. */
export function siteEnv(site: {redisPort: number; mongoUrl: string; s3: {endpoint: string; region: string}; secretsDir: string; profile: unknown; bucket?: string}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    SHING_MONGO_HOST: new URL(site.mongoUrl).host,
    SHING_REDIS_HOST: `127.0.0.1:${site.redisPort}`,
    SHING_S3_ENDPOINT: site.s3.endpoint,
    SHING_S3_REGION: site.s3.region,
    SHING_S3_BUCKET: site.bucket ?? 'shing-media',
    SHING_PUBLIC_URL: 'https://live.example.test/',
    SHING_PUBLIC_HOST: 'live.example.test',
    SHING_PROFILE: JSON.stringify(site.profile),
    SHING_SECRETS_DIR: site.secretsDir,
    SHING_BIND_HOST: '127.0.0.1',
    SHING_LOG_LEVEL: 'info',
  }
}

/**
 * A relay on its own (its test, bench:relay): it reads only Redis and serves through nginx
 * (Debian's, in /usr/sbin), so MongoDB and S3 are named for the environment schema only.
 */
export function standaloneRelayEnv(relay: {redisPort: number; secretsDir: string; profile: unknown; port: number; task: string; cacheMb: number; cacheDir: string}): NodeJS.ProcessEnv {
  return {
    PATH: [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin'].join(':'),
    SHING_MONGO_HOST: '127.0.0.1:9',
    SHING_S3_ENDPOINT: 'http://127.0.0.1:9',
    SHING_S3_BUCKET: 'unused',
    SHING_REDIS_HOST: `127.0.0.1:${relay.redisPort}`,
    SHING_PUBLIC_URL: 'https://live.example.test',
    SHING_PUBLIC_HOST: 'live.example.test',
    SHING_PROFILE: JSON.stringify(relay.profile),
    SHING_SECRETS_DIR: relay.secretsDir,
    SHING_BIND_HOST: '127.0.0.1',
    SHING_HTTP_PORT: String(relay.port),
    SHING_TASK_NAME: relay.task,
    SHING_RELAY_CACHE_MB: String(relay.cacheMb),
    SHING_RELAY_CACHE_DIR: relay.cacheDir,
  }
}
