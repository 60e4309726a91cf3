/**
 * The relay as the real process (`node appliance/dist/main.js relay`, which runs Debian's nginx
 * in front of itself) against real Redis (with a password) and a real HTTP origin written here: node http on 127.0.0.1 serving a fake LL-HLS
 * stream from memory, counting every request, and holding blocking playlist reloads until the
 * test publishes the next part (as the ingest does). The relay needs neither MongoDB nor S3.
 */
import {createHash, randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {readdirSync, readFileSync} from 'node:fs'
import {readFile, writeFile} from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'

import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {LIVE_PREFIX, registryKey, registryRecordSchema, secretFiles, streamStateKey, type RegistryRecord, type StreamState} from '../../../appliance/contract/index.js'
import {repoRoot} from '../../harness/cli.js'
import {freePort, startProcess, tempDir, waitFor, type ManagedProcess} from '../../harness/process.js'
import {standaloneRelayEnv} from '../../harness/appliance.js'
import {http2Get, selfSignedCertificate} from '../../harness/tls.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'

const mainJs = path.join(repoRoot, 'appliance/dist/main.js')
const CHANNEL = 'demo'
const CACHE_MB = 8
const TASK = 'relay-under-test'
const PARTS_PER_SEGMENT = 4
const renditions = [
  {name: '720p', height: 720, bandwidth: 2_800_000, segmentBytes: 1024 * 1024},
  {name: '360p', height: 360, bandwidth: 700_000, segmentBytes: 2 * 1024 * 1024},
]

const timing = (what: string, since: number): void => console.log(`timing: ${what} in ${Math.round(performance.now() - since)} ms`)
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

/**
 * An ingest's HLS output as seen over HTTP: /live/demo/master.m3u8, <r>/index.m3u8 (blocking
 * reloads held until the part exists), <r>/init.mp4, seg<N>.m4s, part<N>.<i>.m4s. Object bytes
 * are random, made on first use and kept, so the test can compare what viewers got.
 */
class FakeOrigin {
  /** Parts published so far; part k is part (k % 4) of segment floor(k / 4). */
  published: number
  readonly requests = new Map<string, number>()
  private readonly objects = new Map<string, Buffer>()
  private held: {msn: number; part: number | undefined; answer: () => void}[] = []
  private server!: http.Server
  port = 0

  constructor(publishedParts: number) {
    this.published = publishedParts
  }

  get origin(): string {
    return `127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => this.handle(request, response))
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('origin: no port')
    this.port = address.port
    return this
  }

  /** Requests seen for one path below /live/demo/ (with its query, if any). */
  count(pathAndQuery: string): number {
    return this.requests.get(pathAndQuery) ?? 0
  }

  heldRequests(): number {
    return this.held.length
  }

  object(objectPath: string): Buffer {
    let body = this.objects.get(objectPath)
    if (body === undefined) {
      const rendition = renditions.find((r) => objectPath.startsWith(`${r.name}/`))
      const size = objectPath.endsWith('init.mp4') ? 1500 : objectPath.includes('/seg') ? (rendition?.segmentBytes ?? 0) : 20_000
      body = randomBytes(size)
      this.objects.set(objectPath, body)
    }
    return body
  }

  /** The next part becomes available; held reloads it satisfies are answered now. */
  publish(): void {
    this.published++
    const ready = this.held.filter((h) => this.has(h.msn, h.part))
    this.held = this.held.filter((h) => !this.has(h.msn, h.part))
    for (const h of ready) h.answer()
  }

  /** The next part not yet published, as the blocking-reload query that waits for it. */
  nextPartQuery(): string {
    return `?_HLS_msn=${Math.floor(this.published / PARTS_PER_SEGMENT)}&_HLS_part=${this.published % PARTS_PER_SEGMENT}`
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    this.server.close()
    await once(this.server, 'close')
  }

  private has(msn: number, part: number | undefined): boolean {
    return this.published >= msn * PARTS_PER_SEGMENT + (part ?? PARTS_PER_SEGMENT - 1) + 1
  }

  playlist(): string {
    const complete = Math.floor(this.published / PARTS_PER_SEGMENT)
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-MAP:URI="init.mp4"',
    ]
    // Like the packager: the parts of the last complete segment are listed too.
    for (let n = 0; n < complete; n++) {
      if (n === complete - 1) for (let i = 0; i < PARTS_PER_SEGMENT; i++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="part${n}.${i}.m4s"`)
      lines.push('#EXTINF:2.000,', `seg${n}.m4s`)
    }
    for (let i = 0; i < this.published % PARTS_PER_SEGMENT; i++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="part${complete}.${i}.m4s"`)
    return `${lines.join('\n')}\n`
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://origin')
    const prefix = `${LIVE_PREFIX}/${CHANNEL}/`
    const objectPath = url.pathname.slice(prefix.length)
    const key = `${objectPath}${url.search}`
    this.requests.set(key, this.count(key) + 1)
    const send = (type: string, body: string | Buffer, cacheControl: string): void => {
      response.writeHead(200, {'content-type': type, 'cache-control': cacheControl, 'content-length': Buffer.byteLength(body)})
      response.end(body)
    }
    const playlistType = 'application/vnd.apple.mpegurl'
    if (!url.pathname.startsWith(prefix)) {
      response.writeHead(404).end()
    } else if (objectPath === 'master.m3u8') {
      const lines = ['#EXTM3U', ...renditions.flatMap((r) => [`#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${(r.height * 16) / 9}x${r.height}`, `${r.name}/index.m3u8`])]
      send(playlistType, `${lines.join('\n')}\n`, 'max-age=2')
    } else if (/^[^/]+\/index\.m3u8$/.test(objectPath)) {
      const msnText = url.searchParams.get('_HLS_msn')
      const partText = url.searchParams.get('_HLS_part')
      const answer = (): void => send(playlistType, this.playlist(), 'no-cache')
      if (msnText === null) return answer()
      const msn = Number(msnText)
      const part = partText === null ? undefined : Number(partText)
      if (this.has(msn, part)) return answer()
      this.held.push({msn, part, answer})
      // A request the relay gave up on (its timeout) is no longer held.
      response.on('close', () => (this.held = this.held.filter((h) => h.answer !== answer)))
    } else if (/^[^/]+\/(init\.mp4|seg\d+\.m4s|part\d+\.\d+\.m4s)$/.test(objectPath)) {
      send('video/mp4', this.object(objectPath), 'public, max-age=31536000, immutable')
    } else {
      response.writeHead(404).end()
    }
  }
}

const redisPassword = randomBytes(12).toString('hex')
let redis: RedisServer
let client: Redis
let secrets: {dir: string; remove: () => Promise<void>}
let cacheDir: {dir: string; remove: () => Promise<void>}
let relay: ManagedProcess
let relayPort: number
let tlsPort: number
let tlsDir: {dir: string; remove: () => Promise<void>}
const origins: FakeOrigin[] = []

const liveUrl = (objectPath: string): string => `http://127.0.0.1:${relayPort}${LIVE_PREFIX}/${CHANNEL}/${objectPath}`

async function setState(origin: FakeOrigin, streamId: string): Promise<StreamState> {
  const state: StreamState = {
    channel: CHANNEL,
    streamId,
    since: new Date().toISOString(),
    ingestId: `ingest-${streamId}`,
    origin: origin.origin,
    renditions: renditions.map(({name, height, bandwidth}) => ({name, height, bandwidth})),
  }
  await client.set(streamStateKey(CHANNEL), JSON.stringify(state), 'EX', 60)
  return state
}

/** One sample from the relay's /metrics: the line of `name` whose labels include `labels`. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relayPort}/metrics`)).text()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

/** Resident memory of a process and all its descendants (the relay and its nginx). */
function treeRss(pid: number): number {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  return kb * 1024 + children.reduce((sum, child) => sum + treeRss(child), 0)
}

async function registryRecord(): Promise<RegistryRecord | undefined> {
  const text = await client.get(registryKey('relay', TASK))
  return text === null ? undefined : registryRecordSchema.parse(JSON.parse(text))
}

beforeAll(async () => {
  let since = performance.now()
  redis = await startRedis({password: redisPassword})
  client = new Redis({port: redis.port, host: '127.0.0.1', password: redisPassword, maxRetriesPerRequest: 1})
  timing(`redis ${redis.version} ready`, since)

  secrets = await tempDir('relay-secrets')
  await writeFile(path.join(secrets.dir, secretFiles.redisPassword), `${redisPassword}\n`, {mode: 0o600})
  const profile: unknown = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8'))
  cacheDir = await tempDir('relay-cache')
  relayPort = await freePort()
  tlsPort = await freePort()
  // The TLS port's certificate comes later (as the edge's first certificate does).
  tlsDir = await tempDir('relay-tls')
  since = performance.now()
  relay = await startProcess({
    name: 'appliance relay',
    command: process.execPath,
    args: [mainJs, 'relay'],
    env: {
      ...standaloneRelayEnv({redisPort: redis.port, secretsDir: secrets.dir, profile, port: relayPort, task: TASK, cacheMb: CACHE_MB, cacheDir: cacheDir.dir}),
      SHING_RELAY_TLS_PORT: String(tlsPort),
      SHING_RELAY_TLS_CERT: path.join(tlsDir.dir, 'cert.pem'),
      SHING_RELAY_TLS_KEY: path.join(tlsDir.dir, 'key.pem'),
    },
    ready: {probe: async () => (await fetch(`http://127.0.0.1:${relayPort}/healthz`)).status === 200},
    timeoutMs: 30_000,
  })
  timing('relay healthy', since)
  // 14 segments of each rendition already complete, so there is enough to overflow the cache.
  origins.push(await new FakeOrigin(14 * PARTS_PER_SEGMENT + 1).start())
})

afterAll(async () => {
  if (process.env.SHING_TEST_DEBUG) console.log(relay?.output().slice(-5000))
  await relay?.stop()
  await tlsDir?.remove()
  await Promise.allSettled(origins.map((o) => o.close()))
  client?.disconnect()
  await redis?.stop()
  await secrets?.remove()
  await cacheDir?.remove()
})

const origin = (i: number): FakeOrigin => {
  const o = origins[i]
  if (o === undefined) throw new Error(`origin ${i} not started`)
  return o
}

describe('relay: pull once, fan out, bounded memory', () => {
  it('without stream state a channel is offline (404), and bad paths are refused before any lookup', async () => {
    const offline = await fetch(liveUrl('master.m3u8'))
    expect(offline.status).toBe(404)
    expect(await offline.json()).toMatchObject({error: 'offline'})
    expect((await fetch(liveUrl('720p/index.m3u8?_HLS_part=1'))).status).toBe(400)
    expect((await fetch(liveUrl('720p/../../etc/passwd'))).status).toBe(404)
    expect((await fetch(`http://127.0.0.1:${relayPort}${LIVE_PREFIX}/Not_A_Channel!/master.m3u8`)).status).toBe(404)
    expect(await metric('shing_relay_upstream_requests_total')).toBe(0)
  })

  it('counts distinct viewers by their playlist requests, in /metrics and the registry record', async () => {
    await setState(origin(0), 'stream-a')
    const since = performance.now()
    // The relay remembers "offline" for up to a second (the state cache): then the stream is live.
    // (Probed with a media object: playlist requests would count this probe as a viewer.)
    await waitFor('the channel live at the relay', async () => (await fetch(liveUrl('720p/init.mp4'))).status === 200, {timeoutMs: 3000})
    timing('channel live at the relay after its stream state was written', since)
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        Array.from({length: 12}, async (_, i) => {
          const headers = {'user-agent': `viewer-${i}`}
          const master = await fetch(liveUrl('master.m3u8'), {headers})
          expect(master.status).toBe(200)
          expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
          expect(await master.text()).toContain('720p/index.m3u8')
          const playlist = await fetch(liveUrl('720p/index.m3u8'), {headers})
          expect(playlist.status).toBe(200)
          expect(await playlist.text()).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES')
        }),
      )
    }
    const record = await waitFor('registry record with 12 viewers', async () => {
      const r = await registryRecord()
      return r?.load.viewers === 12 ? r : undefined
    }, {timeoutMs: 8000})
    timing('12 viewers in the registry record', since)
    expect(record.load.streams).toBe(1)
    expect(await metric('shing_relay_viewers')).toBe(12)
    // 48 viewer requests for two playlists: the origin saw a handful (each cached briefly).
    expect(origin(0).count('master.m3u8')).toBe(1)
    expect(origin(0).count('720p/index.m3u8')).toBeLessThanOrEqual(2)
  })

  it('200 viewers fetching one segment at once: one upstream request, identical bytes', async () => {
    const segmentsBefore = await metric('shing_relay_upstream_requests_total', {kind: 'segment'})
    const expected = sha(origin(0).object('720p/seg2.m4s'))
    const since = performance.now()
    const answers = await Promise.all(
      Array.from({length: 200}, async () => {
        const response = await fetch(liveUrl('720p/seg2.m4s'))
        return {status: response.status, type: response.headers.get('content-type'), cache: response.headers.get('x-cache'), hash: sha(new Uint8Array(await response.arrayBuffer()))}
      }),
    )
    timing('200 concurrent viewers of a 1 MiB segment', since)
    expect(answers.every((a) => a.status === 200 && a.type === 'video/mp4' && a.hash === expected)).toBe(true)
    expect(answers.filter((a) => a.cache === 'miss')).toHaveLength(1)
    expect(origin(0).count('720p/seg2.m4s')).toBe(1)
    // Later viewers come from the cache.
    const later = await fetch(liveUrl('720p/seg2.m4s'))
    expect(later.headers.get('x-cache')).toBe('hit')
    expect(later.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(sha(new Uint8Array(await later.arrayBuffer()))).toBe(expected)
    expect(origin(0).count('720p/seg2.m4s')).toBe(1)
    expect((await metric('shing_relay_upstream_requests_total', {kind: 'segment'})) - segmentsBefore).toBe(1)
    const head = await fetch(liveUrl('720p/seg2.m4s'), {method: 'HEAD'})
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(1024 * 1024))
    expect(head.headers.get('access-control-allow-origin')).toBe('*')
    expect(origin(0).count('720p/seg2.m4s')).toBe(1)
  })

  it('a blocking reload from 100 viewers: one upstream request, held until the part is published, then all get it', async () => {
    const o = origin(0)
    const query = o.nextPartQuery()
    const part = `part${Math.floor(o.published / PARTS_PER_SEGMENT)}.${o.published % PARTS_PER_SEGMENT}.m4s`
    let publishedAt = Number.POSITIVE_INFINITY
    const viewers = Array.from({length: 100}, async (_, i) => {
      const response = await fetch(liveUrl(`720p/index.m3u8${query}`), {headers: {'user-agent': `blocking-${i}`}})
      return {status: response.status, body: await response.text(), at: performance.now()}
    })
    await waitFor('100 blocking reloads waiting at the relay, 1 held by the origin', async () => {
      return (await metric('shing_relay_requests_in_flight')) >= 100 && o.heldRequests() === 1
    }, {timeoutMs: 10_000})
    expect(o.count(`720p/index.m3u8${query}`)).toBe(1)
    publishedAt = performance.now()
    o.publish()
    const answers = await Promise.all(viewers)
    timing('100 blocking reloads answered after publish', publishedAt)
    expect(answers.every((a) => a.status === 200 && a.at >= publishedAt)).toBe(true)
    expect(answers[0]?.body).toContain(part)
    expect(new Set(answers.map((a) => a.body)).size).toBe(1)
    expect(o.count(`720p/index.m3u8${query}`)).toBe(1)
    // A viewer arriving later with the same request gets the same answer without going upstream.
    const late = await fetch(liveUrl(`720p/index.m3u8${query}`))
    // (From nginx, which holds this rendition's reloads from now on, or from the relay's memory.)
    expect(['hit', 'held']).toContain(late.headers.get('x-cache'))
    expect(await late.text()).toContain(part)
    expect(o.count(`720p/index.m3u8${query}`)).toBe(1)
  })

  it('the next blocking reloads are held by nginx (nchan): none reaches the relay process, one goes upstream, all answered within ms of the part', async () => {
    const o = origin(0)
    const query = o.nextPartQuery()
    const part = `part${Math.floor(o.published / PARTS_PER_SEGMENT)}.${o.published % PARTS_PER_SEGMENT}.m4s`
    // The relay asks the ingest for the next part itself, as soon as it answered the previous one.
    await waitFor('the relay asking the ingest for the next part', async () => o.count(`720p/index.m3u8${query}`) === 1, {timeoutMs: 5000})
    let publishedAt = Number.POSITIVE_INFINITY
    const viewers = Array.from({length: 100}, async (_, i) => {
      // Players on the site's pages sent here directly (ports.relayHttps) ask cross-origin.
      const response = await fetch(liveUrl(`720p/index.m3u8${query}`), {headers: {'user-agent': `held-${i}`, origin: 'https://live.example.test'}})
      return {status: response.status, body: await response.text(), at: performance.now(), held: response.headers.get('x-cache'), cacheControl: response.headers.get('cache-control'), cors: response.headers.get('access-control-allow-origin')}
    })
    // Give the 100 requests time to arrive: they wait in nginx, not in the relay process.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await metric('shing_relay_requests_in_flight')).toBe(0)
    expect(o.heldRequests()).toBe(1)
    publishedAt = performance.now()
    o.publish()
    const answers = await Promise.all(viewers)
    timing('100 reloads held by nginx answered after publish', publishedAt)
    expect(answers.every((a) => a.status === 200 && a.at >= publishedAt && a.held === 'held' && a.cacheControl === 'no-store')).toBe(true)
    // One Access-Control-Allow-Origin (two values make browsers refuse the answer).
    expect(new Set(answers.map((a) => a.cors))).toEqual(new Set(['https://live.example.test']))
    expect(answers[0]?.body).toContain(part)
    expect(new Set(answers.map((a) => a.body)).size).toBe(1)
    expect(Math.max(...answers.map((a) => a.at - publishedAt))).toBeLessThan(300)
    expect(o.count(`720p/index.m3u8${query}`)).toBe(1)
    // The new part is a file by the time the playlist that lists it is read.
    const media = await fetch(liveUrl(`720p/${part}`))
    expect(media.status).toBe(200)
    expect(media.headers.get('x-cache')).toBe('hit')
    expect(await metric('shing_relay_held_renditions')).toBe(1)
    // Requests shaped otherwise (another parameter, a part far ahead) still reach the relay process.
    const odd = await fetch(liveUrl(`720p/index.m3u8${query}&x=1`))
    expect(odd.status).toBe(200)
    expect(odd.headers.get('x-cache')).not.toBe('held')
  })

  it(`the cache never holds more than its bound (${CACHE_MB} MiB) and evicts the least recently used`, async () => {
    const o = origin(0)
    const bound = CACHE_MB * 1024 * 1024
    for (let n = 0; n < 12; n++) {
      const response = await fetch(liveUrl(`720p/seg${n}.m4s`))
      expect(sha(new Uint8Array(await response.arrayBuffer()))).toBe(sha(o.object(`720p/seg${n}.m4s`)))
      expect(await metric('shing_relay_cache_bytes')).toBeLessThanOrEqual(bound)
    }
    const held = await metric('shing_relay_cache_bytes')
    expect(held).toBeGreaterThan(bound - 2 * 1024 * 1024)
    expect(await metric('shing_relay_cache_max_bytes')).toBe(bound)
    expect(await metric('shing_relay_cache_evictions_total')).toBeGreaterThan(0)
    // seg0 was evicted: fetched again. seg11 is fresh: still cached.
    await (await fetch(liveUrl('720p/seg0.m4s'))).arrayBuffer()
    expect(o.count('720p/seg0.m4s')).toBe(2)
    // …and the relay says so: a repeat means the bound is too small for what viewers watch.
    expect(await metric('shing_relay_upstream_repeats_total', {kind: 'segment'})).toBe(1)
    await (await fetch(liveUrl('720p/seg11.m4s'))).arrayBuffer()
    expect(o.count('720p/seg11.m4s')).toBe(1)
    expect(await metric('shing_relay_cache_bytes')).toBeLessThanOrEqual(bound)
  })

  it('slow viewers: nginx holds them without copying, others are served meanwhile, and all get every byte', async () => {
    const o = origin(0)
    const objects = ['360p/seg0.m4s', '360p/seg1.m4s', '360p/seg2.m4s']
    // 3 × 2 MiB: stored as files before the slow viewers come.
    for (const p of objects) await (await fetch(liveUrl(p))).arrayBuffer()
    const rssBefore = treeRss(relay.pid)
    const clients = 100
    const sockets = await Promise.all(
      Array.from({length: clients}, async () => {
        const socket = net.connect({host: '127.0.0.1', port: relayPort})
        socket.pause()
        await once(socket, 'connect')
        // Pipelined requests, then no reading at all: the viewer's window closes.
        socket.write(objects.map((p, i) => `GET ${LIVE_PREFIX}/${CHANNEL}/${p} HTTP/1.1\r\nHost: relay\r\n${i === objects.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''))
        return socket
      }),
    )
    const since = performance.now()
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500))
      // A viewer who reads is not held up by the 100 who do not.
      const quickSince = performance.now()
      for (const p of objects) expect(sha(new Uint8Array(await (await fetch(liveUrl(p))).arrayBuffer()))).toBe(sha(o.object(p)))
      const quickMs = performance.now() - quickSince
      const rssStalled = treeRss(relay.pid)
      // Copying each body per viewer would take 100 × 6 MiB; nginx sends from the files (sendfile).
      console.log(`slow viewers: relay + nginx rss before=${(rssBefore / 2 ** 20).toFixed(1)} MiB stalled=${(rssStalled / 2 ** 20).toFixed(1)} MiB; a reading viewer got 6 MiB in ${Math.round(quickMs)} ms`)
      expect(rssStalled - rssBefore).toBeLessThan(64 * 2 ** 20)
      expect(quickMs).toBeLessThan(2000)

      const readAll = sockets.map(async (socket) => {
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.resume()
        await once(socket, 'end')
        return Buffer.concat(chunks)
      })
      const hashes = objects.map((p) => sha(o.object(p)))
      for (const raw of await Promise.all(readAll)) {
        // Three responses back to back, each framed by its content-length.
        let at = 0
        for (const hash of hashes) {
          const headerEnd = raw.indexOf('\r\n\r\n', at)
          const head = raw.subarray(at, headerEnd).toString()
          expect(head).toMatch(/^HTTP\/1\.1 200/)
          expect(head).toMatch(/x-cache: hit/i)
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1])
          expect(sha(raw.subarray(headerEnd + 4, headerEnd + 4 + length))).toBe(hash)
          at = headerEnd + 4 + length
        }
      }
      timing(`${clients} slow viewers got 6 MiB each`, since)
    } finally {
      for (const socket of sockets) socket.destroy()
    }
    expect(o.count('360p/seg0.m4s')).toBe(1)
  })

  it("the heartbeat's viewers and egress are what the viewers received (nginx's log)", async () => {
    const o = origin(0)
    let received = 0
    const take = async (url: string, headers: Record<string, string>): Promise<void> => {
      const response = await fetch(url, {headers})
      expect(response.status).toBe(200)
      // (Read before adding: `received += await …` would add to a stale total.)
      const body = await response.arrayBuffer()
      received += body.byteLength
    }
    // 20 players by user agent; two more behind the edge, told apart by the address the edge
    // appended last to X-Forwarded-For (what the player itself claims before it does not count).
    const players = [
      ...Array.from({length: 20}, (_, i) => ({'user-agent': `player-${i}`})),
      {'user-agent': 'edge-player', 'x-forwarded-for': '10.0.0.5'},
      {'user-agent': 'edge-player', 'x-forwarded-for': '10.0.0.6'},
      {'user-agent': 'edge-player', 'x-forwarded-for': '192.0.2.1, 10.0.0.5'},
    ]
    // The viewers of the tests before leave the 10-second window first.
    await waitFor('no viewers left from earlier tests', async () => (await metric('shing_relay_viewers')) === 0, {timeoutMs: 15_000})
    // nginx logs a request when it ends and flushes its log every half second: the earlier
    // tests' slow viewers are counted once the figure stops moving.
    let egressBefore = -1
    await waitFor('the earlier egress counted', async () => {
      const now = await metric('shing_relay_egress_bytes_total')
      const settled = now === egressBefore
      egressBefore = now
      return settled
    }, {timeoutMs: 10_000, intervalMs: 1000})
    const pulledBefore = o.count('720p/seg4.m4s') + o.count('720p/seg5.m4s')
    const started = performance.now()
    const loadFor = async (ms: number): Promise<void> => {
      await Promise.all(
        players.map(async (headers) => {
          await take(liveUrl('720p/index.m3u8'), headers)
          while (performance.now() - started < ms) {
            for (const p of ['720p/seg4.m4s', '720p/seg5.m4s']) await take(liveUrl(p), headers)
            await new Promise((resolve) => setTimeout(resolve, 200))
          }
        }),
      )
    }
    const load = loadFor(12_000)
    // Sustained load: the registry's egress rate comes within a quarter of the players' own.
    const record = await waitFor('the registry record under load', async () => {
      const r = await registryRecord()
      const seconds = (performance.now() - started) / 1000
      const rate = (received * 8) / seconds
      return r !== undefined && seconds > 6 && Math.abs(r.load.egressBitsPerSecond - rate) < rate * 0.25 ? {r, rate} : undefined
    }, {timeoutMs: 12_000})
    await load
    console.log(`accounting: registry viewers=${record.r.load.viewers} egress=${(record.r.load.egressBitsPerSecond / 1e6).toFixed(1)} Mbit/s; players measured ${(record.rate / 1e6).toFixed(1)} Mbit/s`)
    expect(record.r.load.viewers).toBe(22)
    // Every body byte the players got, counted once (nginx flushes its log within half a second).
    const total = await waitFor('egress counted', async () => {
      const now = (await metric('shing_relay_egress_bytes_total')) - egressBefore
      return now >= received ? now : undefined
    }, {timeoutMs: 3000})
    expect(total).toBe(received)
    // Thousands of requests for two segments: each pulled from the origin at most once more.
    expect(o.count('720p/seg4.m4s') + o.count('720p/seg5.m4s') - pulledBefore).toBeLessThanOrEqual(2)
  })

  it('its own TLS port opens when the certificate appears, is in the registry, serves over HTTP/2; a renewed certificate is loaded without a restart, a broken one refused', async () => {
    expect((await registryRecord())?.ports.https).toBeUndefined()
    await expect(http2Get(`https://127.0.0.1:${tlsPort}/healthz`, '')).rejects.toThrow()
    let since = performance.now()
    const first = await selfSignedCertificate(tlsDir.dir, 'live.example.test')
    await waitFor('the TLS port in the registry', async () => (await registryRecord())?.ports.https === tlsPort, {timeoutMs: 25_000, intervalMs: 250})
    timing('TLS port open after the certificate appeared', since)
    const o = origin(0)
    const segment = await http2Get(`https://127.0.0.1:${tlsPort}${LIVE_PREFIX}/${CHANNEL}/720p/seg3.m4s`, first.pem)
    expect(segment).toMatchObject({status: 200, alpn: 'h2', fingerprint: first.fingerprint})
    expect(sha(segment.body)).toBe(sha(o.object('720p/seg3.m4s')))
    const playlist = await http2Get(`https://127.0.0.1:${tlsPort}${LIVE_PREFIX}/${CHANNEL}/720p/index.m3u8`, first.pem)
    expect(playlist.status).toBe(200)
    expect(playlist.body.toString()).toContain('#EXTM3U')
    // Renewed in place (the edge renews every 60 days or so): served within the next check.
    since = performance.now()
    const renewed = await selfSignedCertificate(tlsDir.dir, 'live.example.test')
    expect(renewed.fingerprint).not.toBe(first.fingerprint)
    await waitFor('the renewed certificate served', async () => (await http2Get(`https://127.0.0.1:${tlsPort}/healthz`, `${first.pem}${renewed.pem}`)).fingerprint === renewed.fingerprint, {timeoutMs: 25_000, intervalMs: 500})
    timing('renewed certificate served', since)
    // A broken renewal (a truncated certificate) is refused before nginx sees it: the last good
    // one stays served, the port stays open and advertised, the relay runs on.
    await writeFile(path.join(tlsDir.dir, 'cert.pem'), renewed.pem.slice(0, 200))
    await waitFor('the broken certificate refused', async () => relay.output().includes('nginx refuses the TLS certificate'), {timeoutMs: 25_000, intervalMs: 250})
    const after = await http2Get(`https://127.0.0.1:${tlsPort}/healthz`, renewed.pem)
    expect(after).toMatchObject({status: 200, fingerprint: renewed.fingerprint})
    expect((await registryRecord())?.ports.https).toBe(tlsPort)
    // The same relay process all along.
    expect(() => process.kill(relay.pid!, 0)).not.toThrow()
  })

  it('the ingest dies under waiting viewers and the stream moves: the relay follows it to the new ingest', async () => {
    const a = origin(0)
    const b = await new FakeOrigin(a.published).start()
    origins.push(b)
    // 20 viewers wait on a blocking reload that ingest A holds when it dies.
    const query = a.nextPartQuery()
    const part = `part${Math.floor(a.published / PARTS_PER_SEGMENT)}.${a.published % PARTS_PER_SEGMENT}.m4s`
    const viewers = Array.from({length: 20}, async () => {
      const response = await fetch(liveUrl(`720p/index.m3u8${query}`))
      return {status: response.status, body: await response.text()}
    })
    await waitFor('the reload held at ingest A', async () => a.heldRequests() === 1, {timeoutMs: 5000})
    // (The relay's own held request for the next part may have timed out before: counted apart.)
    const failuresBefore = await metric('shing_relay_upstream_failures_total', {kind: 'blocking-playlist'})
    const since = performance.now()
    await setState(b, 'stream-b')
    await a.close()
    await waitFor('the reload held at ingest B', async () => b.heldRequests() === 1, {timeoutMs: 5000})
    timing('relay moved a held reload to the new ingest', since)
    b.publish()
    const answers = await Promise.all(viewers)
    expect(answers.every((x) => x.status === 200 && x.body.includes(part))).toBe(true)
    expect(b.count(`720p/index.m3u8${query}`)).toBe(1)
    expect((await metric('shing_relay_upstream_failures_total', {kind: 'blocking-playlist'})) - failuresBefore).toBe(1)
    // The next requests go to B, objects cached from A's broadcast included (a new stream id).
    const segment = await fetch(liveUrl('720p/seg11.m4s'))
    expect(sha(new Uint8Array(await segment.arrayBuffer()))).toBe(sha(b.object('720p/seg11.m4s')))
    expect(b.count('720p/seg11.m4s')).toBe(1)
    expect((await fetch(liveUrl('720p/index.m3u8'))).status).toBe(200)
    expect(b.count('720p/index.m3u8')).toBe(1)
  })

  it('a dead origin that still holds the stream answers 502; the stream ending answers 404 offline', async () => {
    const b = origin(1)
    await b.close()
    // (A segment the relay has not fetched yet: the newest ones came in with their playlists.)
    const dead = await fetch(liveUrl('720p/seg90.m4s'))
    expect(dead.status).toBe(502)
    expect(await dead.json()).toMatchObject({error: 'origin unavailable'})
    await client.del(streamStateKey(CHANNEL))
    // Within the relay's one-second state cache, the channel turns offline.
    const since = performance.now()
    const body = await waitFor('offline answer', async () => {
      const response = await fetch(liveUrl('720p/index.m3u8'))
      return response.status === 404 ? ((await response.json()) as {error: string}) : undefined
    }, {timeoutMs: 3000})
    timing('offline after the stream state went', since)
    expect(body.error).toBe('offline')
    // Even objects still in its cache are not served for an offline channel.
    expect((await fetch(liveUrl('720p/seg2.m4s'))).status).toBe(404)
  })
})
