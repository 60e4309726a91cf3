/**
 * Bad days and small things a visitor notices, through the real components: unknown channels and
 * paths get a 404 that echoes nothing; a VOD answers byte ranges; during a Redis outage a relay
 * that had not served a live channel yet serves it from the last sweep, the web answers with the
 * last known state, and a web that knows nothing answers 503 and logs why.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Playback} from '../../../appliance/contract/index.js'
import type {VodListing} from '../../../appliance/vods/vods.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishWhenThereIsRoom} from '../../harness/rtmp.js'

let site: LiveSite
const publishers: ManagedProcess[] = []
let key = ''

const playback = async (channel: string, web = 'web'): Promise<{status: number; body: Playback & {error?: string}}> => {
  const response = await fetch(`http://127.0.0.1:${site.get(web).httpPort}/api/streams/${channel}/playback`, {signal: AbortSignal.timeout(10_000)})
  return {status: response.status, body: (await response.json()) as Playback & {error?: string}}
}

async function publishSteady(): Promise<ManagedProcess> {
  // The worker may still encode the last broadcast's VOD: the ingest measures no room for a while, and OBS tries again.
  const publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 30})
  publishers.push(publisher)
  await waitFor('steady live', async () => ((await playback('steady')).body.live ? true : undefined), {timeoutMs: 20_000, intervalMs: 250})
  return publisher
}

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all(['web', 'worker', 'ingest', 'relay-a', 'relay-b'].map((id) => site.start(id)))
  key = await site.streamKey('steady')
})

afterAll(async () => {
  await Promise.allSettled(publishers.map((p) => p.stop()))
  await site?.stop()
})

describe('what a visitor meets', () => {
  it('an unknown channel is a 404 (page and API); a known one that is offline is a page', async () => {
    const page = await site.web<string>('/c/nobody-here')
    expect(page.status).toBe(404)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(page.body).toContain('There is no channel by that name.')
    expect((await site.web('/api/streams/nobody-here/playback')).status).toBe(404)
    const known = await site.web<string>('/c/steady')
    expect(known.status).toBe(200)
    expect(known.body).toContain('steady is offline')
  })

  it('an unknown path: a styled page, or JSON under /api; a 10 kB path is not echoed back', async () => {
    const page = await site.web<string>('/no/such/thing')
    expect(page.status).toBe(404)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(page.body).toMatch(/<title>Not found · /)
    expect(page.body).toContain('<a href="/">Go to the front page</a>')
    const api = await site.web<{error: string}>('/api/nope')
    expect(api).toMatchObject({status: 404, body: {error: 'not found'}})
    const long = `/x${'y'.repeat(10_000)}`
    for (const [port, status] of [[site.get('web').httpPort, 404], [site.get('relay-a').httpPort, 414], [site.get('ingest').httpPort, 404]] as const) {
      const response = await fetch(`http://127.0.0.1:${port}${long}`)
      const text = await response.text()
      // The relay's nginx refuses a request line over 8 kB outright (414 URI Too Long).
      expect(response.status).toBe(status)
      expect(text).not.toContain('yyyyyyyyyy')
      expect(text.length).toBeLessThan(2000)
    }
  })

  it('a VOD segment answers byte ranges: 206 with its Content-Range, 416 past the end, 200 without a Range', async () => {
    const publisher = await publishSteady()
    await new Promise((resolve) => setTimeout(resolve, 6000))
    await publisher.stop()
    const vod = await waitFor('the VOD', async () => (await site.web<{vods: VodListing[]}>('/api/streams/steady/vods')).body.vods[0], {timeoutMs: 30_000, intervalMs: 500})
    const base = `http://127.0.0.1:${site.get('web').httpPort}${vod.url.replace(/master\.m3u8$/, '')}`
    const playlist = await (await fetch(`${base}360p/index.m3u8`)).text()
    const segment = playlist.split('\n').find((l) => l.endsWith('.m4s'))
    expect(segment).toBeDefined()
    const whole = await fetch(`${base}360p/${segment}`)
    expect(whole.status).toBe(200)
    expect(whole.headers.get('accept-ranges')).toBe('bytes')
    const bytes = Buffer.from(await whole.arrayBuffer())
    const part = await fetch(`${base}360p/${segment}`, {headers: {range: 'bytes=100-199'}})
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`)
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true)
    const suffix = await fetch(`${base}360p/${segment}`, {headers: {range: 'bytes=-10'}})
    expect(suffix.status).toBe(206)
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(-10))).toBe(true)
    const past = await fetch(`${base}360p/${segment}`, {headers: {range: `bytes=${bytes.length + 10}-`}})
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe(`bytes */${bytes.length}`)
  })
})

describe('a Redis outage', () => {
  it('a relay that had not served the channel serves it from the last sweep; the web answers the last known state', async () => {
    await publishSteady()
    // Viewers so far only on relay-a; relay-b has swept the live channels (every 2 s) but served none.
    const first = await fetch(`http://127.0.0.1:${site.get('relay-a').httpPort}/live/steady/master.m3u8`)
    expect(first.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(await site.metric('relay-b', 'shing_relay_responses_total')).toBe(0)

    site.client.disconnect()
    await site.redis.stop()
    const master = await waitFor('relay-b to serve the master playlist', async () => {
      const r = await fetch(`http://127.0.0.1:${site.get('relay-b').httpPort}/live/steady/master.m3u8`)
      return r.status === 200 ? r.text() : undefined
    }, {timeoutMs: 10_000, intervalMs: 500})
    const rendition = master.split('\n').find((l) => l.endsWith('index.m3u8'))
    const media = await fetch(`http://127.0.0.1:${site.get('relay-b').httpPort}/live/steady/${rendition}`)
    expect(media.status).toBe(200)
    expect(await media.text()).toMatch(/#EXT-X-PART:/)

    const stale = await playback('steady')
    expect(stale.status).toBe(200)
    expect(stale.body).toMatchObject({live: true, stale: true})

    // A web started now never swept: it knows nothing, says so with a 503, and logs why.
    await site.start('web-late')
  })

  it('a web that knows nothing answers 503 with the reason and logs the cause', async () => {
    const late = site.get('web-late')
    const answer = await playback('steady', 'web-late')
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatch(/the live registry \(Redis\) is unavailable: retry in a moment/)
    const logged = await waitFor('the 503 in its log', async () =>
      late.process.output().split('\n').find((l) => l.includes('503: the live registry (Redis) is unavailable')), {timeoutMs: 5000})
    expect(logged).toMatch(/"err":"[^"]+"/)
  })
})
