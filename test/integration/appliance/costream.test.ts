/**
 * Co-streaming with the real web (behind the front), ingest, SFU (mediasoup's worker), relay,
 * worker, Redis, FerretDB, MinIO and ffmpeg, and Chromium: a streamer opens the studio from the
 * dashboard, joins it and goes live in the 4-tile layout; two guests join from the room's link.
 * Each page sends a camera of its own colour (red, green, blue: a canvas in place of the fake
 * camera) and Chromium's fake microphone. The channel plays through the relay in every rendition, and a frame grabbed
 * from it has the three colours where the three tiles are; a guest leaves, the broadcast goes on
 * (the same stream) and her tile goes dark; the host changes the layout; ending the broadcast
 * leaves a VOD. A hostile request to the ingest's studio endpoint and another's studio are refused.
 */
import {execa} from 'execa'
import type {BrowserContext, Page} from 'playwright-core'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {COSTREAM_PATH, costreamLiveKey, registryKey, registryRecordSchema, type Playback} from '../../../appliance/contract/index.js'
import type {VodListing} from '../../../appliance/vods/vods.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {webrtcRange} from '../../harness/appliance.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'
import {requireTool} from '../../harness/tools.js'
import {recordSummary} from '../../harness/summary.js'

let site: LiveSite
let chromium: RunningChromium
const PASSWORD = 'correct horse battery staple'
const CHANNEL = 'studio-show'
const contexts: BrowserContext[] = []
const pages = new Map<string, Page>()
/** Each participant's camera colour (RGB). */
const CAMERAS = {host: {rgb: [230, 30, 30]}, gus: {rgb: [30, 200, 30]}, gia: {rgb: [30, 30, 230]}} as const
type Who = keyof typeof CAMERAS
let room = ''
let costreamed = false

const playback = async (): Promise<Playback> => (await site.web<Playback>(`/api/streams/${CHANNEL}/playback`)).body

/** A camera of one colour (with a small moving square, so that frames keep coming) in place of the fake one. */
function cameraScript(rgb: readonly number[]): string {
  return `(() => {
  const colour = 'rgb(${rgb.join(',')})'
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices)
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    // The microphone stays Chromium's fake one (it beeps); the camera is a canvas of one colour.
    const stream = constraints && constraints.audio ? await original({audio: constraints.audio}) : new MediaStream()
    if (constraints && constraints.video) {
      const canvas = document.createElement('canvas')
      canvas.width = 320
      canvas.height = 180
      const g = canvas.getContext('2d')
      let x = 0
      const draw = () => { g.fillStyle = colour; g.fillRect(0, 0, 320, 180); g.fillStyle = '#fff'; g.fillRect(x, 166, 12, 12); x = (x + 6) % 300 }
      draw()
      setInterval(draw, 66)
      stream.addTrack(canvas.captureStream(15).getVideoTracks()[0])
    }
    return stream
  }
})()`
}

let hostClient: FormClient

async function openAs(who: Who): Promise<Page> {
  const name = who === 'host' ? 'studio-host' : who
  const user = await signUpThroughForm(`http://127.0.0.1:${site.get('web').httpPort}`, name, {password: PASSWORD, address: `198.51.100.${180 + contexts.length}`})
  const context = await chromium.browser.newContext({viewport: {width: 1280, height: 900}})
  contexts.push(context)
  await context.addCookies([{name: 'shing_session', value: user.cookie('shing_session')!, url: site.frontUrl()}])
  if (who === 'host') hostClient = user
  await context.addInitScript(cameraScript(CAMERAS[who].rgb))
  const page = await context.newPage()
  page.on('pageerror', (e) => console.log(`${who} page error: ${e.message}`))
  pages.set(who, page)
  return page
}

async function join(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 20_000})
  await page.click('#join')
  await page.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'in-call', undefined, {timeout: 30_000})
}

/** The top rendition's URL at the relay (through the front), from the master playlist. */
async function topRendition(): Promise<string> {
  const live = await playback()
  if (!live.live) throw new Error('the channel is not live')
  const master = await (await fetch(`${site.frontUrl()}${live.url}`)).text()
  const variant = master.split('\n').find((line) => line !== '' && !line.startsWith('#'))
  if (variant === undefined) throw new Error(`no rendition in the master playlist:\n${master}`)
  return new URL(variant, `${site.frontUrl()}${live.url}`).toString()
}

/** A frame of the live broadcast, scaled to 160×90, as RGB. */
async function grabFrame(): Promise<Buffer> {
  const {stdout} = await execa(requireTool('ffmpeg'), ['-v', 'error', '-live_start_index', '-2', '-i', await topRendition(), '-frames:v', '1', '-vf', 'scale=160:90', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    encoding: 'buffer',
    timeout: 60_000,
  })
  return Buffer.from(stdout)
}

/** The loudest moment (dB) of a few seconds of the broadcast's sound (silence is about -91). */
async function loudness(): Promise<number> {
  const {stderr} = await execa(requireTool('ffmpeg'), ['-hide_banner', '-nostats', '-live_start_index', '-3', '-i', await topRendition(), '-t', '4', '-vn', '-af', 'volumedetect', '-f', 'null', '-'], {timeout: 60_000})
  const max = /max_volume: (-?[\d.]+) dB/.exec(stderr)
  if (max === null) throw new Error(`no volume measured: ${stderr.slice(-300)}`)
  return Number(max[1])
}

/** The average colour of a tile's middle (4-tile layout: 0 top left, 1 top right, 2 bottom left, 3 bottom right) in a 160×90 frame. */
function tileColour(frame: Buffer, tile: number): number[] {
  const [cx, cy] = [(tile % 2) * 80 + 40, Math.floor(tile / 2) * 45 + 18]
  const sum = [0, 0, 0]
  let n = 0
  for (let y = cy - 8; y < cy + 8; y++) {
    for (let x = cx - 16; x < cx + 16; x++) {
      const i = (y * 160 + x) * 3
      for (let c = 0; c < 3; c++) sum[c]! += frame[i + c]!
      n++
    }
  }
  return sum.map((v) => Math.round(v / n))
}
/** The ingest reports a free slot (a box busy starting the site and Chromium takes no broadcast). */
async function ingestHasRoom(): Promise<void> {
  await waitFor('the ingest to report a free slot', async () => {
    const raw = await site.client.get(registryKey('ingest', 'ingest'))
    return raw !== null && (registryRecordSchema.parse(JSON.parse(raw)).load.slotsFree ?? 0) > 0 ? true : undefined
  }, {timeoutMs: 60_000, intervalMs: 1000})
}

const near = (colour: number[], rgb: readonly number[]): boolean => colour.every((v, i) => Math.abs(v - rgb[i]!) < 50)
const DARK = [17, 24, 39]

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all([site.start('web'), site.start('relay'), site.start('ingest'), site.start('worker'), site.start('sfu-a', await webrtcRange(40, {turn: true}))])
  chromium = await launchChromium({fakeMedia: true})
  for (const who of Object.keys(CAMERAS) as Who[]) await openAs(who)
  expect(await hostClient.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Three friends talk'})).toMatchObject({status: 303})
  await pages.get('host')!.goto(`${site.frontUrl()}/dashboard/c/${CHANNEL}`)
}, 300_000)

afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  for (const id of ['web', 'ingest', 'sfu-a']) {
    const lines = site.get(id).process.output().split('\n').filter((line) => /costream|studio|call|error/i.test(line))
    console.log(`--- ${id}\n${lines.slice(-40).join('\n')}`)
  }
})

afterAll(async () => {
  await recordSummary({costream: costreamed ? 'ok' : 'failed'})
  for (const context of contexts) await context.close().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('co-streaming', () => {
  it('the dashboard opens the studio: the call with the broadcast controls and the link for guests', async () => {
    const host = pages.get('host')!
    await host.click('#studio-link')
    await host.waitForURL(`**/dashboard/c/${CHANNEL}/studio`)
    await host.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 20_000})
    expect(await host.locator('#studio-status').textContent()).toContain('Off the air')
    room = (await host.inputValue('#room-link')).split('/').pop()!
    expect(room).toMatch(/^[A-Za-z0-9_-]{22}$/)
    // Keyboard: the layout radios and Go live are reachable and labelled.
    await expect.poll(() => host.getByRole('radio', {name: 'Up to four, in a grid'}).count()).toBe(1)
    expect(await screenshotDesktopAndPhone(host, 'studio-lobby')).toBeLessThanOrEqual(PHONE.width)
  })

  it('going live with nobody in the studio is refused, saying to join first', async () => {
    const host = pages.get('host')!
    await ingestHasRoom()
    await host.getByRole('radio', {name: 'Up to four, in a grid'}).check()
    await host.click('#studio-live')
    await host.waitForFunction(() => document.getElementById('studio-problem')?.hidden === false, undefined, {timeout: 20_000})
    expect(await host.locator('#studio-problem').textContent()).toContain('join it first')
    expect((await playback()).live).toBe(false)
  })

  let streamId = ''
  let liveSince = 0

  it('the host joins and goes live; two guests join from the link; the channel plays through the relay with the three cameras in their tiles', async () => {
    const host = pages.get('host')!
    await join(host)
    // As a streamer would: Go live again while the server says it has no room now (the box is
    // busy with three Chromium pages in a call); any other refusal fails the test.
    await waitFor('the studio on the air', async () => {
      if ((await host.locator('#studio').getAttribute('data-live')) === 'true') return true
      await ingestHasRoom()
      await host.click('#studio-live')
      await host.waitForFunction(() => document.getElementById('studio')?.dataset.live === 'true' || document.getElementById('studio-problem')?.hidden === false, undefined, {timeout: 60_000})
      if ((await host.locator('#studio').getAttribute('data-live')) === 'true') return true
      const problem = (await host.locator('#studio-problem').textContent()) ?? ''
      if (!problem.includes('no room for another broadcast now')) throw new Error(`refused: ${problem}`)
      return undefined
    }, {timeoutMs: 90_000, intervalMs: 2000})
    expect(await host.locator('#studio-status').textContent()).toContain('On the air')
    for (const who of ['gus', 'gia'] as const) {
      const guest = pages.get(who)!
      await guest.goto(`${site.frontUrl()}/calls/${room}`)
      expect(await guest.locator('#studio-guest').textContent()).toContain(`studio of ${CHANNEL}`)
      await join(guest)
    }
    const live = await waitFor('the channel live', async () => {
      const p = await playback()
      return p.live ? p : undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    streamId = live.streamId ?? ''
    liveSince = Date.now()
    // Every rendition at the relay: H.264 and AAC.
    const streams = await waitFor('its renditions at the relay', async () => {
      const probed = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,height', '-of', 'json', `${site.frontUrl()}${live.url}`], {timeout: 60_000, reject: false})
      const found = probed.exitCode === 0 ? (JSON.parse(probed.stdout) as {streams: Array<{codec_type: string; codec_name: string}>}).streams : []
      return found.some((s) => s.codec_type === 'video') ? found : undefined
    }, {timeoutMs: 60_000, intervalMs: 2000})
    expect(streams.some((s) => s.codec_type === 'video' && s.codec_name === 'h264')).toBe(true)
    expect(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true)
    // The picture: red (the host) top left, green (gus) top right, blue (gia) bottom left, nobody bottom right.
    const colours = await waitFor('the three cameras in their tiles', async () => {
      const frame = await grabFrame().catch(() => undefined)
      if (frame === undefined) return undefined
      const found = [0, 1, 2, 3].map((tile) => tileColour(frame, tile))
      return near(found[0]!, CAMERAS.host.rgb) && near(found[1]!, CAMERAS.gus.rgb) && near(found[2]!, CAMERAS.gia.rgb) && near(found[3]!, DARK) ? found : undefined
    }, {timeoutMs: 90_000, intervalMs: 3000})
    console.log(`costream: tiles ${colours.map((c) => `rgb(${c.join(',')})`).join(' ')}`)
    // The mixed sound: the fake microphones beep.
    const loudest = await waitFor('the broadcast to be heard', async () => {
      const db = await loudness().catch(() => -100)
      return db > -35 ? db : undefined
    }, {timeoutMs: 30_000, intervalMs: 2000})
    console.log(`costream: the broadcast's sound peaks at ${loudest} dB`)
    // The guests' pages say they are on the air.
    await pages.get('gia')!.waitForFunction(() => document.getElementById('studio-on-air')?.hidden === false, undefined, {timeout: 20_000})
    const status = await waitFor('the studio status naming the three', async () => {
      const text = (await host.locator('#studio-status').textContent()) ?? ''
      return text.includes('gus') && text.includes('gia') ? text : undefined
    }, {timeoutMs: 20_000, intervalMs: 1000})
    expect(status).toContain('studio-host')
    await host.locator('#studio').scrollIntoViewIfNeeded()
    expect(await screenshotDesktopAndPhone(host, 'studio-live')).toBeLessThanOrEqual(PHONE.width)
    expect(await screenshotDesktopAndPhone(pages.get('gia')!, 'studio-guest')).toBeLessThanOrEqual(PHONE.width)
  }, 240_000)

  it('a guest leaves: the broadcast goes on (the same stream) and her tile goes dark; another turns his camera off and on', async () => {
    const gia = pages.get('gia')!
    await gia.click('#leave')
    await waitFor('her tile dark, the others still there', async () => {
      const frame = await grabFrame().catch(() => undefined)
      if (frame === undefined) return undefined
      return near(tileColour(frame, 0), CAMERAS.host.rgb) && near(tileColour(frame, 1), CAMERAS.gus.rgb) && near(tileColour(frame, 2), DARK) ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 3000})
    const now = await playback()
    expect(now.live).toBe(true)
    expect(now.streamId).toBe(streamId)
    expect(site.get('ingest').process.output()).toContain('costream: compositor (re)built')
    // gus turns his camera off: his tile goes dark (a paused camera would hold the picture); on again, he is back.
    const gus = pages.get('gus')!
    const gusTile = async (rgb: readonly number[]): Promise<void> => {
      await waitFor(`gus's tile rgb(${rgb.join(',')})`, async () => {
        const frame = await grabFrame().catch(() => undefined)
        return frame !== undefined && near(tileColour(frame, 0), CAMERAS.host.rgb) && near(tileColour(frame, 1), rgb) ? true : undefined
      }, {timeoutMs: 60_000, intervalMs: 3000})
    }
    await gus.click('#camera')
    await gusTile(DARK)
    await gus.click('#camera')
    await gusTile(CAMERAS.gus.rgb)
    expect((await playback()).streamId).toBe(streamId)
  }, 180_000)

  it('the host switches to one tile: only the host is on the air', async () => {
    const host = pages.get('host')!
    await host.getByRole('radio', {name: 'Just you'}).check()
    await host.click('#studio-layout')
    await waitFor('the host filling the picture', async () => {
      const frame = await grabFrame().catch(() => undefined)
      if (frame === undefined) return undefined
      return [0, 1, 2, 3].every((tile) => near(tileColour(frame, tile), CAMERAS.host.rgb)) ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 3000})
    expect((await playback()).streamId).toBe(streamId)
  }, 120_000)

  it('refuses what it must: the ingest\'s studio endpoint without the token, another account\'s studio, a form without its CSRF token', async () => {
    const raw = await site.client.get(registryKey('ingest', 'ingest'))
    const ingest = registryRecordSchema.parse(JSON.parse(raw!))
    const forged = await fetch(`http://127.0.0.1:${ingest.ports.http}${COSTREAM_PATH}/${CHANNEL}`, {method: 'DELETE', headers: {authorization: 'Bearer nope'}})
    expect(forged.status).toBe(401)
    const gus = pages.get('gus')!
    const other = await gus.goto(`${site.frontUrl()}/dashboard/c/${CHANNEL}/studio`)
    expect(other?.status()).toBe(404)
    const csrf = await gus.context().request.post(`${site.frontUrl()}/dashboard/c/${CHANNEL}/studio/stop`, {form: {layout: '1'}, maxRedirects: 0})
    expect(csrf.status()).toBe(403)
    expect((await playback()).live).toBe(true)
  })

  it('End broadcast: the channel goes offline and the broadcast is kept as a VOD', async () => {
    const host = pages.get('host')!
    await host.click('#studio-stop')
    await host.waitForFunction(() => document.getElementById('studio')?.dataset.live === 'false', undefined, {timeout: 30_000})
    expect(await host.locator('#studio-status').textContent()).toContain('the last broadcast ended: the host ended it')
    const onAir = (Date.now() - liveSince) / 1000
    await waitFor('offline', async () => ((await playback()).live ? undefined : true), {timeoutMs: 30_000, intervalMs: 500})
    expect(await site.client.get(costreamLiveKey(CHANNEL))).toBeNull()
    const vod = await waitFor('the VOD of the studio broadcast', async () => {
      const {body} = await site.web<{vods: VodListing[]}>(`/api/streams/${CHANNEL}/vods`)
      return body.vods.find((v) => v.streamId === streamId)
    }, {timeoutMs: 120_000, intervalMs: 2000})
    // As long as it was on the air: each new compositor's timestamps were joined to the last one's (no jumps, no gaps).
    console.log(`costream: on the air ${onAir.toFixed(1)} s, VOD ${vod.durationSeconds} s`)
    expect(vod.durationSeconds).toBeGreaterThan(onAir * 0.7)
    expect(vod.durationSeconds).toBeLessThan(onAir + 15)
    // The host is still in the call, with the guest.
    expect(await host.evaluate(() => (window as unknown as {shingCall: {phase: string}}).shingCall.phase)).toBe('in-call')
    // How each change went on the air (make before break): after how long.
    const switches = site.get('ingest').process.output().split('\n').filter((line) => line.includes('costream: a compositor is on the air'))
    console.log(`costream: compositors on the air after ${switches.map((line) => (JSON.parse(line) as {afterMs: number}).afterMs).join('/')} ms`)
    costreamed = true
  }, 180_000)
})
