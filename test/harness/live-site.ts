/**
 * A live site of real processes for one test file: Redis (password), FerretDB (auth) and MinIO,
 * the appliance components it asks for (web, worker, ingests, relays), a stream key per channel,
 * and a small front standing in for the edge (/live/* to the relays, the rest to web).
 */
import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {readFile} from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import type {Duplex} from 'node:stream'

import {Redis} from 'ioredis'
import {Client as MinioClient} from 'minio'
import {MongoClient} from 'mongodb'
import YAML from 'yaml'

import {createdStreamKeySchema, MONGO_USER, type ComponentName, type HardwareProfile} from '../../appliance/contract/index.js'
import {runAdminOperation, siteEnv, startComponent, writeSecretFiles, type RunningComponent} from './appliance.js'
import {repoRoot} from './cli.js'
import {startMongoWire, type MongoWireServer} from './mongo-wire.js'
import {HarnessError, tempDir} from './process.js'
import {startRedis, type RedisServer} from './redis.js'
import {startS3, type S3Server} from './s3.js'
import {requireTool} from './tools.js'

export const BUCKET = 'shing-media'

export interface LiveSite {
  redis: RedisServer
  mongo: MongoWireServer
  s3: S3Server
  /** A client of the site's Redis, for the test's own looks. */
  client: Redis
  /** Where the site's Redis is, with its password (a BullMQ Queue or JobQueues of the test's own). */
  redisEndpoint: {host: string; port: number; password: string}
  mongoClient: MongoClient
  minio: MinioClient
  env: NodeJS.ProcessEnv
  profile: HardwareProfile
  /** Starts a component under an id (`ingest-a`, `relay`…; the part before `-` names the component). */
  start(id: string, extraEnv?: NodeJS.ProcessEnv): Promise<RunningComponent>
  get(id: string): RunningComponent
  /** Creates a channel's stream key with the admin operation; returns the key. */
  streamKey(channel: string): Promise<string>
  /** The front's URL (where a browser or ffprobe goes). */
  frontUrl(): string
  /** GET on web, JSON. */
  web<T>(apiPath: string, init?: RequestInit): Promise<{status: number; body: T; headers: Headers}>
  /** Sum of a Prometheus counter's samples whose labels include `labels`. */
  metric(id: string, name: string, labels?: Record<string, string>): Promise<number>
  stop(): Promise<void>
}

export interface LiveSiteOptions {
  /** A profile from hardware-profiles/ (default cpu-small), changed as the test needs. */
  profile?: string
  adjustProfile?: (profile: HardwareProfile) => HardwareProfile
  /** Redis with its append-only file, as the stack runs it (a restart keeps sessions and the chat stream). */
  redisPersistence?: boolean
}

export async function startLiveSite(options: LiveSiteOptions = {}): Promise<LiveSite> {
  const redisPassword = randomBytes(12).toString('hex')
  const mongoPassword = randomBytes(12).toString('hex')
  const [redis, mongo, s3] = await Promise.all([
    startRedis({password: redisPassword, persistence: options.redisPersistence ?? false}),
    startMongoWire({auth: {username: MONGO_USER, password: mongoPassword}}),
    startS3(),
  ])
  const secrets = await tempDir('live-site-secrets')
  await writeSecretFiles(secrets.dir, {mongoPassword, redisPassword, s3})
  const base = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles', `${options.profile ?? 'cpu-small'}.yaml`), 'utf8')) as HardwareProfile
  const profile = options.adjustProfile?.(base) ?? base
  const env: NodeJS.ProcessEnv = {
    ...siteEnv({redisPort: redis.port, mongoUrl: mongo.url, s3, secretsDir: secrets.dir, profile, bucket: BUCKET}),
    // The ingest runs ffmpeg from PATH: the one the harness found first.
    PATH: `${path.dirname(requireTool('ffmpeg'))}:${process.env.PATH ?? ''}`,
    // Assignment answers rtmp://<this>:<port>/live: a test publishes to it as it is.
    SHING_PUBLIC_HOST: '127.0.0.1',
  }
  const client = new Redis({port: redis.port, host: '127.0.0.1', password: redisPassword, maxRetriesPerRequest: 1})
  // A test may restart Redis: the client reconnects by itself, and a command meanwhile fails on its own.
  client.on('error', () => undefined)
  const mongoClient = new MongoClient(`mongodb://${MONGO_USER}:${mongoPassword}@${new URL(mongo.url).host}/?authSource=admin`)
  const minio = new MinioClient({endPoint: s3.host, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true})
  const running = new Map<string, RunningComponent>()
  const get = (id: string): RunningComponent => {
    const component = running.get(id)
    if (component === undefined) throw new HarnessError(`live site: ${id} is not running`)
    return component
  }

  // The front: /live/* to the relays in turn, the rest (WebSockets too) to the web instances
  // (`web`, `web-2`…) in turn; one that has exited gets nothing, as the edge's health checks do.
  let next = 0
  const exited = new Set<string>()
  const tunnels = new Set<Duplex>()
  const ports = (match: RegExp): number[] => [...running.entries()].filter(([id]) => match.test(id) && !exited.has(id)).map(([, c]) => c.httpPort)
  const front = http.createServer((request, response) => {
    const relays = ports(/^relay/)
    const webs = ports(/^web(-\d+)?$/)
    const url = request.url ?? '/'
    const port = url.startsWith('/live/') && relays.length > 0 ? relays[next++ % relays.length]! : (webs[next++ % Math.max(1, webs.length)] ?? get('web').httpPort)
    const upstream = http.request({host: '127.0.0.1', port, path: url, method: request.method, headers: request.headers}, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(response)
    })
    upstream.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502, {'content-type': 'text/plain'})
      response.end(`front: ${error.message}`)
    })
    request.pipe(upstream)
  })
  front.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A test pins a browser's WebSocket to one instance with x-front-prefer: <id>, while it lives.
    const prefer = request.headers['x-front-prefer']
    const pinned = typeof prefer === 'string' && running.has(prefer) && !exited.has(prefer) ? running.get(prefer)!.httpPort : undefined
    const webs = ports(/^web(-\d+)?$/)
    const port = pinned ?? webs[next++ % Math.max(1, webs.length)]
    if (port === undefined) return socket.destroy()
    tunnels.add(socket)
    socket.on('close', () => tunnels.delete(socket))
    const upstream = net.connect(port, '127.0.0.1', () => {
      const headers = request.rawHeaders.reduce((lines, value, i) => (i % 2 === 0 ? `${lines}${value}: ` : `${lines}${value}\r\n`), '')
      upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers}\r\n`)
      upstream.write(head)
      socket.pipe(upstream).pipe(socket)
    })
    upstream.on('error', () => socket.destroy())
    upstream.on('close', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
    socket.on('close', () => upstream.destroy())
  })
  front.listen(0, '127.0.0.1')
  await once(front, 'listening')
  const frontPort = (front.address() as {port: number}).port

  const site: LiveSite = {
    redis,
    mongo,
    s3,
    client,
    redisEndpoint: {host: '127.0.0.1', port: redis.port, password: redisPassword},
    mongoClient,
    minio,
    env,
    profile,
    start: async (id, extraEnv = {}) => {
      const component = id.split('-')[0] as ComponentName
      const started = await startComponent({component, env: {...env, ...extraEnv}, id})
      running.set(id, started)
      exited.delete(id)
      void started.process.exited.then(() => {
        if (running.get(id) === started) exited.add(id)
      })
      return started
    },
    get,
    streamKey: async (channel) => {
      const created = await runAdminOperation('stream-key.create', {channel}, {...env, SHING_COMPONENT: 'web'})
      if (!created.reply.ok) throw new HarnessError(`live site: stream-key.create ${channel}: ${created.reply.error.message}`)
      return createdStreamKeySchema.parse(created.reply.result).key
    },
    frontUrl: () => `http://127.0.0.1:${frontPort}`,
    web: async <T,>(apiPath: string, init: RequestInit = {}) => {
      const response = await fetch(`http://127.0.0.1:${get('web').httpPort}${apiPath}`, {signal: AbortSignal.timeout(10_000), ...init})
      const text = await response.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // Not JSON (a page): the text.
      }
      return {status: response.status, body: body as T, headers: response.headers}
    },
    metric: async (id, name, labels = {}) => {
      const text = await (await fetch(`http://127.0.0.1:${get(id).httpPort}/metrics`)).text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      }
      return sum
    },
    stop: async () => {
      front.closeAllConnections()
      for (const tunnel of tunnels) tunnel.destroy()
      front.close()
      await Promise.allSettled([...running.values()].map((c) => c.process.stop()))
      client.disconnect()
      await mongoClient.close().catch(() => undefined)
      await Promise.allSettled([redis.stop(), mongo.stop(), s3.stop()])
      await secrets.remove()
    },
  }
  return site
}
