/**
 * Stream keys, publish authorization at the ingest, stream state and the assignment API, with the
 * real processes (`node appliance/dist/{main,admin}.js`) against real Redis (password), FerretDB
 * (auth) and MinIO, and real ffmpeg publishing over RTMP like OBS.
 */
import {createHmac, randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {Redis} from 'ioredis'
import {MongoClient} from 'mongodb'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {
  adminOperations,
  MONGO_DATABASE,
  MONGO_USER,
  REGISTRY_TTL_SECONDS,
  streamStateKey,
  streamStateSchema,
  type AdminInput,
  type AdminOperationName,
  type AdminResult,
  type ComponentName,
  type CreatedStreamKey,
  type IngestAssignment,
  type Playback,
  type StreamState,
} from '../../../appliance/contract/index.js'
import {runAdminOperation, siteEnv, startComponent as startAppliance, writeSecretFiles} from '../../harness/appliance.js'
import {repoRoot} from '../../harness/cli.js'
import {startMongoWire, type MongoWireServer} from '../../harness/mongo-wire.js'
import {HarnessError, tempDir, waitFor, type ManagedProcess, timing} from '../../harness/process.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'
import {publishTestStream} from '../../harness/rtmp.js'
import {startS3, type S3Server} from '../../harness/s3.js'


const redisPassword = randomBytes(12).toString('hex')
const mongoPassword = randomBytes(12).toString('hex')
const streamKeySecret = randomBytes(32).toString('hex')
let redis: RedisServer
let mongo: MongoWireServer
let s3: S3Server
let secrets: {dir: string; remove: () => Promise<void>}
let client: Redis
let mongoClient: MongoClient
let baseEnv: NodeJS.ProcessEnv
const running = new Map<ComponentName, {process: ManagedProcess; httpPort: number; rtmpPort: number}>()
const publishers: ManagedProcess[] = []
let alicePublisher: ManagedProcess | undefined



async function startComponent(name: ComponentName): Promise<void> {
  running.set(name, await startAppliance({component: name, env: baseEnv}))
}

function get(name: ComponentName): {process: ManagedProcess; httpPort: number; rtmpPort: number} {
  const component = running.get(name)
  if (component === undefined) throw new Error(`${name} is not running`)
  return component
}

async function admin<K extends AdminOperationName>(name: K, input: AdminInput<K>): Promise<AdminResult<K>> {
  const {exitCode, reply, stderr} = await runAdminOperation(name, input, {...baseEnv, SHING_COMPONENT: 'web'})
  expect(exitCode, `admin ${name}: ${JSON.stringify(reply)} ${stderr}`).toBe(0)
  if (!reply.ok) throw new Error(reply.error.message)
  return adminOperations[name].result.parse(reply.result) as AdminResult<K>
}

async function webGet<T>(apiPath: string): Promise<{status: number; body: T}> {
  const response = await fetch(`http://127.0.0.1:${get('web').httpPort}${apiPath}`)
  return {status: response.status, body: (await response.json()) as T}
}

async function refusedCount(reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${get('ingest').httpPort}/metrics`)).text()
  const match = new RegExp(`^shing_ingest_publish_refused_total\\{reason="${reason}",component="ingest"\\} (\\d+)$`, 'm').exec(text)
  if (match?.[1] === undefined) throw new Error(`no shing_ingest_publish_refused_total{reason="${reason}"} in /metrics`)
  return Number(match[1])
}

const rtmpUrl = (key: string): string => `rtmp://127.0.0.1:${get('ingest').rtmpPort}/live/${key}`

async function publish(key: string): Promise<ManagedProcess> {
  const publisher = await publishTestStream({url: rtmpUrl(key), size: '320x180', fps: 15})
  publishers.push(publisher)
  return publisher
}

/** ffmpeg publishing with the key must end by itself, non-zero, within a few seconds. */
/** ffmpeg publishing with the key ends by itself, non-zero, within a few seconds; what it printed. */
async function expectRefused(key: string): Promise<{ms: number; output: string}> {
  const since = performance.now()
  let code: number | null
  let output: string
  try {
    const publisher = await publish(key)
    const exit = await Promise.race([publisher.exited, new Promise<undefined>((r) => setTimeout(r, 10_000))])
    if (exit === undefined) throw new Error(`ffmpeg still publishing 10 s after a refused publish:\n${publisher.output().slice(-2000)}`)
    code = exit.code
    output = publisher.output()
  } catch (error) {
    // Refused before ffmpeg printed its first progress line.
    if (!(error instanceof HarnessError) || !/exited with (\d+) before it was ready/.test(error.message)) throw error
    code = Number(/exited with (\d+)/.exec(error.message)?.[1])
    output = error.message
  }
  expect(code).not.toBe(0)
  return {ms: performance.now() - since, output}
}

async function state(channel: string): Promise<{state: StreamState; ttl: number} | undefined> {
  const value = await client.get(streamStateKey(channel))
  if (value === null) return undefined
  return {state: streamStateSchema.parse(JSON.parse(value)), ttl: await client.ttl(streamStateKey(channel))}
}

interface StreamDoc {
  channel: string
  streamId: string
  ingestId: string
  startedAt: Date
  endedAt?: Date
  live: boolean
}
const streamsCollection = () => mongoClient.db(MONGO_DATABASE).collection<StreamDoc>('streams')

beforeAll(async () => {
  let since = performance.now()
  ;[redis, mongo, s3] = await Promise.all([
    startRedis({password: redisPassword}),
    startMongoWire({auth: {username: MONGO_USER, password: mongoPassword}}),
    startS3(),
  ])
  timing(`redis ${redis.version}, ${mongo.version}, ${s3.version} ready`, since)
  client = new Redis({port: redis.port, host: '127.0.0.1', password: redisPassword, maxRetriesPerRequest: 1})
  mongoClient = new MongoClient(`mongodb://${MONGO_USER}:${mongoPassword}@${new URL(mongo.url).host}/?authSource=admin`)

  secrets = await tempDir('stream-key-secrets')
  await writeSecretFiles(secrets.dir, {mongoPassword, redisPassword, s3, streamKeySecret})
  const profile = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8')) as {ingest: {maxLadders: number}}
  // One ladder slot: a second channel finds none, and assignment answers 503 while one is live.
  profile.ingest.maxLadders = 1
  baseEnv = {
    ...siteEnv({redisPort: redis.port, mongoUrl: mongo.url, s3, secretsDir: secrets.dir, profile}),
  }
  since = performance.now()
  await Promise.all((['web', 'ingest', 'relay'] as const).map((name) => startComponent(name)))
  timing('web, ingest, relay healthy', since)
})

afterAll(async () => {
  await Promise.allSettled(publishers.map((p) => p.stop()))
  await Promise.allSettled([...running.values()].map((c) => c.process.stop()))
  if (process.env.SHING_TEST_DEBUG) console.log(running.get('ingest')?.process.output().slice(-6000))
  client?.disconnect()
  await mongoClient?.close()
  await Promise.allSettled([redis?.stop(), mongo?.stop(), s3?.stop()])
  await secrets?.remove()
})

describe('stream keys, publish authorization and assignment', () => {
  const keys: Record<'alice1' | 'alice2' | 'bob', CreatedStreamKey> = {} as Record<'alice1' | 'alice2' | 'bob', CreatedStreamKey>

  it('admin.js creates keys, stored only as an HMAC; list shows ids, never keys', async () => {
    const since = performance.now()
    keys.alice1 = await admin('stream-key.create', {channel: 'alice'})
    timing('admin.js stream-key create', since)
    keys.alice2 = await admin('stream-key.create', {channel: 'alice'})
    keys.bob = await admin('stream-key.create', {channel: 'bob'})
    expect(keys.alice1).toMatchObject({channel: 'alice', keyId: expect.stringMatching(/^[0-9a-f]{12}$/), key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)})
    expect(keys.alice1.key).not.toBe(keys.alice2.key)

    const db = mongoClient.db(MONGO_DATABASE)
    const docs = await db.collection('streamKeys').find({channel: 'alice'}).toArray()
    expect(docs.map((d) => d.hash).sort()).toEqual([keys.alice1.key, keys.alice2.key].map((k) => createHmac('sha256', streamKeySecret).update(k).digest('hex')).sort())
    expect(JSON.stringify(docs)).not.toContain(keys.alice1.key)
    expect(await db.collection('channels').countDocuments({name: {$in: ['alice', 'bob']}})).toBe(2)

    const listed = await admin('stream-key.list', {channel: 'alice'})
    expect(listed.map((k) => k.keyId).sort()).toEqual([keys.alice1.keyId, keys.alice2.keyId].sort())
    expect(JSON.stringify(listed)).not.toContain(keys.alice1.key)

    const bad = await runAdminOperation('stream-key.create', {channel: 'Not A Channel'}, {...baseEnv, SHING_COMPONENT: 'web'})
    expect(bad.exitCode).toBe(1)
    expect(bad.reply).toMatchObject({ok: false, error: {kind: 'abort', message: expect.stringContaining('a channel name is 1-63')}})
  })

  it('assignment gives the ingest RTMP URL; playback of an offline channel says so; bad names are 404', async () => {
    const assign = await webGet<IngestAssignment>('/api/ingest/assign')
    expect(assign.status).toBe(200)
    expect(assign.body.rtmpUrl).toBe(`rtmp://live.example.test:${get('ingest').rtmpPort}/live`)
    expect(assign.body.ingestId).toMatch(/\S/)
    const playback = await webGet<Playback>('/api/streams/alice/playback')
    expect(playback.status).toBe(200)
    expect(playback.body).toMatchObject({live: false, url: '/live/alice/master.m3u8', publicUrl: 'https://live.example.test/live/alice/master.m3u8', relay: expect.any(String)})
    expect((await webGet('/api/streams/No%20Such!/playback')).status).toBe(404)
  })

  it('a good key is accepted: stream state with a TTL in Redis, the broadcast live in MongoDB, playback live', async () => {
    const since = performance.now()
    alicePublisher = await publish(keys.alice1.key)
    const live = await waitFor('alice stream state', () => state('alice'), {timeoutMs: 10_000})
    timing('publish accepted → stream state in Redis', since)
    expect(live.ttl).toBeGreaterThan(0)
    expect(live.ttl).toBeLessThanOrEqual(REGISTRY_TTL_SECONDS)
    expect(live.state).toMatchObject({channel: 'alice', origin: expect.stringMatching(new RegExp(`:${get('ingest').httpPort}$`))})
    expect(live.state.renditions.map((r) => r.name)).toEqual(['720p', '480p', '360p'])
    const doc = await waitFor('streams document', async () => (await streamsCollection().findOne({streamId: live.state.streamId})) ?? undefined, {timeoutMs: 5000})
    expect(doc).toMatchObject({channel: 'alice', live: true, ingestId: live.state.ingestId})
    const playback = await webGet<Playback>('/api/streams/alice/playback')
    expect(playback.body).toMatchObject({live: true, since: live.state.since, streamId: live.state.streamId})
  })

  it('while alice is live: her other key is refused (already-live), bob finds no slot, assignment answers 503', async () => {
    const alreadyLive = await refusedCount('already-live')
    const {ms: tookMs, output} = await expectRefused(keys.alice2.key)
    // The encoder is told why (ffmpeg prints the server's status: OBS shows it).
    expect(output).toContain('Server error: alice is already live from another encoder')
    console.log(`timing: second publisher of a live channel refused, ffmpeg exited in ${Math.round(tookMs)} ms`)
    expect(await refusedCount('already-live')).toBe(alreadyLive + 1)
    // The same key twice: node-media-server refuses the path itself, and we count it too.
    await expectRefused(keys.alice1.key)
    expect(await refusedCount('already-live')).toBe(alreadyLive + 2)

    const noSlot = await refusedCount('no-slot')
    expect((await expectRefused(keys.bob.key)).output).toContain('Server error: This server has no room for another broadcast now')
    expect(await refusedCount('no-slot')).toBe(noSlot + 1)
    expect(await state('bob')).toBeUndefined()

    const assign = await waitFor('assignment 503', async () => {
      const answer = await webGet<{error: string; message: string}>('/api/ingest/assign')
      return answer.status === 503 ? answer.body : undefined
    }, {timeoutMs: 10_000})
    expect(assign.message).toContain('no ingest has a free transcode slot')
    // It names only what exists (there is no `shing node add` yet).
    expect(assign.message).toMatch(/shing status/)
    expect(assign.message).not.toMatch(/node add/)
    // alice is still live after all that.
    expect((await state('alice'))?.state.channel).toBe('alice')
  })

  it('a wrong key is refused with a status ffmpeg prints: counted, no state, and the key never reaches the log', async () => {
    const before = await refusedCount('bad-key')
    const wrong = randomBytes(32).toString('base64url')
    const {output} = await expectRefused(wrong)
    expect(output).toContain('Server error: This stream key is not valid')
    expect(await refusedCount('bad-key')).toBe(before + 1)
    const ingestLog = get('ingest').process.output()
    expect(ingestLog).toMatch(/"reason":"bad-key".*"msg":"publish refused \(bad-key\)/)
    for (const key of [wrong, keys.alice1.key, keys.alice2.key, keys.bob.key]) expect(ingestLog.includes(key)).toBe(false)
  })

  it('a key with characters a key never has is bad-key (not bad-path), and node-media-server logs no error for it; <key>?x is not <key>', async () => {
    const before = await refusedCount('bad-key')
    const pathBefore = await refusedCount('bad-path')
    const weird = `${randomBytes(30).toString('base64url')}.%`
    expect((await expectRefused(weird)).output).toContain('Server error: This stream key is not valid')
    expect((await expectRefused(`${keys.bob.key}?x=1`)).output).toContain('Server error: This stream key is not valid')
    expect(await refusedCount('bad-key')).toBe(before + 2)
    expect(await refusedCount('bad-path')).toBe(pathBefore)
    const errors = get('ingest').process.output().split('\n').filter((l) => l.includes('"level":50') && l.includes('"module":"nms"'))
    expect(errors).toEqual([])
    expect(await state('bob')).toBeUndefined()
  })

  it('a wrong app (server URL) is bad-path, and the status names the server to use', async () => {
    const before = await refusedCount('bad-path')
    const publisher = await publishTestStream({url: `rtmp://127.0.0.1:${get('ingest').rtmpPort}/wrongapp/${keys.bob.key}`, size: '320x180', fps: 15}).catch((error: Error) => error)
    const output = publisher instanceof Error ? publisher.message : (await publisher.exited, publisher.output())
    expect(output).toMatch(/Server error: Set the encoder's server to rtmp:\/\/live\.example\.test:\d+\/live/)
    expect(await refusedCount('bad-path')).toBe(before + 1)
  })

  it('stopping the publisher removes the state and ends the broadcast; playback offline, assignment free again', async () => {
    const live = await state('alice')
    expect(live).toBeDefined()
    const since = performance.now()
    await alicePublisher?.stop()
    await waitFor('alice stream state gone', async () => (await state('alice')) === undefined, {timeoutMs: 5000})
    timing('publisher stopped → stream state gone', since)
    const doc = await waitFor('stream ended in MongoDB', async () => {
      const d = await streamsCollection().findOne({streamId: live?.state.streamId})
      return d?.live === false ? d : undefined
    }, {timeoutMs: 5000})
    expect(doc.endedAt).toBeInstanceOf(Date)
    expect((await webGet<Playback>('/api/streams/alice/playback')).body.live).toBe(false)
    await waitFor('assignment 200', async () => (await webGet('/api/ingest/assign')).status === 200, {timeoutMs: 10_000})
  })

  it('a revoked key is refused at once, even right after it was accepted (its cache entry is replaced)', async () => {
    // alice2 is looked up and cached as good by this publish.
    const publisher = await publish(keys.alice2.key)
    await waitFor('alice live with her second key', () => state('alice'), {timeoutMs: 10_000})
    await publisher.stop()
    await waitFor('alice offline', async () => (await state('alice')) === undefined, {timeoutMs: 5000})

    const one = await admin('stream-key.revoke', {channel: 'alice', keyId: keys.alice1.keyId})
    expect(one.revoked).toEqual([keys.alice1.keyId])
    const all = await admin('stream-key.revoke', {channel: 'alice'})
    expect(all.revoked).toEqual([keys.alice2.keyId])
    const before = await refusedCount('revoked')
    await expectRefused(keys.alice2.key)
    await expectRefused(keys.alice1.key)
    expect(await refusedCount('revoked')).toBe(before + 2)
    expect(await state('alice')).toBeUndefined()
    const listed = await admin('stream-key.list', {channel: 'alice'})
    expect(listed.every((k) => k.revokedAt !== undefined)).toBe(true)
    expect(listed.find((k) => k.keyId === keys.alice2.keyId)?.lastUsedAt).toBeDefined()
  })
})
