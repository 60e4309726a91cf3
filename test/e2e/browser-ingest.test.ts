/**
 * Going live from the browser on a real stack: a site made by `shing init --tls auto` (the camera
 * needs a secure page) and `shing up`; Chromium in the box's network with a fake camera and
 * microphone signs up, makes a channel and goes live from the Go-live page, its WebSocket through
 * the Caddy edge and a web instance to the ingest; a second page watches through a relay; ffprobe
 * reads every rendition at the edge; the ingest's container is killed and the page goes live again
 * on the one the swarm starts; End broadcast leaves a VOD. Hostile sockets are in
 * test/integration/appliance/browser-ingest.test.ts. The streamer then publishes
 * over WHIP with a stream key (a Chromium page as the encoder), through the edge, a web instance,
 * the ingest and the SFU service; its refusals are in test/integration/appliance/whip.test.ts. With
 * real-time playback on, a viewer presses Real time on the channel's page and plays it over WHEP
 * from the SFU service (test/integration/appliance/whep.test.ts has the rest).
 * Ends with `browser-ingest e2e: …`.
 *
 * On the same stack (the camera wants the same secure page), a call: the streamer opens a room and
 * a second account joins by its link, the signalling through the edge and the web, the media
 * straight to the SFU service's published port on the box's address. Ends with `calls e2e: …`.
 * Three participants, SFU failover and hostile requests are in test/integration/appliance/calls.test.ts.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Playback} from '../../appliance/contract/index.js'
import type {VodListing} from '../../appliance/vods/vods.js'
import {screenshot} from '../harness/artifacts.js'
import {seesAndHears} from '../harness/call-page.js'
import {launchChromium, type RunningChromium} from '../harness/chromium.js'
import {waitFor} from '../harness/process.js'
import {connectionState, publishFrom} from '../harness/whip-page.js'
import {requireTool} from '../harness/tools.js'
import {explain, startSite, type Site} from './site.js'

const CHANNEL = 'studio'
const PASSWORD = 'correct horse battery staple'
let site: Site
let base: string
let browser: RunningChromium | undefined
/** The streamer's page, logged in (the calls test reuses the account). */
let studioPage: Page | undefined
/** The broadcast test's figures, for the line the WHIP test ends with. */
let summary: {failover: string; figures: string} | undefined

/** JSON from the site, fetched inside the box (Caddy's own CA signed its certificate). */
async function getJson<T>(path: string): Promise<T> {
  const r = await site.inBox('env', ['NODE_TLS_REJECT_UNAUTHORIZED=0', process.execPath, '--no-warnings', '-e', `fetch(${JSON.stringify(base + path)}).then(r=>r.text()).then(t=>process.stdout.write(t))`])
  return JSON.parse(r.stdout) as T
}

async function ffprobe(path: string): Promise<Array<{codec_type: string; codec_name: string; height?: number}>> {
  const r = await site.inBox(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,height', '-of', 'json', `${base}${path}`], 60_000)
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as {streams: Array<{codec_type: string; codec_name: string; height?: number}>}).streams : []
}

beforeAll(async () => {
  site = await startSite([], {tls: 'auto'})
  base = `https://${site.box.address}`
  const up = await site.shing('up', '--json', '--timeout', '240')
  expect(up.exitCode, explain(up)).toBe(0)
})

afterAll(async () => {
  await browser?.close().catch(() => undefined)
  await site?.stop()
})

describe('going live from the browser through the edge', () => {
  it('a streamer signs up, goes live from the Go-live page, a viewer plays it through a relay, and End broadcast leaves a VOD', async () => {
    browser = await launchChromium({netns: site.box.netns, ignoreHttpsErrors: true, fakeMedia: true})
    const studio = (studioPage = await browser.newPage())
    await studio.goto(`${base}/signup`)
    await studio.getByLabel('Username').fill('streamer')
    await studio.getByLabel('E-mail').fill('streamer@example.test')
    await studio.getByLabel('Password').fill(PASSWORD)
    await studio.getByRole('button', {name: 'Sign up'}).click()
    await studio.waitForURL(/\/account/)
    await studio.goto(`${base}/dashboard`)
    await studio.getByLabel('Channel name').fill(CHANNEL)
    await studio.getByLabel('Title').fill('Live from the browser')
    await studio.getByRole('button', {name: 'Create channel'}).click()
    await studio.waitForURL(`${base}/dashboard/c/${CHANNEL}?created=1`)

    await studio.getByRole('link', {name: 'Go live from this browser'}).click()
    await studio.waitForFunction(() => document.getElementById('go-live-status')?.dataset.phase === 'ready', undefined, {timeout: 30_000})
    const since = performance.now()
    await studio.getByRole('button', {name: 'Go live'}).click()
    await studio.waitForFunction(() => (window as unknown as {shingGoLive: {live: boolean}}).shingGoLive.live, undefined, {timeout: 60_000}).catch(async (error: unknown) => {
      const logs = await site.shing('logs', 'ingest', '--tail', '40')
      throw new Error(`${(error as Error).message}: ${await studio.locator('#go-live-status').textContent()} / ${await studio.locator('#go-live-problem').textContent()}\n--- ingest\n${logs.stdout.split('\n').filter((l) => /browser|refus|error/i.test(l)).join('\n')}`)
    })
    const liveAfter = (performance.now() - since) / 1000
    const streamId = await studio.evaluate(() => (window as unknown as {shingGoLive: {streamId: string}}).shingGoLive.streamId)
    await screenshot(studio, 'e2e-go-live')
    const playback = await getJson<Playback>(`/api/streams/${CHANNEL}/playback`)
    expect(playback).toMatchObject({live: true, streamId})

    const streams = await waitFor('every rendition at the edge', async () => {
      const s = await ffprobe(`/live/${CHANNEL}/master.m3u8`)
      return s.filter((x) => x.codec_type === 'video').length >= 2 ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    expect(streams.filter((s) => s.codec_type === 'video').every((s) => s.codec_name === 'h264')).toBe(true)
    expect(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true)
    const renditions = streams.filter((s) => s.codec_type === 'video').length

    const viewer = await browser.newPage()
    await viewer.goto(`${base}/c/${CHANNEL}`)
    await viewer.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) >= 4, undefined, {timeout: 60_000})
    const played = await viewer.evaluate(() => document.querySelector('video')?.currentTime ?? 0)
    await viewer.close()

    // The ingest container killed under the broadcast: the swarm starts another, and the page
    // reconnects to it by itself; the channel is live again, as a new broadcast.
    const [ingest] = await site.box.docker.listContainers({filters: {label: ['io.shing.component=ingest']}})
    expect(ingest).toBeDefined()
    const killedAt = performance.now()
    await site.box.docker.getContainer(ingest!.Id).kill()
    const again = await waitFor('the channel live again after the ingest was killed', async () => {
      const state = await studio.evaluate(() => (window as unknown as {shingGoLive: {live: boolean; streamId?: string}}).shingGoLive)
      if (!state.live || state.streamId === streamId) return undefined
      const p = await getJson<Playback>(`/api/streams/${CHANNEL}/playback`)
      return p.live && p.streamId === state.streamId ? state.streamId : undefined
    }, {timeoutMs: 120_000, intervalMs: 1000})
    const failover = (performance.now() - killedAt) / 1000
    console.log(`browser-ingest e2e: the ingest killed, live again after ${failover.toFixed(1)} s`)
    // The new broadcast at the edge again, then a few seconds of it: it is kept as a past broadcast.
    await waitFor('its renditions at the edge', async () => ((await ffprobe(`/live/${CHANNEL}/master.m3u8`)).some((x) => x.codec_type === 'video') ? true : undefined), {timeoutMs: 60_000, intervalMs: 1000})
    await new Promise((resolve) => setTimeout(resolve, 5000))

    await studio.getByRole('button', {name: 'End broadcast'}).click()
    await waitFor('the channel offline', async () => ((await getJson<Playback>(`/api/streams/${CHANNEL}/playback`)).live ? undefined : true), {timeoutMs: 30_000, intervalMs: 1000})
    expect(await studio.locator('#go-live-status').textContent()).toContain('saved with your past broadcasts')
    const vod = await waitFor('the VOD', async () => (await getJson<{vods: VodListing[]}>(`/api/streams/${CHANNEL}/vods`)).vods.find((v) => v.streamId === again), {timeoutMs: 90_000, intervalMs: 2000})
    expect(vod.durationSeconds).toBeGreaterThan(2)
    summary = {failover: `${failover.toFixed(1)}s`, figures: `live-after=${liveAfter.toFixed(1)}s renditions=${renditions} played=${played.toFixed(1)}s vod=${vod.durationSeconds.toFixed(0)}s`}
  }, 500_000)

  it('the streamer publishes over WHIP with a stream key (as OBS 30 does): through the edge, the web, the ingest and the SFU, it plays at the edge, and DELETE ends it', async () => {
    if (browser === undefined || studioPage === undefined || summary === undefined) throw new Error('the broadcast test did not sign the streamer up')
    await studioPage.goto(`${base}/dashboard/c/${CHANNEL}`)
    // Real-time playback on, for the broadcast below.
    await studioPage.getByLabel('Real-time playback').check()
    await studioPage.getByRole('button', {name: 'Save profile'}).click()
    await studioPage.waitForURL(`**/dashboard/c/${CHANNEL}**`)
    expect(await studioPage.getByLabel('Real-time playback').isChecked()).toBe(true)
    await studioPage.getByRole('button', {name: 'Create a stream key'}).click()
    const key = await studioPage.inputValue('#new-key')
    const whip = await studioPage.inputValue('#whip-server')
    expect(whip).toBe(`${base}/whip/${CHANNEL}`)
    const encoder = await browser.newPage()
    await encoder.goto(`${base}/`)
    const since = performance.now()
    // As OBS does: after a 503 (the ingest measures no room while the last broadcast's VOD is made), again a little later.
    const refusals: string[] = []
    const published = await waitFor('the WHIP offer taken', async () => {
      const attempt = await publishFrom(encoder, whip, key)
      if (attempt.status !== 503) return attempt
      refusals.push(attempt.text.trim())
      return undefined
    }, {timeoutMs: 90_000, intervalMs: 3000})
    expect(published.status, `${published.text} (refused before: ${refusals.join('; ')})`).toBe(201)
    await waitFor('the WebRTC connection', async () => ((await connectionState(encoder)) === 'connected' ? true : undefined), {timeoutMs: 30_000, intervalMs: 250})
    const whipLive = await waitFor('the channel live', async () => {
      const p = await getJson<Playback>(`/api/streams/${CHANNEL}/playback`)
      return p.live ? p : undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    const liveAfter = (performance.now() - since) / 1000
    const streams = await waitFor('its renditions at the edge', async () => {
      const s = await ffprobe(`/live/${CHANNEL}/master.m3u8`)
      return s.filter((x) => x.codec_type === 'video').length >= 2 ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    expect(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true)

    // A viewer presses Real time on the channel's page: WHEP through the edge and the web, the media from the SFU service.
    const viewer = await browser.newPage()
    await viewer.goto(`${base}/c/${CHANNEL}`)
    await viewer.getByRole('button', {name: 'Real time'}).click({timeout: 60_000})
    await viewer.waitForFunction(() => (window as unknown as {shingPlayer: {realtimeState?: string}}).shingPlayer.realtimeState === 'connected', undefined, {timeout: 30_000}).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${await viewer.locator('#player-note').textContent()}`)
    })
    const frames = (): Promise<number> => viewer.evaluate(() => (document.getElementById('video') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames)
    const shown = await frames()
    await waitFor('frames in real time', async () => ((await frames()) >= shown + 30 ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    await screenshot(viewer, 'e2e-watch-realtime')
    await viewer.close()
    const anonymous = await encoder.evaluate(async (location) => (await fetch(location, {method: 'DELETE'})).status, published.location!)
    expect(anonymous).toBe(401) // the session's URL alone does not end it
    const deleted = await encoder.evaluate(async ({location, key}) => (await fetch(location, {method: 'DELETE', headers: {authorization: `Bearer ${key}`}})).status, {location: published.location!, key})
    expect(deleted).toBe(200)
    await waitFor('the channel offline', async () => ((await getJson<Playback>(`/api/streams/${CHANNEL}/playback`)).live ? undefined : true), {timeoutMs: 30_000, intervalMs: 1000})
    await encoder.close()
    // Recorded like any broadcast: a VOD with its own stream id.
    const whipVod = await waitFor('the WHIP broadcast\'s VOD', async () => (await getJson<{vods: VodListing[]}>(`/api/streams/${CHANNEL}/vods`)).vods.find((v) => v.streamId === whipLive.streamId), {timeoutMs: 90_000, intervalMs: 2000})
    expect(whipVod.durationSeconds).toBeGreaterThan(2)
    process.stdout.write(`browser-ingest e2e: ws=ok failover=${summary.failover} whip=ok whep=ok ${summary.figures} whip-live-after=${liveAfter.toFixed(1)}s whip-vod=${whipVod.durationSeconds.toFixed(0)}s\n`)
  }, 240_000)
})

describe('a call through the edge', () => {
  it('the streamer opens a room, a second account joins by its link: each sees and hears the other through the SFU service', async () => {
    if (browser === undefined || studioPage === undefined) throw new Error('the broadcast test did not sign the streamer up')
    const host = studioPage
    await host.goto(`${base}/calls`)
    await host.getByRole('button', {name: 'Open a room'}).click()
    await host.waitForURL(/\/calls\/[A-Za-z0-9_-]{22}$/)
    const link = await host.inputValue('#room-link')
    expect(link).toBe(host.url())

    const guestContext = await browser.browser.newContext({ignoreHTTPSErrors: true})
    try {
      const guest = await guestContext.newPage()
      await guest.goto(`${base}/signup`)
      await guest.getByLabel('Username').fill('guest')
      await guest.getByLabel('E-mail').fill('guest@example.test')
      await guest.getByLabel('Password').fill(PASSWORD)
      await guest.getByRole('button', {name: 'Sign up'}).click()
      await guest.waitForURL(/\/account/)
      await guest.goto(link)
      const since = performance.now()
      for (const page of [host, guest]) {
        await page.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 30_000})
        await page.getByRole('button', {name: 'Join the call'}).click()
      }
      const [hostSees] = await seesAndHears(host, ['guest'], 60_000)
      const [guestSees] = await seesAndHears(guest, ['streamer'], 60_000)
      const connected = (performance.now() - since) / 1000
      await screenshot(guest, 'e2e-call')
      const sfu = await guest.evaluate(() => (window as unknown as {shingCall: {sfu?: string}}).shingCall.sfu)
      expect(sfu).toMatch(/sfu/)
      await guest.getByRole('button', {name: 'Leave'}).click()
      await host.waitForFunction(() => document.querySelectorAll('#tiles li[data-peer]').length === 0, undefined, {timeout: 15_000})
      await host.getByRole('button', {name: 'Leave'}).click()
      process.stdout.write(
        `calls e2e: participants=2 connected=${connected.toFixed(1)}s video=${hostSees!.width}px/${guestSees!.width}px audio-rms=${hostSees!.audioRms.toFixed(2)}/${guestSees!.audioRms.toFixed(2)} sfu=${sfu}\n`,
      )
    } finally {
      await guestContext.close()
    }
  }, 180_000)
})
