/**
 * WHIP with the real web (behind the front), ingest, SFU (mediasoup's worker), relay, Redis,
 * FerretDB, MinIO and ffmpeg: Chromium with a fake camera and microphone publishes a channel over
 * WebRTC as OBS's WHIP output does (POST of its offer with the stream key as the Bearer token);
 * the channel plays through the relay in every rendition; a wrong key gets 401, a second encoder
 * 409, a channel with no ladder slot left 503 with Retry-After, an offer in codecs the SFU does
 * not take 400; an H.264 encoder (as OBS) goes live as well as a VP8 one; DELETE ends the
 * broadcast; an encoder that closes its connection without one ends it at once, one that goes
 * away silently after 10 s; when the SFU a session is on dies, the broadcast ends and the
 * encoder's next offer goes live on the other SFU; one that stops (a rolling update) ends its
 * broadcast at once.
 */
import {execa} from 'execa'
import type {Page} from 'playwright-core'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {streamStateKey, streamStateSchema, type Playback} from '../../../appliance/contract/index.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {webrtcRange} from '../../harness/appliance.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'
import {connectionState, publishFrom, type Published} from '../../harness/whip-page.js'
import {requireTool} from '../../harness/tools.js'

let site: LiveSite
let chromium: RunningChromium
let key: string
let otherKey: string
let owner: FormClient
const CHANNEL = 'whip-show'

const playback = async (channel: string): Promise<Playback> => (await site.web<Playback>(`/api/streams/${channel}/playback`)).body
const whipUrl = (channel: string): string => `${site.frontUrl()}/whip/${channel}`

async function ffprobe(url: string): Promise<Array<{codec_type: string; codec_name: string; height?: number}>> {
  const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,height', '-of', 'json', url], {timeout: 60_000})
  return (JSON.parse(stdout) as {streams: Array<{codec_type: string; codec_name: string; height?: number}>}).streams
}

/** As OBS (re)connects: a new offer every 2 s until one is taken; only "no room now" (503) may come before. */
async function publishUntilTaken(page: Page, refusals: string[], mangle?: 'vp8-only'): Promise<Published> {
  const published = await waitFor('an offer taken', async () => {
    const attempt = await publishFrom(page, whipUrl(CHANNEL), key, mangle)
    if (attempt.status === 201) return attempt
    refusals.push(`${attempt.status} ${attempt.text.trim()}`)
    return undefined
  }, {timeoutMs: 40_000, intervalMs: 2000}).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; refused: ${[...new Set(refusals)].join('; ')}`)
  })
  expect(refusals.every((r) => r.startsWith('503')), refusals.join('; ')).toBe(true)
  return published
}

beforeAll(async () => {
  // One ladder slot: a second channel finds no room while the first is live.
  site = await startLiveSite({adjustProfile: (profile) => ({...profile, ingest: {...profile.ingest, maxLadders: 1}})})
  // Each SFU with its TURN server (coturn), which the answer names to the encoder.
  const turn = async (): Promise<NodeJS.ProcessEnv> => webrtcRange(8, {turn: true})
  await Promise.all([site.start('web'), site.start('relay'), site.start('ingest'), site.start('sfu-a', await turn()), site.start('sfu-b', await turn())])
  // A streamer's channel, with a key made by the admin operation; a second channel with a key of its own.
  owner = await signUpThroughForm(`http://127.0.0.1:${site.get('web').httpPort}`, 'whip-owner', {password: 'correct horse battery staple', address: '198.51.100.151'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Live from OBS'})).toMatchObject({status: 303})
  key = await site.streamKey(CHANNEL)
  otherKey = await site.streamKey('whip-other')
  chromium = await launchChromium({fakeMedia: true})
}, 180_000)

// A failure shows what the ingest and the SFUs said about WHIP.
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  for (const id of ['ingest', 'sfu-a', 'sfu-b']) {
    const lines = site.get(id).process.output().split('\n').filter((line) => /whip|call|error/i.test(line))
    console.log(`--- ${id}\n${lines.slice(-30).join('\n')}`)
  }
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('publishing over WHIP', () => {
  it("the channel's dashboard gives OBS the WHIP server beside the RTMP one", async () => {
    const page = await chromium.newPage()
    await page.context().addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: site.frontUrl()}])
    await page.goto(`${site.frontUrl()}/dashboard/c/${CHANNEL}`)
    const whipServer = await page.locator('#whip-server').inputValue()
    expect(whipServer).toBe(`${site.env.SHING_PUBLIC_URL!.replace(/\/$/, '')}/whip/${CHANNEL}`)
    await expect.poll(() => page.getByText('Bearer Token').count()).toBeGreaterThan(0)
    await page.locator('#whip-server').scrollIntoViewIfNeeded()
    expect(await screenshotDesktopAndPhone(page, 'dashboard-whip')).toBeLessThanOrEqual(PHONE.width)
    await page.close()
  })

  let encoder: Page
  let location: string

  it('refuses an encoder without the right key with 401 and says what to send', async () => {
    const offer = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'
    const post = (headers: Record<string, string>): Promise<Response> => fetch(whipUrl(CHANNEL), {method: 'POST', headers: {'content-type': 'application/sdp', ...headers}, body: offer})
    const none = await post({})
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(await none.text()).toContain('Bearer token')
    const wrong = await post({authorization: `Bearer ${'x'.repeat(43)}`})
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).toContain('not valid')
    // Another channel's key, for this channel: refused, naming where that key publishes.
    const other = await post({authorization: `Bearer ${otherKey}`})
    expect(other.status).toBe(401)
    expect(await other.text()).toContain('/whip/whip-other')
    // Not an offer at all.
    const notSdp = await fetch(whipUrl(CHANNEL), {method: 'POST', headers: {'content-type': 'text/plain', authorization: `Bearer ${key}`}, body: 'hello'})
    expect(notSdp.status).toBe(415)
    // Browsers on other sites ask first: allowed, with what they may send.
    const preflight = await fetch(whipUrl(CHANNEL), {method: 'OPTIONS', headers: {origin: 'https://studio.example', 'access-control-request-method': 'POST'}})
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('accept-post')).toBe('application/sdp')
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization')
    expect((await playback(CHANNEL)).live).toBe(false)
  })

  it('says which codec to use when the offer has no video the server takes (400)', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const refused = await publishFrom(page, whipUrl(CHANNEL), key, 'no-usable-video')
    expect(refused.status, refused.text).toBe(400)
    expect(refused.text).toContain('H.264 or VP8')
    await page.close()
  })

  it('two encoders publishing the channel at once: one gets 201, the other 409 (before either is live)', async () => {
    const pages = await Promise.all([chromium.newPage(), chromium.newPage()])
    await Promise.all(pages.map((page) => page.goto(`${site.frontUrl()}/`)))
    const both = await Promise.all(pages.map((page) => publishFrom(page, whipUrl(CHANNEL), key)))
    expect(both.map((p) => p.status).toSorted()).toEqual([201, 409])
    expect(both.find((p) => p.status === 409)!.text).toContain('starting or running')
    const taken = both.find((p) => p.status === 201)!
    expect((await fetch(`${site.frontUrl()}${taken.location!}`, {method: 'DELETE', headers: {authorization: `Bearer ${key}`}})).status).toBe(200)
    await Promise.all(pages.map((page) => page.close()))
    await waitFor('no session', async () => ((await site.metric('ingest', 'shing_ingest_whip_sessions')) === 0 ? true : undefined), {timeoutMs: 15_000, intervalMs: 250})
  }, 60_000)

  it('a browser publishing over WHIP goes live, and every rendition plays through the relay', async () => {
    encoder = await chromium.newPage()
    encoder.on('console', (m) => console.log(`encoder console: ${m.text()}`))
    await encoder.goto(`${site.frontUrl()}/`)
    // VP8 only (a browser that sends no H.264): the ingest encodes it once. The last test's session may still be ending.
    const published = await publishUntilTaken(encoder, [], 'vp8-only')
    expect(published.contentType).toContain('application/sdp')
    expect(published.text).toMatch(/a=rtpmap:\d+ VP8\/90000/)
    expect(published.text).toContain('a=ice-lite')
    expect(published.location).toMatch(new RegExp(`^/whip/${CHANNEL}/ingest/[A-Za-z0-9_-]{22}$`))
    // The SFU's TURN server, with credentials, for an encoder behind a strict NAT (RFC 9725 §4.6).
    expect(published.link).toMatch(/^<turn:127\.0\.0\.1:\d+\?transport=udp>; rel="ice-server"; username="\d+:whip:whip-show"; credential="[^"]+"; credential-type="password", <turn:127\.0\.0\.1:\d+\?transport=tcp>;/)
    location = published.location!
    await waitFor('the WebRTC connection', async () => ((await connectionState(encoder)) === 'connected' ? true : undefined), {timeoutMs: 20_000, intervalMs: 250})
    const live = await waitFor('the channel live', async () => {
      const p = await playback(CHANNEL)
      return p.live ? p : undefined
    }, {timeoutMs: 45_000, intervalMs: 500})
    const state = streamStateSchema.parse(JSON.parse((await site.client.get(streamStateKey(CHANNEL)))!))
    expect(state.ingestId).toBe('ingest')
    const streams = await waitFor('its renditions', async () => {
      const s = await ffprobe(`${site.frontUrl()}${live.url}`).catch(() => [])
      return s.filter((x) => x.codec_type === 'video').length === state.renditions.filter((r) => r.height > 0).length ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    const heights = streams.filter((s) => s.codec_type === 'video').map((s) => s.height)
    console.log(`whip: renditions ${heights.join(',')} audio=${streams.filter((s) => s.codec_type === 'audio').map((s) => s.codec_name).join(',')}`)
    expect(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true)
    expect(streams.filter((s) => s.codec_type === 'video').every((s) => s.codec_name === 'h264')).toBe(true)
    expect(await site.metric('ingest', 'shing_ingest_whip_sessions')).toBe(1)
  }, 180_000)

  it('a second encoder for the live channel gets 409; another channel, with no slot left, 503 and when to retry', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const second = await publishFrom(page, whipUrl(CHANNEL), key)
    expect(second.status).toBe(409)
    expect(second.text).toContain('already live')
    const full = await fetch(whipUrl('whip-other'), {method: 'POST', headers: {'content-type': 'application/sdp', authorization: `Bearer ${otherKey}`}, body: 'v=0\r\n'})
    expect(full.status).toBe(503)
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await full.text()).toContain('no room for another broadcast')
    await page.close()
    expect((await playback(CHANNEL)).live).toBe(true)
  })

  it('DELETE needs the key, then ends the broadcast', async () => {
    const anonymous = await fetch(`${site.frontUrl()}${location}`, {method: 'DELETE'})
    expect(anonymous.status).toBe(401)
    // The session's id under another channel's path is no session.
    const elsewhere = location.replace(`/whip/${CHANNEL}/`, '/whip/whip-other/')
    expect((await fetch(`${site.frontUrl()}${elsewhere}`, {method: 'DELETE', headers: {authorization: `Bearer ${otherKey}`}})).status).toBe(404)
    expect((await playback(CHANNEL)).live).toBe(true)
    const ended = await fetch(`${site.frontUrl()}${location}`, {method: 'DELETE', headers: {authorization: `Bearer ${key}`}})
    expect(ended.status).toBe(200)
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 15_000, intervalMs: 250})
    // The session is gone: a second DELETE finds nothing, and the SFU let the encoder go.
    expect((await fetch(`${site.frontUrl()}${location}`, {method: 'DELETE', headers: {authorization: `Bearer ${key}`}})).status).toBe(404)
    await waitFor('the encoder disconnected', async () => (['failed', 'disconnected', 'closed'].includes(await connectionState(encoder)) ? true : undefined), {timeoutMs: 40_000, intervalMs: 500})
    expect(await site.metric('ingest', 'shing_ingest_whip_sessions')).toBe(0)
    await encoder.close()
  }, 90_000)

  it('an H.264 encoder (as OBS, and browsers that offer it) goes live too, and one that goes away without DELETE ends its broadcast by itself', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    // The last broadcast's ladder may still hold the one slot while it finishes: 503 until it is free.
    // Chromium lists VP8 first; the server takes its H.264, which costs the ingest no encode.
    const published = await publishUntilTaken(page, [])
    expect(published.text).toMatch(/a=rtpmap:\d+ H264\/90000/)
    const live = await waitFor('live again', async () => {
      const p = await playback(CHANNEL)
      return p.live ? p : undefined
    }, {timeoutMs: 45_000, intervalMs: 500})
    // Copied as it came into the ladder, which makes every rendition of it.
    const heights = await waitFor('every rendition', async () => {
      const s = (await ffprobe(`${site.frontUrl()}${live.url}`).catch(() => [])).filter((x) => x.codec_type === 'video' && x.codec_name === 'h264')
      return s.length === site.profile.ladder.length ? s.map((x) => x.height) : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    expect(heights).toEqual(site.profile.ladder.map((r) => r.height))
    const closedAt = Date.now()
    await page.close()
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 40_000, intervalMs: 250})
    console.log(`whip: offline ${((Date.now() - closedAt) / 1000).toFixed(1)} s after the encoder went away`)
    expect(await site.metric('ingest', 'shing_ingest_whip_sessions')).toBe(0)
  }, 120_000)

  it('an encoder that closes its connection without a DELETE ends its broadcast at once (the SFU says its peer left)', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    await publishUntilTaken(page, [])
    await waitFor('live', async () => ((await playback(CHANNEL)).live ? true : undefined), {timeoutMs: 45_000, intervalMs: 500})
    const closedAt = Date.now()
    await page.evaluate(() => (window as unknown as {whip: {pc: RTCPeerConnection}}).whip.pc.close())
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 40_000, intervalMs: 250})
    const offlineAfter = (Date.now() - closedAt) / 1000
    console.log(`whip: offline ${offlineAfter.toFixed(1)} s after the encoder closed its connection`)
    // About 5 s here (the ladder's own stop included); silence alone would take more than 10.
    expect(offlineAfter).toBeLessThan(9.5)
    await page.close()
  }, 120_000)

  it('the SFU a session is on dies: the broadcast ends, and the encoder publishing again goes live on the other SFU', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    // The last test's broadcast may still hold the one ladder slot while its ladder finishes: 503 until it is free.
    await publishUntilTaken(page, [])
    await waitFor('live', async () => ((await playback(CHANNEL)).live ? true : undefined), {timeoutMs: 45_000, intervalMs: 500})
    const rooms = async (id: string): Promise<number> => site.metric(id, 'shing_sfu_call_rooms').catch(() => 0)
    const doomed = (await rooms('sfu-a')) > 0 ? 'sfu-a' : 'sfu-b'
    expect(await rooms(doomed)).toBe(1)
    const killedAt = Date.now()
    await site.get(doomed).process.kill('SIGKILL')
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 40_000, intervalMs: 250})
    const offlineAfter = (Date.now() - killedAt) / 1000
    await page.close()
    // As OBS reconnects: a new offer every 2 s until one is taken (the dead SFU's registry record
    // has not expired yet; the ended broadcast's ladder slot frees once its ladder has finished).
    const again = await chromium.newPage()
    await again.goto(`${site.frontUrl()}/`)
    const refusals: string[] = []
    const published = await publishUntilTaken(again, refusals)
    await waitFor('live again', async () => ((await playback(CHANNEL)).live ? true : undefined), {timeoutMs: 45_000, intervalMs: 500})
    const survivor = doomed === 'sfu-a' ? 'sfu-b' : 'sfu-a'
    expect(await rooms(survivor)).toBe(1)
    console.log(`whip: ${doomed} killed; offline after ${offlineAfter.toFixed(1)} s, live again on ${survivor} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill (refused meanwhile: ${refusals.join('; ') || 'none'})`)
    expect((await fetch(`${site.frontUrl()}${published.location!}`, {method: 'DELETE', headers: {authorization: `Bearer ${key}`}})).status).toBe(200)
    await again.close()
  }, 150_000)

  it('an SFU that stops (a rolling update) ends its WHIP broadcasts at once, not after their silence', async () => {
    const page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/`)
    await publishUntilTaken(page, [])
    await waitFor('live', async () => ((await playback(CHANNEL)).live ? true : undefined), {timeoutMs: 45_000, intervalMs: 500})
    const rooms = async (id: string): Promise<number> => site.metric(id, 'shing_sfu_call_rooms').catch(() => 0)
    const holder = (await rooms('sfu-a')) > 0 ? 'sfu-a' : 'sfu-b'
    const stoppedAt = Date.now()
    await site.get(holder).process.stop()
    await waitFor('offline', async () => ((await playback(CHANNEL)).live ? undefined : true), {timeoutMs: 30_000, intervalMs: 250})
    const offlineAfter = (Date.now() - stoppedAt) / 1000
    console.log(`whip: ${holder} stopped; offline after ${offlineAfter.toFixed(1)} s`)
    // The SFU said the room closed (about 5 s here, the SFU's and the ladder's own stops included):
    // silence alone would end it 10 s after the media stopped, and offline comes later still.
    expect(offlineAfter).toBeLessThan(9.5)
    await page.close()
  }, 120_000)
})
