/**
 * Going live from the browser, with the real web (two instances behind the front), ingests,
 * relay and worker, Redis, FerretDB, MinIO and ffmpeg: Chromium with a fake camera and microphone
 * broadcasts from the Go-live page over a WebSocket the web forwards to an ingest; a second page
 * watches through the relay; ffprobe reads every rendition; the ingest it is on is killed and the
 * page carries on from the other one; a WebM sent by a script with a stream key goes live too
 * (the VP8 → H.264 path); hostile sockets are each closed with their reason while the broadcast
 * on that ingest goes on; the broadcast leaves a VOD.
 */
import {execa} from 'execa'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import pino from 'pino'
import WebSocket from 'ws'

import {closeCodes, goLiveSessionSchema, INGEST_ASSIGN_PATH, MONGO_DATABASE, streamStateKey, streamStateSchema, type IngestAssignment, type Playback} from '../../../appliance/contract/index.js'
import {ladderRungs} from '../../../appliance/hls/ladder.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import type {VodListing} from '../../../appliance/vods/vods.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {bucketKeys} from '../../harness/bucket.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {waitFor} from '../../harness/process.js'
import {requireTool} from '../../harness/tools.js'

let site: LiveSite
let chromium: RunningChromium
let studio: Page
let owner: FormClient
const CHANNEL = 'cam-show'
const PASSWORD = 'correct horse battery staple'

interface GoLiveState {
  phase: string
  live: boolean
  streamId?: string
  reconnects: number
  kbps: number
  mimeType?: string
  error?: string
}
const goLive = (): Promise<GoLiveState> => studio.evaluate(() => (window as unknown as {shingGoLive: GoLiveState}).shingGoLive)
const playback = async (channel: string): Promise<Playback> => (await site.web<Playback>(`/api/streams/${channel}/playback`)).body
const ingestOf = async (channel: string): Promise<string | undefined> => {
  const raw = await site.client.get(streamStateKey(channel))
  return raw === null ? undefined : streamStateSchema.parse(JSON.parse(raw)).ingestId
}

async function ffprobe(url: string): Promise<Array<{codec_type: string; codec_name: string; height?: number}>> {
  const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,height', '-of', 'json', url], {timeout: 60_000})
  return (JSON.parse(stdout) as {streams: Array<{codec_type: string; codec_name: string; height?: number}>}).streams
}

/** A socket straight to an ingest's /ingest/ws; resolves with how it was closed and what it was told. */
function openSocket(url: string): {ws: WebSocket; closed: Promise<{code: number; reason: string; messages: Array<{type: string; code?: number; message?: string}>}>} {
  const ws = new WebSocket(url)
  const messages: Array<{type: string; code?: number; message?: string}> = []
  ws.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(data.toString()) as {type: string})
  })
  ws.on('error', () => undefined)
  const closed = new Promise<{code: number; reason: string; messages: typeof messages}>((resolve) => ws.on('close', (code, reason) => resolve({code, reason: reason.toString(), messages})))
  return {ws, closed}
}
const opened = (ws: WebSocket): Promise<void> => new Promise((resolve, reject) => {
  ws.once('open', () => resolve())
  ws.once('error', reject)
})
/** Says hello with a key and waits for "ready" (media before it is refused). */
async function helloWithKey(socket: ReturnType<typeof openSocket>, key: string, mimeType = 'video/webm'): Promise<void> {
  await opened(socket.ws)
  const ready = new Promise<void>((resolve) => socket.ws.on('message', (data, isBinary) => {
    if (!isBinary && (JSON.parse(data.toString()) as {type: string}).type === 'ready') resolve()
  }))
  socket.ws.send(JSON.stringify({type: 'hello', mimeType, key}))
  await ready
}
/** The HTTP status an upgrade is answered with when it is refused (101 when it opens). */
const upgradeStatus = (url: string): Promise<number> => new Promise((resolve) => {
  const ws = new WebSocket(url)
  ws.on('unexpected-response', (_request, response) => {
    resolve(response.statusCode ?? 0)
    ws.terminate()
  })
  ws.on('open', () => {
    resolve(101)
    ws.terminate()
  })
  ws.on('error', () => resolve(0))
})
const ingestSocketUrl = (id: string, query = ''): string => `ws://127.0.0.1:${site.get(id).httpPort}/ingest/ws${query}`

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all(['web', 'web-2', 'worker', 'relay', 'ingest-a', 'ingest-b'].map((id) => site.start(id)))
  owner = await signUpThroughForm(`http://127.0.0.1:${site.get('web').httpPort}`, 'cam-owner', {password: PASSWORD, address: '198.51.100.150'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Morning coffee'})).toMatchObject({status: 303})
  chromium = await launchChromium({fakeMedia: true})
  studio = await chromium.newPage()
  studio.on('console', (m) => console.log(`studio console: ${m.text()} ${m.location().url}`))
  studio.on('pageerror', (e) => console.log(`studio error: ${e.message}`))
  // Cookies are per host, not per port: the session holds on the front too.
  await studio.context().addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: site.frontUrl()}])
}, 180_000)

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('going live from the browser', () => {
  let firstIngest: string
  const streamIds: string[] = []
  let failover = 0

  it('the dashboard links to the Go-live page, which previews the fake camera and lists the devices', async () => {
    await studio.goto(`${site.frontUrl()}/dashboard/c/${CHANNEL}`)
    await studio.click('#go-live-link')
    await studio.waitForURL(`**/dashboard/c/${CHANNEL}/go-live`)
    await studio.waitForFunction(() => document.getElementById('go-live-status')?.dataset.phase === 'ready', undefined, {timeout: 20_000})
    expect(await studio.locator('#camera option').count()).toBeGreaterThan(0)
    expect(await studio.locator('#microphone option').count()).toBeGreaterThan(1)
    // The preview shows the camera's picture.
    await studio.waitForFunction(() => (document.getElementById('preview') as HTMLVideoElement).videoWidth > 0, undefined, {timeout: 10_000})
    expect(await screenshotDesktopAndPhone(studio, 'go-live-ready')).toBeLessThanOrEqual(PHONE.width)
  })

  it('Go live: the channel goes live through the forwarded socket, every rendition reads through the front, and a viewer plays it', async () => {
    await studio.fill('input[name=title]', 'Coffee <b>live</b> from the browser')
    await studio.click('#start')
    await waitFor('the page to say live', async () => ((await goLive()).live ? true : undefined), {timeoutMs: 40_000, intervalMs: 250}).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${JSON.stringify(await goLive())} ${await studio.locator('#go-live-status').textContent()} / ${await studio.locator('#go-live-problem').textContent()}`)
    })
    const state = await goLive()
    expect(state.mimeType).toMatch(/h264|avc1/)
    expect(await studio.locator('#go-live-status').textContent()).toContain('Live')
    streamIds.push(state.streamId!)
    const live = await playback(CHANNEL)
    expect(live).toMatchObject({live: true, streamId: state.streamId})
    firstIngest = (await ingestOf(CHANNEL))!
    expect(['ingest-a', 'ingest-b']).toContain(firstIngest)

    const rungs = ladderRungs(site.profile, {video: true, audio: true})
    const streams = await waitFor('every rendition through the front', async () => {
      const s = await ffprobe(`${site.frontUrl()}/live/${CHANNEL}/master.m3u8`).catch(() => [])
      return s.filter((x) => x.codec_type === 'video').length >= rungs.length ? s : undefined
    }, {timeoutMs: 40_000, intervalMs: 1000})
    expect(streams.filter((s) => s.codec_type === 'video').every((s) => s.codec_name === 'h264')).toBe(true)
    expect(streams.filter((s) => s.codec_type === 'audio').every((s) => s.codec_name === 'aac')).toBe(true)
    expect(new Set(streams.filter((s) => s.codec_type === 'video').map((s) => s.height))).toEqual(new Set(rungs.filter((r) => r.height > 0).map((r) => r.height)))

    const viewer = await chromium.newPage()
    await viewer.goto(`${site.frontUrl()}/c/${CHANNEL}`)
    const played = await waitFor('the viewer to play 4 s', async () => {
      const time = await viewer.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime)
      return time >= 4 ? time : undefined
    }, {timeoutMs: 40_000, intervalMs: 500})
    expect(played).toBeGreaterThanOrEqual(4)
    // The title saved with the start is what viewers see, escaped.
    expect(await viewer.locator('.stream-title').textContent()).toBe('Coffee <b>live</b> from the browser')
    await viewer.close()
    expect(await studio.locator('#start').isVisible()).toBe(false)
    expect(await screenshotDesktopAndPhone(studio, 'go-live-live')).toBeLessThanOrEqual(PHONE.width)
  })

  it('its ingest killed, the page reconnects to the other one and the channel is live again within seconds', async () => {
    const other = firstIngest === 'ingest-a' ? 'ingest-b' : 'ingest-a'
    const killedAt = Date.now()
    await site.get(firstIngest).process.kill('SIGKILL')
    await waitFor('the page to notice', async () => ((await goLive()).reconnects > 0 ? true : undefined), {timeoutMs: 15_000, intervalMs: 100})
    const back = await waitFor('live again', async () => {
      const s = await goLive()
      return s.live && s.streamId !== streamIds[0] ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 250})
    failover = (Date.now() - killedAt) / 1000
    console.log(`browser-ingest: failover=${failover.toFixed(1)}s`)
    streamIds.push(back.streamId!)
    expect(await ingestOf(CHANNEL)).toBe(other)
    expect((await playback(CHANNEL)).live).toBe(true)
    expect(failover).toBeLessThan(45)
    // The killed ingest comes back (as the swarm restarts a task), empty.
    await site.start(firstIngest)
  })

  it('hostile sockets on the ingest are each closed with their reason, and the broadcast there goes on', async () => {
    const on = (await ingestOf(CHANNEL))!
    const before = await goLive()

    // No hello: binary first.
    const binary = openSocket(ingestSocketUrl(on))
    await opened(binary.ws)
    binary.ws.send(Buffer.from('garbage'))
    expect((await binary.closed).code).toBe(closeCodes.badHello)

    // Neither ticket nor key.
    const anonymous = openSocket(ingestSocketUrl(on))
    await opened(anonymous.ws)
    anonymous.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm'}))
    expect((await anonymous.closed).code).toBe(closeCodes.unauthorized)

    // A forged ticket.
    const forged = openSocket(ingestSocketUrl(on, `?ticket=${CHANNEL}.${Date.now() + 60_000}.abc.${'A'.repeat(43)}`))
    await opened(forged.ws)
    forged.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm'}))
    const forgedClose = await forged.closed
    expect(forgedClose.code).toBe(closeCodes.unauthorized)
    expect(forgedClose.messages.at(-1)?.message).toContain('not signed by this site')

    // A wrong stream key: refused by the same key check as RTMP's.
    const wrongKey = openSocket(ingestSocketUrl(on))
    await opened(wrongKey.ws)
    wrongKey.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm', key: 'x'.repeat(43)}))
    const wrongClose = await wrongKey.closed
    expect(wrongClose.code).toBe(closeCodes.unauthorized)
    expect(wrongClose.messages.at(-1)?.message).toContain('stream key is not valid')

    // Garbage frames with a good key: not a recording.
    const junkKey = await site.streamKey('junk-frames')
    const junk = openSocket(ingestSocketUrl(on))
    await helloWithKey(junk, junkKey)
    for (let i = 0; i < 20; i++) junk.ws.send(Buffer.alloc(64 * 1024, i))
    expect((await junk.closed).code).toBe(closeCodes.badMedia)

    // A 100 MB frame: closed by the frame limit before it is read.
    const huge = openSocket(ingestSocketUrl(on))
    await helloWithKey(huge, junkKey)
    huge.ws.send(Buffer.alloc(100 * 1024 * 1024))
    expect((await huge.closed).code).toBe(1009)

    // Media before the server said ready.
    const eager = openSocket(ingestSocketUrl(on))
    await opened(eager.ws)
    eager.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm', key: junkKey}))
    eager.ws.send(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]))
    expect((await eager.closed).code).toBe(closeCodes.badHello)

    // A type the ingest does not read.
    const ogg = openSocket(ingestSocketUrl(on))
    await opened(ogg.ws)
    ogg.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/ogg', key: junkKey}))
    expect((await ogg.closed).code).toBe(closeCodes.badMedia)

    // A socket that goes silent after its hello.
    const silent = openSocket(ingestSocketUrl(on))
    await helloWithKey(silent, junkKey)
    const silentClose = await silent.closed
    expect(silentClose.code).toBe(closeCodes.silent)
    expect(silentClose.messages.at(-1)?.message).toContain('No media for 10 s')

    // A ticket is good once: the second socket with the same URL is refused.
    const session = goLiveSessionSchema.parse(JSON.parse((await owner.submit(`/dashboard/c/${CHANNEL}/go-live`, `/dashboard/c/${CHANNEL}/go-live`, {title: 'Coffee <b>live</b> from the browser'})).text))
    const through = (path: string): string => `${site.frontUrl().replace('http', 'ws')}${path}`
    const first = openSocket(through(session.socketPath))
    await opened(first.ws).catch((error: Error) => {
      throw new Error(`the first socket did not open: ${error.stack}`)
    })
    first.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm'}))
    // The channel is live from the page: this one is refused as a second encoder, after its ticket passed.
    const firstClose = await first.closed
    expect(firstClose.code).toBe(closeCodes.refused)
    expect(firstClose.messages.at(-1)?.message).toContain('already live')
    const again = openSocket(through(session.socketPath))
    await opened(again.ws).catch((error: Error) => {
      throw new Error(`the second socket did not open: ${error.stack}`)
    })
    again.ws.send(JSON.stringify({type: 'hello', mimeType: 'video/webm'}))
    const againClose = await again.closed
    expect(againClose.code).toBe(closeCodes.unauthorized)
    expect(againClose.messages.at(-1)?.message).toContain('used already')

    // Hostile paths at the web's forwarder: a broken escape, a path nobody serves.
    const front = site.frontUrl().replace('http', 'ws')
    expect(await upgradeStatus(`${front}/ingest/ws/%FF`)).toBe(400)
    expect(await upgradeStatus(`${front}/ingest/ws/no-such-ingest`)).toBe(404)
    expect(await upgradeStatus(`${front}/nothing/here`)).toBe(404)
    // A type of non-ASCII characters (their cut close reason once overflowed the close frame).
    const wide = openSocket(ingestSocketUrl(on))
    await opened(wide.ws)
    wide.ws.send(JSON.stringify({type: 'hello', mimeType: '視'.repeat(60)}))
    expect((await wide.closed).code).toBe(closeCodes.badHello)
    for (const id of ['web', 'web-2', on]) expect((await fetch(`http://127.0.0.1:${site.get(id).httpPort}/healthz`)).status, id).toBe(200)

    // Through it all, the page's broadcast went on where it was.
    const after = await goLive()
    expect(after).toMatchObject({live: true, streamId: before.streamId, reconnects: before.reconnects})
    expect(await ingestOf(CHANNEL)).toBe(on)
  }, 120_000)

  it('a script sends a VP8/Opus WebM with a stream key through the site: encoded to H.264 once, it goes live like any broadcast', async () => {
    const key = await site.streamKey('webm-script')
    // As docs/browser-ingest.md has a tool do it: the assignment API, then the site's socket path.
    const {ingestId} = (await site.web<IngestAssignment>(INGEST_ASSIGN_PATH)).body
    const socket = openSocket(`${site.frontUrl().replace('http', 'ws')}/ingest/ws/${ingestId}`)
    await helloWithKey(socket, key, 'video/webm;codecs=vp8,opus')
    const recorder = execa(requireTool('ffmpeg'), [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '30', '-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '1M', '-c:a', 'libopus', '-f', 'webm', '-cluster_time_limit', '250', 'pipe:1',
    ], {buffer: false, reject: false})
    recorder.stdout!.on('data', (chunk: Buffer) => {
      if (socket.ws.readyState === WebSocket.OPEN) socket.ws.send(chunk)
    })
    const live = await waitFor('webm-script live', async () => {
      const p = await playback('webm-script')
      return p.live ? p : undefined
    }, {timeoutMs: 30_000, intervalMs: 250})
    expect(live.live).toBe(true)
    const streams = await waitFor('its renditions', async () => {
      const s = await ffprobe(`${site.frontUrl()}/live/webm-script/master.m3u8`).catch(() => [])
      return s.some((x) => x.codec_type === 'video') ? s : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000})
    expect(streams.filter((s) => s.codec_type === 'video').every((s) => s.codec_name === 'h264')).toBe(true)
    recorder.kill('SIGKILL')
    socket.ws.close(1000)
    await socket.closed
    await waitFor('webm-script offline', async () => ((await playback('webm-script')).live ? undefined : true), {timeoutMs: 20_000, intervalMs: 250})
  }, 120_000)

  it('End broadcast: the channel goes offline and the broadcast is left as a past broadcast, and so is the one the killed ingest carried', async () => {
    await studio.click('#stop')
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 20_000, intervalMs: 250})
    expect(await studio.locator('#go-live-status').textContent()).toContain('saved with your past broadcasts')
    const vod = await waitFor('the VOD of the last broadcast', async () => {
      const {body} = await site.web<{vods: VodListing[]}>(`/api/streams/${CHANNEL}/vods`)
      return body.vods.find((v) => v.streamId === streamIds.at(-1))
    }, {timeoutMs: 60_000, intervalMs: 1000})
    expect(vod.durationSeconds).toBeGreaterThan(5)
    const streams = await ffprobe(`${site.frontUrl()}${vod.url}`)
    expect(streams.some((s) => s.codec_type === 'video')).toBe(true)
    // The broadcast the killed ingest carried is kept too: housekeeping (every minute) closes its
    // archive as far as it was uploaded, and the worker makes it a past broadcast.
    const cut = await waitFor('the VOD of the broadcast cut by the kill', async () => {
      const {body} = await site.web<{vods: VodListing[]}>(`/api/streams/${CHANNEL}/vods`)
      return body.vods.find((v) => v.streamId === streamIds[0])
    }, {timeoutMs: 120_000, intervalMs: 2000}).catch(async (error: unknown) => {
      // What housekeeping and the worker left, for the message.
      const doc = await site.mongoClient.db(MONGO_DATABASE).collection('streams').findOne({streamId: streamIds[0]}, {projection: {_id: 0, live: 1, endReason: 1, ingestId: 1, renditions: 1}})
      const objects = await bucketKeys(site.minio, BUCKET, `dvr/${CHANNEL}/${streamIds[0]}/`)
      const jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
      const finalize = await jobs.queue('dvr.finalize').getJob(`dvr.finalize-${streamIds[0]}`)
      const housekeeping = await jobs.queue('housekeeping').getCompleted(0, 2)
      await jobs.close()
      throw new Error(`${(error as Error).message}: stream ${JSON.stringify(doc)}; objects ${objects.filter((o) => !o.endsWith('.m4s')).join(' ')} (+${objects.filter((o) => o.endsWith('.m4s')).length} segments); dvr.finalize ${finalize === undefined ? 'not queued' : `${await finalize.getState()} ${finalize.failedReason ?? ''}`}; last housekeeping ${JSON.stringify(housekeeping.map((j) => j.returnvalue?.staleStreams))}`)
    })
    expect(cut.durationSeconds).toBeGreaterThan(4)
    expect((await ffprobe(`${site.frontUrl()}${cut.url}`)).some((s) => s.codec_type === 'video')).toBe(true)
    console.log(`browser-ingest: ws=ok failover=${failover.toFixed(1)}s broadcasts=${streamIds.length} cut-broadcast-kept=${cut.durationSeconds.toFixed(0)}s`)
  }, 240_000)
  it('revoking the channel\'s keys ends a browser broadcast with the reason on the page; Go live works again after', async () => {
    await studio.click('#start')
    const first = await waitFor('live', async () => {
      const s = await goLive()
      return s.live ? s : undefined
    }, {timeoutMs: 40_000, intervalMs: 250})
    const revoked = await runAdminOperation('stream-key.revoke', {channel: CHANNEL}, {...site.env, SHING_COMPONENT: 'web'})
    expect(revoked.reply.ok).toBe(true)
    // The hidden browser key goes too, but is not listed among what was revoked.
    expect(revoked.reply.ok && (revoked.reply.result as {revoked: string[]}).revoked).toEqual([])
    await waitFor('the page to end the broadcast', async () => ((await goLive()).phase === 'failed' ? true : undefined), {timeoutMs: 30_000, intervalMs: 250})
    expect(await studio.locator('#go-live-problem').textContent()).toContain('ended on the server')
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 20_000, intervalMs: 250})

    // The next Go live publishes with the key's next generation.
    await studio.click('#start')
    const again = await waitFor('live again', async () => {
      const s = await goLive()
      return s.live ? s : undefined
    }, {timeoutMs: 40_000, intervalMs: 250})
    expect(again.streamId).not.toBe(first.streamId)
    await studio.click('#stop')
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 20_000, intervalMs: 250})
  }, 150_000)
})
