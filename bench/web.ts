/**
 * bench:web — requests per second per core of the web's front page and channel page, against
 * bare fastify serving the same bytes from memory, in the same run.
 *
 *   npm run bench:web [-- --seconds 10 --connections 32]   (it builds the appliance first)
 *
 * The site: real Redis, FerretDB (MongoDB wire) and MinIO from the test harness; 1,000 channels
 * with titles and owners, 50 of them live (stream states in Redis), 200 past broadcasts; the real
 * web component (`node appliance/dist/main.js web`) as one process. The baseline: one node process
 * with fastify answering the same two paths with the bytes the web served, from memory.
 *
 * Per side and page, autocannon (in this process) keeps `connections` requests in flight for
 * `seconds`; the server's CPU time over the window comes from /proc, so "per core" is requests per
 * CPU-second of the server itself, whatever the load generator costs the box. Ratio = web / bare.
 * Last line: web: channel-page/bare ratio=<x> front-page/bare ratio=<y>
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {parseArgs} from 'node:util'

import autocannon from 'autocannon'
import {ObjectId} from 'mongodb'

import {streamStateKey, type StreamState} from '../appliance/contract/index.js'
import {repoRoot} from '../test/harness/cli.js'
import {startLiveSite} from '../test/harness/live-site.js'
import {freePort, startProcess, tempDir, waitFor} from '../test/harness/process.js'
import {sampleProcess} from './lib/proc-stats.js'

const {values: args} = parseArgs({
  options: {
    seconds: {type: 'string', default: '10'},
    connections: {type: 'string', default: '32'},
    channels: {type: 'string', default: '1000'},
    live: {type: 'string', default: '50'},
    /** Write a CPU profile of the web process here (node --cpu-prof), to see where its time goes. */
    profile: {type: 'string'},
  },
})
const SECONDS = Number(args.seconds)
const CONNECTIONS = Number(args.connections)
const CHANNELS = Number(args.channels)
const LIVE = Number(args.live)

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

interface Measured {
  requests: number
  errors: number
  cpuSeconds: number
  perCore: number
  rps: number
  p99Ms: number
}

async function measure(url: string, pid: number): Promise<Measured> {
  // A short warm-up (JIT, caches), then the window.
  await autocannon({url, connections: CONNECTIONS, duration: 2})
  const before = sampleProcess(pid)
  const result = await autocannon({url, connections: CONNECTIONS, duration: SECONDS})
  const after = sampleProcess(pid)
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds
  const requests = result.requests.total
  return {
    requests,
    errors: result.errors + result.non2xx + result.timeouts,
    cpuSeconds,
    perCore: requests / cpuSeconds,
    rps: result.requests.average,
    p99Ms: result.latency.p99,
  }
}

const site = await startLiveSite()
const work = await tempDir('bench-web')
try {
  log(`bench:web: seeding ${CHANNELS} channels, ${LIVE} live, 200 past broadcasts`)
  const db = site.mongoClient.db('shing')
  const owners = Array.from({length: CHANNELS}, () => new ObjectId())
  await db.collection('users').insertMany(
    owners.map((id, i) => ({_id: id, username: `user${i}`, usernameKey: `user${i}`, email: `user${i}@example.test`, emailKey: `user${i}@example.test`, passwordHash: 'x', role: 'user', status: 'active', createdAt: new Date()})),
  )
  const names = Array.from({length: CHANNELS}, (_, i) => `channel-${String(i).padStart(4, '0')}`)
  await db.collection('channels').insertMany(names.map((name, i) => ({name, ownerId: owners[i]!.toHexString(), title: `Channel ${i}: a title of ordinary length & <markup>`, createdAt: new Date()})))
  const now = Date.now()
  await db.collection('vods').insertMany(
    Array.from({length: 200}, (_, i) => ({
      streamId: `20261201T${String(100000 + i).slice(-6)}Z-${i.toString(16).padStart(8, '0')}`,
      channel: names[i % CHANNELS]!,
      segments: 900,
      durationSeconds: 1800 + i,
      renditions: [],
      createdAt: new Date(now - i * 60_000),
    })),
  )
  for (const name of names.slice(0, LIVE)) {
    const state: StreamState = {
      channel: name,
      streamId: `20261206T000000Z-${name.slice(-4).padStart(8, '0')}`,
      since: new Date(now - 600_000).toISOString(),
      ingestId: 'bench-ingest',
      origin: '127.0.0.1:9',
      renditions: [{name: '720p', height: 720, bandwidth: 3_000_000}],
    }
    await site.client.set(streamStateKey(name), JSON.stringify(state), 'EX', 3600)
  }

  const web = await site.start('web', args.profile === undefined ? {} : {NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(args.profile)}`})
  const webUrl = `http://127.0.0.1:${web.httpPort}`
  const channelPath = `/c/${names[0]}`
  await waitFor('the front page to list the live channels', async () => {
    const text = await (await fetch(`${webUrl}/`)).text()
    return text.includes(names[LIVE - 1]!)
  }, {timeoutMs: 30_000, intervalMs: 500})
  const bodies = {front: await (await fetch(`${webUrl}/`)).text(), channel: await (await fetch(`${webUrl}${channelPath}`)).text()}
  log(`bench:web: front page ${bodies.front.length} bytes, channel page ${bodies.channel.length} bytes`)

  // The baseline: bare fastify, the same bytes from memory, its own process.
  await writeFile(path.join(work.dir, 'front.html'), bodies.front)
  await writeFile(path.join(work.dir, 'channel.html'), bodies.channel)
  const barePort = await freePort()
  const bareScript = `
    const {readFileSync} = require('node:fs')
    const fastify = require(${JSON.stringify(path.join(repoRoot, 'node_modules/fastify'))})
    const front = readFileSync(${JSON.stringify(path.join(work.dir, 'front.html'))})
    const channel = readFileSync(${JSON.stringify(path.join(work.dir, 'channel.html'))})
    const app = fastify()
    app.get('/', (_q, r) => r.type('text/html; charset=utf-8').send(front))
    app.get(${JSON.stringify(channelPath)}, (_q, r) => r.type('text/html; charset=utf-8').send(channel))
    app.listen({port: ${barePort}, host: '127.0.0.1'})`
  const bare = await startProcess({
    name: 'bare fastify',
    command: process.execPath,
    args: ['-e', bareScript],
    ready: {probe: async () => (await fetch(`http://127.0.0.1:${barePort}/`)).status === 200},
    timeoutMs: 15_000,
  })
  const bareUrl = `http://127.0.0.1:${barePort}`

  const rows: Array<{page: string; side: string; m: Measured}> = []
  for (const [page, pathname] of [['front-page', '/'], ['channel-page', channelPath]] as const) {
    for (const [side, base, pid] of [['bare', bareUrl, bare.pid], ['web', webUrl, web.process.pid]] as const) {
      const m = await measure(`${base}${pathname}`, pid)
      rows.push({page, side, m})
      log(`bench:web: ${page} ${side}: ${m.requests} requests in ${SECONDS}s, ${m.errors} errors, ${m.cpuSeconds.toFixed(2)} server CPU-s`)
    }
  }
  await bare.stop()

  console.log(`page          side  req/s    req/s/core  p99-ms  errors`)
  for (const {page, side, m} of rows) {
    console.log(`${page.padEnd(13)} ${side.padEnd(5)} ${m.rps.toFixed(0).padStart(6)}   ${m.perCore.toFixed(0).padStart(9)}  ${String(m.p99Ms).padStart(6)}  ${m.errors}`)
  }
  const ratio = (page: string): number => rows.find((r) => r.page === page && r.side === 'web')!.m.perCore / rows.find((r) => r.page === page && r.side === 'bare')!.m.perCore
  const failed = rows.some((r) => r.m.errors > 0)
  if (failed) console.log('errors: some requests failed (see the table); the ratios below count only the answered ones')
  console.log(`web: channel-page/bare ratio=${ratio('channel-page').toFixed(2)} front-page/bare ratio=${ratio('front-page').toFixed(2)}`)
  process.exitCode = failed ? 1 : 0
} finally {
  await site.stop()
  await work.remove()
}
