/**
 * Every appliance component as the real process (`node appliance/dist/main.js <component>`)
 * against real Redis (with a password), FerretDB (MongoDB wire, with auth) and MinIO.
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {Queue, QueueEvents} from 'bullmq'
import {execa, execaSync} from 'execa'
import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {
  MONGO_USER,
  REGISTRY_PREFIX,
  REGISTRY_TTL_SECONDS,
  componentNames,
  createdStreamKeySchema,
  registryKey,
  registryRecordSchema,
  secretFiles,
  type ComponentName,
  type RegisteredRole,
  type RegistryRecord,
} from '../../../appliance/contract/index.js'
import {QUEUE_PREFIX, type HousekeepingResult} from '../../../appliance/jobs/types.js'
import {mainJs, runAdminOperation, siteEnv, startComponent as startAppliance, webrtcRange, writeSecretFiles} from '../../harness/appliance.js'
import {repoRoot} from '../../harness/cli.js'
import {startMongoWire, type MongoWireServer} from '../../harness/mongo-wire.js'
import {freePort, tempDir, waitFor, type ManagedProcess, timing} from '../../harness/process.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'
import {publishTestStream} from '../../harness/rtmp.js'
import {startS3, type S3Server} from '../../harness/s3.js'

const healthcheckJs = path.join(repoRoot, 'appliance/dist/healthcheck.js')

/** The checks each component's /healthz must report, all 'ok'. */
const expectedChecks: {[K in ComponentName]: string[]} = {
  web: ['redis', 'mongo', 's3'],
  ingest: ['redis', 'mongo', 's3', 'rtmp'],
  relay: ['redis'],
  sfu: ['redis', 'mediasoup'],
  worker: ['redis', 'mongo', 's3', 'queues'],
}
/** A gauge of its own each component's /metrics must carry. */
const ownGauge: {[K in ComponentName]: string} = {
  web: 'shing_web_registered_ingest',
  ingest: 'shing_ingest_slots_free',
  relay: 'shing_relay_viewers',
  sfu: 'shing_sfu_workers_alive',
  worker: 'shing_worker_jobs_active',
}
const registered: RegisteredRole[] = ['ingest', 'relay', 'sfu']

interface Running {
  process: ManagedProcess
  httpPort: number
  rtmpPort: number
}

interface Health {
  status: string
  checks: Record<string, string>
  errors?: Record<string, string>
}

const redisPassword = randomBytes(12).toString('hex')
const mongoPassword = randomBytes(12).toString('hex')
let redis: RedisServer
let mongo: MongoWireServer
let s3: S3Server
let secrets: {dir: string; remove: () => Promise<void>}
let client: Redis
let baseEnv: NodeJS.ProcessEnv
let maxLadders: number
const running = new Map<ComponentName, Running>()


async function health(port: number): Promise<{code: number; body: Health}> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {signal: AbortSignal.timeout(4000)})
  return {code: response.status, body: (await response.json()) as Health}
}


async function componentEnv(name: ComponentName): Promise<{env: NodeJS.ProcessEnv; httpPort: number; rtmpPort: number}> {
  const [httpPort, rtmpPort] = [await freePort(), await freePort()]
  const webrtc = name === 'sfu' ? await webrtcRange() : {}
  return {env: {...baseEnv, ...webrtc, SHING_HTTP_PORT: String(httpPort), SHING_RTMP_PORT: String(rtmpPort), SHING_TASK_NAME: undefined, SHING_COMPONENT: name}, httpPort, rtmpPort}
}

const startComponent = (name: ComponentName): Promise<Running> => startAppliance({component: name, env: baseEnv})

function get(name: ComponentName): Running {
  const component = running.get(name)
  if (component === undefined) throw new Error(`${name} is not running`)
  return component
}

async function records(role: RegisteredRole): Promise<{key: string; record: RegistryRecord; ttl: number}[]> {
  const keys = await client.keys(`${REGISTRY_PREFIX}:${role}:*`)
  return Promise.all(
    keys.map(async (key) => ({key, record: registryRecordSchema.parse(JSON.parse((await client.get(key)) ?? 'null')), ttl: await client.ttl(key)})),
  )
}

beforeAll(async () => {
  let since = performance.now()
  ;[redis, mongo, s3] = await Promise.all([
    startRedis({password: redisPassword}),
    startMongoWire({auth: {username: MONGO_USER, password: mongoPassword}}),
    startS3(),
  ])
  timing(`redis ${redis.version}, ${mongo.version}, ${s3.version} ready`, since)
  client = new Redis({port: redis.port, host: '127.0.0.1', password: redisPassword, maxRetriesPerRequest: 1})

  secrets = await tempDir('appliance-secrets')
  await writeSecretFiles(secrets.dir, {mongoPassword, redisPassword, s3})
  const profile = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8')) as {ingest: {maxLadders: number}}
  maxLadders = profile.ingest.maxLadders
  baseEnv = {
    ...siteEnv({redisPort: redis.port, mongoUrl: mongo.url, s3, secretsDir: secrets.dir, profile}),
    SHING_PUBLIC_URL: 'https://live.example.test',
  }

  since = performance.now()
  const started = await Promise.all(componentNames.map(async (name) => [name, await startComponent(name)] as const))
  for (const [name, component] of started) running.set(name, component)
  timing('all five components healthy', since)
})

afterAll(async () => {
  const since = performance.now()
  await Promise.allSettled(
    [...running.entries()].map(async ([name, c]) => {
      const start = performance.now()
      await c.process.stop()
      timing(`${name} stopped (Redis gone)`, start)
      if (process.env.SHING_TEST_DEBUG) console.log(c.process.output().slice(-3000))
    }),
  )
  timing('components stopped', since)
  client?.disconnect()
  await Promise.allSettled([redis?.stop(), mongo?.stop(), s3?.stop()])
  await secrets?.remove()
})

describe('appliance components against real Redis, MongoDB wire and S3', () => {
  it('each answers /healthz 200 with every check ok, and the Docker healthcheck agrees', async () => {
    for (const name of componentNames) {
      const {code, body} = await health(get(name).httpPort)
      expect({name, code, body}).toEqual({name, code: 200, body: {status: 'ok', checks: Object.fromEntries(expectedChecks[name].map((c) => [c, 'ok']))}})
    }
    const ok = await execa(process.execPath, [healthcheckJs], {reject: false, env: {SHING_COMPONENT: 'relay', SHING_HTTP_PORT: String(get('relay').httpPort)}})
    expect(ok.exitCode, ok.stderr).toBe(0)
    const nobody = await execa(process.execPath, [healthcheckJs], {reject: false, env: {SHING_COMPONENT: 'relay', SHING_HTTP_PORT: String(await freePort())}})
    expect(nobody.exitCode).toBe(1)
    expect(nobody.stderr).toMatch(/healthcheck: http:\/\/127\.0\.0\.1:\d+\/healthz/)
  })

  it('each serves Prometheus metrics with process metrics and its own gauges', async () => {
    for (const name of componentNames) {
      const response = await fetch(`http://127.0.0.1:${get(name).httpPort}/metrics`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await response.text()
      expect(text).toContain('# TYPE process_cpu_user_seconds_total counter')
      expect(text).toMatch(new RegExp(`^${ownGauge[name]}\\{component="${name}"\\} \\d+`, 'm'))
    }
    const sfu = await (await fetch(`http://127.0.0.1:${get('sfu').httpPort}/metrics`)).text()
    expect(sfu).toMatch(/^shing_sfu_workers_alive\{component="sfu"\} 1$/m)
  })

  it('ingest, relay and sfu register in Redis with a TTL, and web lists them', async () => {
    const seen = new Map<RegisteredRole, RegistryRecord>()
    for (const role of registered) {
      const [entry, ...more] = await records(role)
      expect(more).toEqual([])
      expect(entry).toBeDefined()
      if (entry === undefined) continue
      expect(entry.key).toBe(registryKey(role, entry.record.id))
      expect(entry.ttl).toBeGreaterThan(0)
      expect(entry.ttl).toBeLessThanOrEqual(REGISTRY_TTL_SECONDS)
      expect(entry.record.ports.http).toBe(get(role).httpPort)
      expect(entry.record.host).not.toBe('')
      expect(entry.record.load.cpu).toBeGreaterThanOrEqual(0)
      seen.set(role, entry.record)
    }
    expect(seen.get('ingest')?.ports.rtmp).toBe(get('ingest').rtmpPort)
    expect(seen.get('ingest')?.load).toMatchObject({streams: 0, slotsUsed: 0, slotsFree: maxLadders})
    expect(seen.get('relay')?.load).toMatchObject({viewers: 0})

    const web = get('web').httpPort
    const nodes = (await (await fetch(`http://127.0.0.1:${web}/api/nodes`)).json()) as Record<RegisteredRole, RegistryRecord[]>
    for (const role of registered) expect(nodes[role].map((n) => n.id)).toEqual([seen.get(role)?.id])
    const home = await fetch(`http://127.0.0.1:${web}/`)
    expect(home.headers.get('content-type')).toMatch(/text\/html/)
    const page = await home.text()
    expect(page).toContain('live.example.test')
    expect(page).toContain('Nobody is live right now.')
    // The boxes and their load are the admin's: the front page does not show them.
    expect(page).not.toMatch(/ingest|relay|sfu/)

    const missing = await fetch(`http://127.0.0.1:${get('relay').httpPort}/live/nobody/index.m3u8`)
    expect(missing.status).toBe(404)
    expect(await missing.text()).toContain('no such stream')
  })

  it('an RTMP publish to the ingest shows in its registry load', async () => {
    const ingest = get('ingest')
    const since = performance.now()
    // The ingest accepts only a stream key of a channel (test/integration/appliance/stream-keys.test.ts).
    const created = await runAdminOperation('stream-key.create', {channel: 'load-test'}, {...baseEnv, SHING_COMPONENT: 'web'})
    if (!created.reply.ok) throw new Error(created.reply.error.message)
    const {key} = createdStreamKeySchema.parse(created.reply.result)
    const publisher = await publishTestStream({url: `rtmp://127.0.0.1:${ingest.rtmpPort}/live/${key}`, size: '640x360', fps: 30})
    try {
      const record = await waitFor('ingest load streams=1', async () => {
        const [entry] = await records('ingest')
        return entry?.record.load.streams === 1 ? entry.record : undefined
      }, {timeoutMs: 10_000})
      timing('publish visible in the registry', since)
      expect(record.load).toMatchObject({streams: 1, slotsUsed: 1, slotsFree: maxLadders - 1})
      const metrics = await (await fetch(`http://127.0.0.1:${ingest.httpPort}/metrics`)).text()
      expect(metrics).toMatch(/^shing_ingest_streams\{component="ingest"\} 1$/m)
    } finally {
      await publisher.stop()
    }
  })

  it('the worker runs housekeeping, which drops registry records of dead nodes', async () => {
    const old = new Date(Date.now() - 60_000).toISOString()
    const dead = registryKey('relay', 'dead-node')
    const garbage = registryKey('sfu', 'garbage')
    // A record without TTL whose process stopped heartbeating, and one that is not a record at all.
    await client.set(dead, JSON.stringify({id: 'dead-node', role: 'relay', host: '10.0.0.9', ports: {http: 8082}, startedAt: old, heartbeatAt: old, load: {cpu: 0}}))
    await client.set(garbage, 'not json')
    const connection = {host: '127.0.0.1', port: redis.port, password: redisPassword, maxRetriesPerRequest: null}
    const queue = new Queue('housekeeping', {connection, prefix: QUEUE_PREFIX})
    const events = new QueueEvents('housekeeping', {connection, prefix: QUEUE_PREFIX})
    try {
      await events.waitUntilReady()
      const job = await queue.add('housekeeping', {})
      const result = (await job.waitUntilFinished(events, 15_000)) as HousekeepingResult
      expect(result.status).toBe('done')
      expect(result.registry.relay).toEqual({live: 1, removed: 1})
      expect(result.registry.sfu).toEqual({live: 1, removed: 1})
      expect(result.registry.ingest).toEqual({live: 1, removed: 0})
      expect(await client.exists(dead, garbage)).toBe(0)
      const metrics = await (await fetch(`http://127.0.0.1:${get('worker').httpPort}/metrics`)).text()
      expect(metrics).toMatch(/^shing_worker_jobs_total\{type="housekeeping",outcome="completed",component="worker"\} [1-9]/m)
    } finally {
      await events.close()
      await queue.close()
    }
  })

  it('logs are JSON lines tagged with the component, and no secret ever shows in them', async () => {
    for (const name of componentNames) {
      const output = get(name).process.output()
      for (const value of [redisPassword, mongoPassword, s3.secretKey]) expect(output.includes(value), `${name} logged a secret`).toBe(false)
      const lines = output.split('\n').filter((line) => line.startsWith('{'))
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({component: name})
    }
  })

  it('a missing variable or secret stops the start with exit 1 naming it', async () => {
    const noRedis = await execa(process.execPath, [mainJs, 'relay'], {reject: false, env: {...baseEnv, SHING_REDIS_HOST: undefined}, extendEnv: false})
    expect(noRedis.exitCode).toBe(1)
    expect(noRedis.stderr).toContain('missing environment variable SHING_REDIS_HOST')
    const empty = await tempDir('no-secrets')
    try {
      const noSecret = await execa(process.execPath, [mainJs, 'web'], {reject: false, env: {...baseEnv, SHING_SECRETS_DIR: empty.dir}, extendEnv: false})
      expect(noSecret.exitCode).toBe(1)
      expect(noSecret.stderr).toContain(secretFiles.redisPassword)
    } finally {
      await empty.remove()
    }
  })

  it('SIGTERM: every component exits 0 within 10 s and its registry record is gone', async () => {
    // Fresh processes (execa gives the exit code), on their own ports beside the running ones.
    await Promise.all(
      componentNames.map(async (name) => {
        const {env, httpPort} = await componentEnv(name)
        const child = execa(process.execPath, [mainJs, name], {reject: false, env, extendEnv: false, all: true})
        let output = ''
        child.all?.on('data', (chunk: Buffer) => (output += chunk.toString()))
        let exited = false
        void child.finally(() => (exited = true))
        try {
          const pid = child.pid
          await waitFor(`${name} healthy`, async () => {
            if (exited) throw new Error(`${name} exited before it was healthy:\n${output.slice(-3000)}`)
            return (await health(httpPort)).code === 200
          }, {timeoutMs: 30_000}).catch((error: Error) => {
            throw new Error(`${error.message}\n--- ${name} output ---\n${output.slice(-3000)}`, {cause: error})
          })
          const role = registered.find((r) => r === name)
          const key = role === undefined ? undefined : registryKey(role, `${os.hostname()}-${pid}`)
          if (key !== undefined) await waitFor(`${key} written`, async () => (await client.exists(key)) === 1, {timeoutMs: 10_000})
          const since = performance.now()
          child.kill('SIGTERM')
          const result = await child
          const tookMs = performance.now() - since
          console.log(`timing: ${name} stopped on SIGTERM in ${Math.round(tookMs)} ms (exit ${result.exitCode})`)
          expect({name, exitCode: result.exitCode}, output).toEqual({name, exitCode: 0})
          expect(tookMs).toBeLessThan(10_000)
          if (key !== undefined) expect(await client.exists(key)).toBe(0)
        } finally {
          child.kill('SIGKILL')
        }
      }),
    )
  })

  it('a dead mediasoup worker is the sfu itself broken: /healthz 503 naming it (swarm replaces the task)', async () => {
    const sfu = get('sfu')
    const before = await health(sfu.httpPort)
    expect(before.code).toBe(200)
    const workerPids = execaSync('pgrep', ['-P', String(sfu.process.pid), '-f', 'mediasoup-worker'], {reject: false}).stdout.split('\n').filter(Boolean).map(Number)
    expect(workerPids.length).toBeGreaterThan(0)
    process.kill(workerPids[0]!, 'SIGKILL')
    const body = await waitFor('sfu /healthz 503', async () => {
      const answer = await health(sfu.httpPort)
      return answer.code === 503 ? answer.body : undefined
    }, {timeoutMs: 5000})
    expect(body.status).toBe('failing')
    expect(body.checks.mediasoup).toBe('failing')
  })

  it('with Redis gone, each component says it is degraded naming redis within 5 s, and stays 200: replacing it would not help', async () => {
    const since = performance.now()
    client.disconnect()
    await redis.stop()
    await Promise.all(
      componentNames
        .filter((name) => name !== 'sfu') // its worker was killed above: it is broken, not degraded
        .map(async (name) => {
          const body = await waitFor(`${name} /healthz degraded naming redis`, async () => {
            const answer = await health(get(name).httpPort)
            return answer.code === 200 && answer.body.status === 'degraded' ? answer.body : undefined
          }, {timeoutMs: 5000})
          expect(body.checks.redis).toBe('failing')
          expect(body.errors?.redis).toBeTruthy()
        }),
    )
    timing('every component degraded after Redis stopped', since)
  })
})
