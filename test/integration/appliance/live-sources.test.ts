/**
 * Sources that are not "H.264 + AAC with both tracks", through the real ingest, relay, web and
 * worker: an audio-only publish goes live as audio renditions, plays in Chromium under a poster
 * and leaves a VOD; a video-only one still works; a codec the ladder cannot take is refused
 * before it shows live, with a reason the encoder prints; settings that hurt are named once.
 */
import {execa} from 'execa'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Playback} from '../../../appliance/contract/index.js'
import type {VodListing} from '../../../appliance/vods/vods.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {HarnessError, waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishTestStream, type PublishOptions} from '../../harness/rtmp.js'
import {requireTool} from '../../harness/tools.js'

let site: LiveSite
let chromium: RunningChromium | undefined
const publishers: ManagedProcess[] = []
const keys: Record<string, string> = {}
const CHANNELS = ['radio', 'silent', 'oldcodec', 'settings'] as const

async function ffprobe(url: string): Promise<Array<{codec_type: string; codec_name: string; height?: number}>> {
  const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,height', '-of', 'json', url], {timeout: 60_000})
  return (JSON.parse(stdout) as {streams: Array<{codec_type: string; codec_name: string; height?: number}>}).streams
}

const rtmp = (channel: string): string => `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${keys[channel]}`

async function publish(channel: string, options: Omit<PublishOptions, 'url'> = {}): Promise<ManagedProcess> {
  const publisher = await publishTestStream({url: rtmp(channel), size: '640x360', ...options})
  publishers.push(publisher)
  return publisher
}

const playback = async (channel: string): Promise<Playback> => (await site.web<Playback>(`/api/streams/${channel}/playback`)).body
const waitLive = (channel: string): Promise<Playback> =>
  waitFor(`${channel} live`, async () => {
    const p = await playback(channel)
    return p.live ? p : undefined
  }, {timeoutMs: 20_000, intervalMs: 250})

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all(['web', 'worker', 'ingest', 'relay'].map((id) => site.start(id)))
  for (const channel of CHANNELS) keys[channel] = await site.streamKey(channel)
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await Promise.allSettled(publishers.map((p) => p.stop()))
  await site?.stop()
})

describe('sources the ladder takes', () => {
  let page: Page

  it('audio only (a radio): live as audio renditions, played in Chromium under a poster, archived as a VOD the page links to', async () => {
    const publisher = await publish('radio', {video: false})
    const live = await waitLive('radio')
    expect(live.audioOnly).toBe(true)
    const streams = await waitFor('every audio rendition through the front', async () => {
      const s = await ffprobe(`${site.frontUrl()}/live/radio/master.m3u8`).catch(() => [])
      return s.length >= 3 ? s : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000})
    expect(streams.every((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true)

    chromium = await launchChromium()
    page = await chromium.newPage()
    await page.goto(`${site.frontUrl()}/c/radio`)
    const played = await waitFor('the audio to play 6 s', async () => {
      const s = await page.evaluate(() => {
        const video = document.getElementById('video') as HTMLVideoElement
        const w = window as unknown as {shingPlayer: {state: string; audioOnly?: boolean}}
        return {state: w.shingPlayer.state, audioOnly: w.shingPlayer.audioOnly, time: video.currentTime, poster: video.poster}
      })
      return s.time >= 6 ? s : undefined
    }, {timeoutMs: 40_000, intervalMs: 500})
    expect(played).toMatchObject({state: 'live', audioOnly: true, poster: expect.stringMatching(/\/assets\/audio-poster\.svg\?v=[0-9a-f]+$/)})
    const poster = await fetch(`${site.frontUrl()}/assets/audio-poster.svg`)
    expect(poster.headers.get('content-type')).toMatch(/^image\/svg\+xml/)

    await publisher.stop()
    const vod = await waitFor('the VOD recorded by the worker', async () => {
      const {body} = await site.web<{vods: VodListing[]}>('/api/streams/radio/vods')
      return body.vods[0]
    }, {timeoutMs: 30_000, intervalMs: 500})
    const archived = await ffprobe(`${site.frontUrl()}${vod.url}`)
    expect(archived.length).toBeGreaterThan(0)
    expect(archived.every((s) => s.codec_type === 'audio')).toBe(true)
    // The page went offline by itself and offers the broadcast that just ended.
    const lastVod = await waitFor('the offline page to link the VOD', async () =>
      page.evaluate(() => (window as unknown as {shingPlayer: {state: string; lastVod?: string}}).shingPlayer.lastVod), {timeoutMs: 30_000, intervalMs: 500})
    expect(lastVod).toBe(`/c/radio/vod/${vod.streamId}`)
    await page.click('#last-link')
    await waitFor('the VOD page to play', async () => page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime > 1), {timeoutMs: 30_000, intervalMs: 500})
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('vod')
  })

  it('video only: live with every video rendition, no audio', async () => {
    const publisher = await publish('silent', {audio: false})
    const live = await waitLive('silent')
    expect(live.audioOnly).toBe(false)
    const streams = await waitFor('the video renditions', async () => {
      const s = await ffprobe(`${site.frontUrl()}/live/silent/master.m3u8`).catch(() => [])
      return s.length >= 3 ? s : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000})
    expect(streams.map((s) => s.codec_type)).toEqual(['video', 'video', 'video'])
    // The encoder reconnects at once (OBS does after a blip): taken while the last broadcast winds down.
    await publisher.stop()
    const again = await publish('silent', {audio: false})
    const next = await waitFor('the reconnect live as a new broadcast', async () => {
      const p = await playback('silent')
      return p.live && p.streamId !== live.streamId ? p : undefined
    }, {timeoutMs: 20_000, intervalMs: 250})
    expect(next.streamId).not.toBe(live.streamId)
    await again.stop()
  })
})

describe('sources it cannot take, and settings that hurt', () => {
  it('a video codec the ladder does not decode is refused before it shows live, with a reason the encoder prints', async () => {
    const before = await site.metric('ingest', 'shing_ingest_publish_refused_total', {reason: 'unsupported'})
    let everLive = false
    const watching = setInterval(() => {
      void playback('oldcodec').then((p) => (everLive ||= p.live), () => undefined)
    }, 200)
    let output: string
    try {
      const publisher = await publish('oldcodec', {video: {codec: 'flv1'}})
      const exit = await Promise.race([publisher.exited, new Promise<undefined>((r) => setTimeout(r, 15_000))])
      expect(exit, publisher.output()).toBeDefined()
      output = publisher.output()
    } catch (error) {
      if (!(error instanceof HarnessError)) throw error
      output = error.message
    } finally {
      clearInterval(watching)
    }
    expect(output).toMatch(/Server error: Video in Sorenson H\.263 \(FLV1\) is not supported: set the encoder to H\.264/)
    expect(everLive).toBe(false)
    expect(await site.metric('ingest', 'shing_ingest_publish_refused_total', {reason: 'unsupported'})).toBe(before + 1)
    expect(site.get('ingest').process.output()).toMatch(/"reason":"unsupported".*"fix":"video codec Sorenson H\.263 \(FLV1\)/)
  })

  it('60 fps, a 10 s keyframe interval and B-frames: live, and named once in the log with what to change in OBS', async () => {
    const publisher = await publish('settings', {fps: 60, video: {gopSeconds: 10, bFrames: 3, kbps: 1500}})
    const live = await waitLive('settings')
    const line = await waitFor('the settings warning', async () => {
      return site.get('ingest').process.output().split('\n').find((l) => l.includes("the encoder's settings hurt the live ladder"))
    }, {timeoutMs: 40_000, intervalMs: 1000})
    expect(line).toContain("set OBS's Keyframe Interval to 2 s")
    expect(line).toContain('B-frames')
    expect(line).toContain("60 fps into a 30 fps ladder")
    const doc = await site.mongoClient.db('shing').collection('streams').findOne({streamId: live.streamId})
    expect(doc?.sourceWarnings).toHaveLength(3)
    await publisher.stop()
    const lines = site.get('ingest').process.output().split('\n').filter((l) => l.includes("the encoder's settings hurt the live ladder"))
    expect(lines).toHaveLength(1)
  })
})
