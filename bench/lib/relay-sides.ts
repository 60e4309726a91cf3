/**
 * The servers bench/relay.ts compares, each started with its stream flowing and stopped by PID:
 * node-media-server (HTTP-FLV), nginx proxy_cache and the Shing relay in front of an LL-HLS
 * origin, Caddy (the edge, as templates/Caddyfile configures it) in front of the Shing relay, and
 * the Shing relay's own TLS port (viewers sent to it directly, as ports.relayHttps does).
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'

import {Redis} from 'ioredis'
import YAML from 'yaml'

import {LIVE_PREFIX, RTMP_APP, secretFiles, streamStateKey, type StreamState} from '../../appliance/contract/index.js'
import {repoRoot} from '../../test/harness/cli.js'
import {freePort, startProcess, tempDir, waitFor, type ManagedProcess} from '../../test/harness/process.js'
import {standaloneRelayEnv} from '../../test/harness/appliance.js'
import {startRedis} from '../../test/harness/redis.js'
import {selfSignedCertificate} from '../../test/harness/tls.js'
import {startMediaServer} from '../../test/harness/rtmp.js'
import {childPidByCommand} from './proc-stats.js'
import {publishRtmp, startLlHlsOrigin, type LlHlsOrigin} from './publishers.js'
import type {ViewerMode} from './relay-load-protocol.js'
import type {SourceClip} from './source-clip.js'

export const sideNames = ['nms', 'nginx', 'shing', 'edge', 'direct'] as const
export type SideName = (typeof sideNames)[number]

/** A process whose tree (it and its descendants) serves the viewers. */
export interface ServerProcess {
  name: string
  pid: number
}

export interface Side {
  name: SideName
  label: string
  mode: ViewerMode
  url: string
  /** Viewers connect here instead of the URL's host (the edge's hostname resolves nowhere). */
  connectTo?: string
  /** Each sampled with its descendants; their sum is the side's cores and RSS. */
  processes: ServerProcess[]
  /** A tmpfs cache directory: its bytes are memory no RSS shows. */
  cacheDir?: string
  /** LL-HLS sides: the origin, with its availability times and request counts. */
  origin?: LlHlsOrigin
  /** A window edge. FLV: the bytes the publisher had sent, taken as ffmpeg reports them. */
  mark(): Promise<{wall: number; sentBytes: number | undefined}>
  stop(): Promise<void>
}

const CHANNEL = 'bench'
const NMS_KEY = 'bench'
/** The edge's site name: Caddy issues it a certificate from its internal CA. */
const EDGE_HOST = 'live.bench.test'

const atWall = (): Promise<{wall: number; sentBytes: undefined}> => Promise.resolve({wall: Date.now(), sentBytes: undefined})

/** A fresh directory on tmpfs (/dev/shm), as a site would give a cache. */
async function shmDir(prefix: string): Promise<{dir: string; remove: () => Promise<void>}> {
  const dir = await mkdtemp(path.join('/dev/shm', `shing-bench-${prefix}-`))
  return {dir, remove: () => rm(dir, {recursive: true, force: true, maxRetries: 3})}
}

/** Runs cleanups in reverse order, every one of them even when one fails. */
async function unwind(cleanups: (() => Promise<unknown>)[]): Promise<void> {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
}

export async function startNms(clip: SourceClip): Promise<Side> {
  const server = await startMediaServer()
  try {
    const publisher = await publishRtmp(clip, server.rtmpUrl(RTMP_APP, NMS_KEY))
    await server.waitForPublish(RTMP_APP, NMS_KEY)
    return {
      name: 'nms',
      label: `${server.version} (HTTP-FLV)`,
      mode: 'flv',
      url: server.flvUrl(RTMP_APP, NMS_KEY),
      processes: [{name: 'nms', pid: childPidByCommand('node-media-server')}],
      mark: async () => {
        const sentBytes = await publisher.nextSentBytes()
        return {wall: Date.now(), sentBytes}
      },
      stop: async () => {
        await publisher.stop()
        await server.stop()
      },
    }
  } catch (error) {
    await server.stop()
    throw error
  }
}

/** The nginx a site would put in front of an LL-HLS origin: one worker, a tmpfs proxy_cache that honours Cache-Control. */
function nginxConfig(options: {dir: string; cacheDir: string; port: number; origin: string}): string {
  const {dir, cacheDir, port, origin} = options
  // Run as the current user: as root, workers would otherwise switch to nobody.
  const user = process.getuid?.() === 0 ? `user ${os.userInfo().username};\n` : ''
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 65536;
events {
  worker_connections 16384;
}
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy-temp;
  fastcgi_temp_path ${dir}/fastcgi-temp;
  uwsgi_temp_path ${dir}/uwsgi-temp;
  scgi_temp_path ${dir}/scgi-temp;
  proxy_cache_path ${cacheDir} levels=1:2 keys_zone=live:16m max_size=512m inactive=2m use_temp_path=off;
  upstream origin {
    server ${origin};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location ${LIVE_PREFIX}/ {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache live;
      # The query is part of the key: viewers' identical blocking reloads share one entry.
      proxy_cache_key $scheme$proxy_host$request_uri;
      proxy_cache_lock on;
      # A blocking reload is held at the origin up to 3 target durations (6 s): waiters keep waiting.
      proxy_cache_lock_timeout 10s;
      proxy_cache_lock_age 10s;
      # An expired entry is served while one request refreshes it, as live caches are set up.
      proxy_cache_use_stale updating;
      proxy_read_timeout 15s;
      add_header X-Cache $upstream_cache_status;
    }
  }
}
`
}

export async function startNginx(clip: SourceClip): Promise<Side> {
  const cleanups: (() => Promise<unknown>)[] = []
  try {
    const origin = await startLlHlsOrigin(clip, CHANNEL)
    cleanups.push(() => origin.stop())
    const dir = await tempDir('bench-nginx')
    cleanups.push(() => dir.remove())
    const cache = await shmDir('nginx-cache')
    cleanups.push(() => cache.remove())
    const port = await freePort()
    const conf = path.join(dir.dir, 'nginx.conf')
    await writeFile(conf, nginxConfig({dir: dir.dir, cacheDir: cache.dir, port, origin: origin.origin}))
    const nginx = await startProcess({
      name: 'nginx',
      command: '/usr/sbin/nginx',
      args: ['-p', dir.dir, '-c', conf, '-g', 'daemon off;'],
      ready: {tcp: {port}},
      timeoutMs: 10_000,
    })
    cleanups.push(() => nginx.stop())
    const version = /nginx\/([\d.]+)/.exec(nginx.output())?.[1]
    const base = `http://127.0.0.1:${port}${LIVE_PREFIX}/${CHANNEL}/`
    await waitFor('the channel through nginx', async () => (await fetch(`${base}${origin.rendition}/init.mp4`)).status === 200, {timeoutMs: 10_000})
    return {
      name: 'nginx',
      label: `nginx${version === undefined ? '' : ` ${version}`} proxy_cache (1 worker, tmpfs) <- LL-HLS origin`,
      mode: 'llhls',
      url: base,
      processes: [{name: 'nginx', pid: nginx.pid}],
      cacheDir: cache.dir,
      origin,
      mark: atWall,
      stop: () => unwind(cleanups),
    }
  } catch (error) {
    await unwind(cleanups)
    throw error
  }
}

interface ShingRelay {
  port: number
  process: ManagedProcess
  origin: LlHlsOrigin
  cacheDir: string
  cacheMb: number
  stop(): Promise<void>
}

/**
 * Redis, the stream state in it as the ingest writes it, the LL-HLS origin, and the real relay
 * process; with tls, its own TLS port too (a certificate for EDGE_HOST, there before it starts).
 */
async function startShingRelay(clip: SourceClip, cacheMb: number, tls?: {port: number; certFile: string; keyFile: string}): Promise<ShingRelay> {
  const cleanups: (() => Promise<unknown>)[] = []
  try {
    const password = randomBytes(12).toString('hex')
    const redis = await startRedis({password})
    cleanups.push(() => redis.stop())
    const client = new Redis({port: redis.port, host: '127.0.0.1', password, maxRetriesPerRequest: 1})
    cleanups.push(async () => client.disconnect())
    const secrets = await tempDir('bench-relay-secrets')
    cleanups.push(() => secrets.remove())
    await writeFile(path.join(secrets.dir, secretFiles.redisPassword), `${password}\n`, {mode: 0o600})
    const origin = await startLlHlsOrigin(clip, CHANNEL)
    cleanups.push(() => origin.stop())
    // What the ingest holding the stream writes (and refreshes) in Redis.
    const state: StreamState = {
      channel: CHANNEL,
      streamId: `bench-${Date.now()}`,
      since: new Date().toISOString(),
      ingestId: 'bench-origin',
      origin: origin.origin,
      renditions: [{name: origin.rendition, height: 720, bandwidth: origin.bandwidth}],
    }
    const writeState = (): Promise<unknown> => client.set(streamStateKey(CHANNEL), JSON.stringify(state), 'EX', 60)
    await writeState()
    const refresh = setInterval(() => void writeState().catch(() => undefined), 20_000)
    cleanups.push(async () => clearInterval(refresh))
    const cache = await shmDir('relay-cache')
    cleanups.push(() => cache.remove())

    const profile: unknown = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8'))
    const port = await freePort()
    const relay = await startProcess({
      name: 'appliance relay',
      command: process.execPath,
      // SHING_BENCH_CPU_PROF=<dir>: the relay process writes a V8 CPU profile there when it stops.
      args: [...(process.env.SHING_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SHING_BENCH_CPU_PROF}`] : []), path.join(repoRoot, 'appliance/dist/main.js'), 'relay'],
      env: {
        ...standaloneRelayEnv({redisPort: redis.port, secretsDir: secrets.dir, profile, port, task: 'bench-relay', cacheMb, cacheDir: cache.dir}),
        ...(tls === undefined ? {} : {SHING_RELAY_TLS_PORT: String(tls.port), SHING_RELAY_TLS_CERT: tls.certFile, SHING_RELAY_TLS_KEY: tls.keyFile}),
      },
      ready: {probe: async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200},
      timeoutMs: 30_000,
    })
    cleanups.push(() => relay.stop())
    // Probed with a media object: a playlist request would count the probe as a viewer.
    const init = `http://127.0.0.1:${port}${LIVE_PREFIX}/${CHANNEL}/${origin.rendition}/init.mp4`
    await waitFor('the channel live at the relay', async () => (await fetch(init)).status === 200, {timeoutMs: 10_000})
    return {port, process: relay, origin, cacheDir: cache.dir, cacheMb, stop: () => unwind(cleanups)}
  } catch (error) {
    await unwind(cleanups)
    throw error
  }
}

export async function startShing(clip: SourceClip, cacheMb: number): Promise<Side> {
  const relay = await startShingRelay(clip, cacheMb)
  return {
    name: 'shing',
    label: `shing relay (${cacheMb} MiB cache) <- LL-HLS origin`,
    mode: 'llhls',
    url: `http://127.0.0.1:${relay.port}${LIVE_PREFIX}/${CHANNEL}/`,
    processes: [{name: 'relay', pid: relay.process.pid}],
    cacheDir: relay.cacheDir,
    origin: relay.origin,
    mark: atWall,
    stop: () => relay.stop(),
  }
}

/**
 * The edge's Caddyfile from templates/Caddyfile: its site on EDGE_HOST with `tls internal`, the
 * relay and web upstreams on 127.0.0.1, its ports free ones, its CA not installed anywhere.
 */
async function edgeCaddyfile(ports: {admin: number; http: number; https: number; relay: number; web: number}): Promise<string> {
  const template = await readFile(path.join(repoRoot, 'templates/Caddyfile'), 'utf8')
  const values: Record<string, string> = {
    global: `skip_install_trust\n\thttp_port ${ports.http}\n\thttps_port ${ports.https}\n\tauto_https disable_redirects`,
    site: EDGE_HOST,
    tls: 'tls internal',
  }
  const rendered = template
    .replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? '')
    .replace('admin 127.0.0.1:2019', `admin 127.0.0.1:${ports.admin}`)
    .replace('reverse_proxy relay:8082', `reverse_proxy 127.0.0.1:${ports.relay}`)
    .replace('reverse_proxy web:8080', `reverse_proxy 127.0.0.1:${ports.web}`)
  if (/relay:8082|web:8080|\{\{/.test(rendered)) throw new Error('templates/Caddyfile changed: the edge bench no longer knows how to render it')
  return rendered
}

/** A GET over TLS to 127.0.0.1 naming host (SNI and Host), the certificate not verified. */
function httpsStatus(url: URL, connectTo: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get({host: connectTo, port: url.port, path: url.pathname, servername: url.hostname, headers: {host: url.host}, rejectUnauthorized: false, agent: false}, (response) => {
      response.resume()
      response.once('end', () => resolve(response.statusCode ?? 0))
    })
    request.setTimeout(5000, () => request.destroy(new Error('no answer within 5 s')))
    request.once('error', reject)
  })
}

/** A side whose viewers reach the relay over TLS at base (on 127.0.0.1), with any processes in front of it. */
function tlsRelaySide(name: SideName, label: string, base: URL, front: ServerProcess[], relay: ShingRelay, cleanups: (() => Promise<unknown>)[]): Side {
  return {
    name,
    label,
    mode: 'llhls',
    url: base.href,
    connectTo: '127.0.0.1',
    processes: [...front, {name: 'relay', pid: relay.process.pid}],
    cacheDir: relay.cacheDir,
    origin: relay.origin,
    mark: atWall,
    stop: () => unwind(cleanups),
  }
}

export async function startEdge(clip: SourceClip, cacheMb: number): Promise<Side> {
  const relay = await startShingRelay(clip, cacheMb)
  const cleanups: (() => Promise<unknown>)[] = [() => relay.stop()]
  try {
    const home = await tempDir('bench-caddy')
    cleanups.push(() => home.remove())
    const ports = {admin: await freePort(), http: await freePort(), https: await freePort(), relay: relay.port, web: await freePort()}
    const config = path.join(home.dir, 'Caddyfile')
    await writeFile(config, await edgeCaddyfile(ports))
    const caddy = await startProcess({
      name: 'caddy',
      command: '/usr/bin/caddy',
      args: ['run', '--config', config, '--adapter', 'caddyfile'],
      // Its internal CA and certificates go in its own data dir, not the user's.
      env: {PATH: process.env.PATH, HOME: home.dir, XDG_DATA_HOME: path.join(home.dir, 'data'), XDG_CONFIG_HOME: path.join(home.dir, 'config')},
      ready: {tcp: {port: ports.https}},
      timeoutMs: 20_000,
    })
    cleanups.push(() => caddy.stop())
    const base = new URL(`https://${EDGE_HOST}:${ports.https}${LIVE_PREFIX}/${CHANNEL}/`)
    await waitFor('the channel through the edge', async () => (await httpsStatus(new URL(`${relay.origin.rendition}/init.mp4`, base), '127.0.0.1')) === 200, {timeoutMs: 20_000})
    const version = /"version":"(v[\d.]+)/.exec(caddy.output())?.[1]
    const label = `caddy${version === undefined ? '' : ` ${version}`} (tls internal, encode gzip, reverse_proxy) -> shing relay (${cacheMb} MiB cache) <- LL-HLS origin`
    return tlsRelaySide('edge', label, base, [{name: 'caddy', pid: caddy.pid}], relay, cleanups)
  } catch (error) {
    await unwind(cleanups)
    throw error
  }
}

/** Viewers on the relay's own TLS port (nginx: TLS 1.3, kTLS where the kernel has it), as ports.relayHttps sends them. */
export async function startDirect(clip: SourceClip, cacheMb: number): Promise<Side> {
  const certificate = await tempDir('bench-relay-tls')
  const cleanups: (() => Promise<unknown>)[] = [() => certificate.remove()]
  try {
    const {certFile, keyFile} = await selfSignedCertificate(certificate.dir, EDGE_HOST)
    const tlsPort = await freePort()
    const relay = await startShingRelay(clip, cacheMb, {port: tlsPort, certFile, keyFile})
    cleanups.push(() => relay.stop())
    const base = new URL(`https://${EDGE_HOST}:${tlsPort}${LIVE_PREFIX}/${CHANNEL}/`)
    await waitFor("the channel at the relay's TLS port", async () => (await httpsStatus(new URL(`${relay.origin.rendition}/init.mp4`, base), '127.0.0.1')) === 200, {timeoutMs: 20_000})
    return tlsRelaySide('direct', `shing relay's TLS port (${cacheMb} MiB cache) <- LL-HLS origin`, base, [], relay, cleanups)
  } catch (error) {
    await unwind(cleanups)
    throw error
  }
}
