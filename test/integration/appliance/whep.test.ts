/**
 * Real-time playback (WHEP) through the real components: a channel with real-time on is published
 * over RTMP; the ingest's ladder sends its top rendition and Opus audio to an SFU (real mediasoup
 * workers); a Chromium page POSTs a WHEP offer to the web and decodes the video and hears the
 * audio; DELETE ends the session on the SFU. A channel without real-time, a bad offer and a wrong
 * content type are refused with the reason. The box falling behind sheds the second rendition, not
 * the top one real time carries. The SFU killed under the stream: the ingest moves the tracks to
 * the other, and a new offer plays again.
 */
import type {Page} from 'playwright-core'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {realtimeKey, realtimeRecordSchema, type RealtimeRecord} from '../../../appliance/contract/index.js'
import {webrtcRange} from '../../harness/appliance.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {startProcess, waitFor, type ManagedProcess} from '../../harness/process.js'
import {requireTool} from '../../harness/tools.js'
import {publishWhenThereIsRoom} from '../../harness/rtmp.js'
import {playFrom, received, type Received} from '../../harness/whep-page.js'

let site: LiveSite
let chromium: RunningChromium
let owner: FormClient
let publisher: ManagedProcess | undefined
const CHANNEL = 'rt-show'

const whepUrl = (channel: string): string => `${site.frontUrl()}/whep/${channel}`
const record = async (): Promise<RealtimeRecord | undefined> => {
  const raw = await site.client.get(realtimeKey(CHANNEL))
  return raw === null ? undefined : realtimeRecordSchema.parse(JSON.parse(raw))
}

/** Until the page has decoded `frames` more video frames and heard sound. */
async function plays(page: Page, frames = 30): Promise<Received> {
  const first = await received(page)
  return waitFor('the page to decode video and hear audio', async () => {
    const now = await received(page)
    return now.framesDecoded >= first.framesDecoded + frames && now.width > 0 && now.audioPackets > first.audioPackets && now.audioRms > 0.01 ? now : undefined
  }, {timeoutMs: 30_000, intervalMs: 500}).catch(async (error: unknown) => {
    throw new Error(`${(error as Error).message}; last: ${JSON.stringify(await received(page))}`)
  })
}

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all([site.start('web'), site.start('relay'), site.start('ingest'), site.start('sfu-a', await webrtcRange(8, {turn: true})), site.start('sfu-b', await webrtcRange(8, {turn: true}))])
  owner = await signUpThroughForm(`http://127.0.0.1:${site.get('web').httpPort}`, 'rt-owner', {password: 'correct horse battery staple', address: '198.51.100.171'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Real time'})).toMatchObject({status: 303})
  chromium = await launchChromium()
}, 180_000)

afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  for (const id of ['web', 'ingest', 'sfu-a', 'sfu-b']) {
    const lines = site.get(id).process.output().split('\n').filter((line) => /whep|realtime|call|error|ladder/i.test(line))
    console.log(`--- ${id}\n${lines.slice(-30).join('\n')}`)
  }
})

afterAll(async () => {
  await publisher?.stop().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('real-time playback (WHEP)', () => {
  it('a channel without real-time on is refused with 404 and the reason, as is a request that is no offer', async () => {
    const offline = await fetch(whepUrl(CHANNEL), {method: 'POST', headers: {'content-type': 'application/sdp'}, body: 'v=0\r\n'})
    expect(offline.status).toBe(400)
    const page = await chromium.browser.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const notLive = await playFrom(page, whepUrl(CHANNEL))
    expect(notLive.status).toBe(404)
    expect(notLive.text).toContain('not live in real time now: play it over LL-HLS')
    const wrongType = await fetch(whepUrl(CHANNEL), {method: 'POST', headers: {'content-type': 'text/plain'}, body: 'hello'})
    expect(wrongType.status).toBe(415)
    expect(await wrongType.text()).toContain('Content-Type: application/sdp')
    await page.close()
  })

  it('with real-time on, a broadcast goes to an SFU as well, and a page plays it over WHEP: video decoded, audio heard; DELETE ends it', async () => {
    // The streamer turns real-time playback on in the channel's dashboard.
    expect(await owner.submit(`/dashboard/c/${CHANNEL}`, `/dashboard/c/${CHANNEL}/profile`, {description: '', category: '', tags: '', language: '', realtime: '1'})).toMatchObject({status: 303})
    expect((await owner.get(`/dashboard/c/${CHANNEL}`)).text).toMatch(/<input type="checkbox" name="realtime" value="1" checked>/)
    const key = await site.streamKey(CHANNEL)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 30})
    const placed = await waitFor('the real-time tracks on an SFU', record, {timeoutMs: 30_000, intervalMs: 500})
    const page = await chromium.browser.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const played = await playFrom(page, whepUrl(CHANNEL))
    expect(played.status, played.text).toBe(201)
    expect(played.contentType).toBe('application/sdp')
    expect(played.location).toMatch(new RegExp(`^/whep/${CHANNEL}/${placed.sfu}/[A-Za-z0-9_-]{16}$`))
    expect(played.link).toMatch(/^<turn:127\.0\.0\.1:\d+\?transport=udp>; rel="ice-server"/)
    const got = await plays(page)
    console.log(`whep: ${got.width}x${got.height}, ${got.framesDecoded} frames decoded, audio rms ${got.audioRms.toFixed(3)}, jitter buffer ${(got.jitterBufferSeconds * 1000).toFixed(0)} ms`)
    expect(got.connection).toBe('connected')
    expect(await site.metric(placed.sfu, 'shing_sfu_call_rooms')).toBe(1)

    const deleted = await page.evaluate(async (location) => (await fetch(location, {method: 'DELETE'})).status, played.location!)
    expect(deleted).toBe(200)
    await waitFor('the SFU to drop the viewer', async () => (site.get(placed.sfu).process.output().includes('"why":"left"') ? true : undefined), {timeoutMs: 10_000})
    await page.close()
  }, 120_000)

  it('the channel page offers Real time: pressed, it plays over WebRTC (remembered), and pressed again goes back to LL-HLS', async () => {
    const context = await chromium.browser.newContext({viewport: {width: 1280, height: 800}})
    const page = await context.newPage()
    await page.goto(`${site.frontUrl()}/c/${CHANNEL}`)
    const button = page.getByRole('button', {name: 'Real time'})
    await button.waitFor({state: 'visible', timeout: 30_000})
    expect(await button.getAttribute('aria-pressed')).toBe('false')
    const mode = (): Promise<string | null> => page.evaluate(() => (window as unknown as {shingPlayer: {mode: string | null}}).shingPlayer.mode)
    expect(await mode()).toBe('hls')
    // By keyboard, as anyone may.
    await button.focus()
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => (window as unknown as {shingPlayer: {realtimeState?: string}}).shingPlayer.realtimeState === 'connected', undefined, {timeout: 20_000})
    const frames = (): Promise<number> => page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames)
    const before = await frames()
    await waitFor('frames shown in real time', async () => ((await frames()) >= before + 30 ? true : undefined), {timeoutMs: 20_000, intervalMs: 500})
    expect(await mode()).toBe('realtime')
    expect(await button.getAttribute('aria-pressed')).toBe('true')
    expect(await page.locator('#quality').textContent()).toMatch(/^\d+p$/)
    expect(await screenshotDesktopAndPhone(page, 'watch-realtime')).toBeLessThanOrEqual(PHONE.width)
    // Remembered: the page opened again starts in real time.
    await page.reload()
    await page.waitForFunction(() => (window as unknown as {shingPlayer: {realtimeState?: string}}).shingPlayer.realtimeState === 'connected', undefined, {timeout: 30_000})
    await page.getByRole('button', {name: 'Real time'}).click()
    await page.waitForFunction(() => (window as unknown as {shingPlayer: {mode: string | null; level: number | null}}).shingPlayer.mode === 'hls', undefined, {timeout: 10_000})
    await page.waitForFunction(() => (document.getElementById('video') as HTMLVideoElement).currentTime > 1, undefined, {timeout: 30_000})
    await context.close()
  }, 120_000)

  it('a player whose offer is refused (the channel stopped offering real time) says so and plays LL-HLS', async () => {
    const context = await chromium.browser.newContext()
    const page = await context.newPage()
    await page.addInitScript(() => localStorage.setItem('shing-realtime', '1'))
    // Every offer refused, as when the tracks are between SFUs.
    await page.route('**/whep/**', (route) => route.fulfill({status: 503, contentType: 'text/plain', body: 'The real-time server of this channel is moving: try again in a few seconds\n'}))
    await page.goto(`${site.frontUrl()}/c/${CHANNEL}`)
    await page.waitForFunction(() => (window as unknown as {shingPlayer: {mode: string | null}}).shingPlayer.mode === 'hls' && (document.getElementById('video') as HTMLVideoElement).currentTime > 1, undefined, {timeout: 40_000})
    expect(await page.locator('#player-note').textContent()).toBe('Real time is not available now (The real-time server of this channel is moving: try again in a few seconds): playing with the usual delay.')
    await context.close()
  }, 60_000)

  it('the box falls behind: the broadcast gives up its second rendition, not the top one real time carries, and still plays in real time', async () => {
    // Something else takes the CPU (as a worker's encode would), until the ingest sheds.
    const hogs: ManagedProcess[] = []
    try {
      for (let attempt = 1; attempt <= 3 && (await site.metric('ingest', 'shing_ingest_renditions_shed_total')) === 0; attempt++) {
        hogs.push(await startProcess({
          name: `cpu-hog-${attempt}`,
          command: requireTool('ffmpeg'),
          args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=60', '-c:v', 'libx264', '-preset', 'medium', '-threads', '1', '-f', 'null', '-'],
          ready: {log: /frame=\s*\d+/},
        }))
        await waitFor('a rendition shed', async () => ((await site.metric('ingest', 'shing_ingest_renditions_shed_total')) > 0 ? true : undefined), {timeoutMs: 45_000, intervalMs: 1000}).catch(() => undefined)
      }
      await waitFor('the ingest to say which rendition it gave up', async () => (/gives up its \w+ rendition/.test(site.get('ingest').process.output()) ? true : undefined), {timeoutMs: 30_000, intervalMs: 250})
    } finally {
      await Promise.allSettled(hogs.map((hog) => hog.stop()))
    }
    const said = site.get('ingest').process.output()
    expect(said).toContain(`${CHANNEL} gives up its 480p rendition`)
    expect(said).not.toContain(`${CHANNEL} gives up its 720p rendition`)
    expect(await record()).toBeDefined()
    const page = await chromium.browser.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const played = await playFrom(page, whepUrl(CHANNEL))
    expect(played.status, played.text).toBe(201)
    const got = await plays(page)
    expect(got.height).toBe(720)
    await page.close()
  }, 240_000)

  it('the SFU that has the tracks is killed: the ingest moves them to the other, and a new offer plays again', async () => {
    const before = (await record())!
    const other = before.sfu === 'sfu-a' ? 'sfu-b' : 'sfu-a'
    await site.get(before.sfu).process.kill('SIGKILL')
    const moved = await waitFor('the tracks on the other SFU', async () => {
      const now = await record()
      return now?.sfu === other ? now : undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    expect(moved.room).not.toBe(before.room)
    const page = await chromium.browser.newPage()
    await page.goto(`${site.frontUrl()}/`)
    const played = await playFrom(page, whepUrl(CHANNEL))
    expect(played.status, played.text).toBe(201)
    await plays(page)
    await page.close()
  }, 120_000)

  it('the broadcast ends: its real-time record goes, and an offer is refused again', async () => {
    await publisher?.stop()
    publisher = undefined
    await waitFor('the record gone', async () => ((await record()) === undefined ? true : undefined), {timeoutMs: 20_000, intervalMs: 500})
    const response = await fetch(whepUrl(CHANNEL), {method: 'POST', headers: {'content-type': 'application/sdp'}, body: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\na=fingerprint:sha-256 00:11\r\n'})
    expect(response.status).toBe(404)
  }, 60_000)
})
