/**
 * The workers (`npm run e2e:workers`): real Redis, FerretDB, MinIO and ffmpeg, a web, an ingest, a
 * relay and two workers as processes behind one front, Chromium. A live broadcast, then a clip of
 * its last 30 s (an MP4 ffprobe reads, playing in Chromium; one across a discontinuity split or
 * refused; deleting the VOD leaves the clip playable); thumbnails and previews; a downloadable MP4
 * remuxed while a worker is SIGKILLed (another finishes it, one result); encode jobs routed to a
 * GPU worker or falling back to CPU; housekeeping on a seeded bucket; the jobs dashboard.
 * Ends with `workers e2e: clip=<s>s plays=yes recovered-after-kill=yes orphans-removed=<n>`.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Queue, QueueEvents} from 'bullmq'

import {jobsSummarySchema} from '../../appliance/contract/index.js'
import {QUEUE_PREFIX} from '../../appliance/jobs/catalog.js'
import {runAdminOperation} from '../harness/appliance.js'
import {csrfToken, type FormClient, signUpThroughForm} from '../harness/http-client.js'
import {parseMediaPlaylist} from '../../appliance/vods/archive-playlists.js'
import {PHONE, screenshot, screenshotDesktopAndPhone} from '../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../harness/chromium.js'
import {childProcessNames, waitFor} from '../harness/process.js'
import {BUCKET, startLiveSite, type LiveSite} from '../harness/live-site.js'
import {bucketKeys, putObjectAt} from '../harness/bucket.js'
import type {HousekeepingResult} from '../../appliance/jobs/types.js'
import {HOUSEKEEPING_EVERY_MS, HOUSEKEEPING_SCHEDULER_ID} from '../../appliance/worker/job-runner.js'
import {publishTestStream, publishWhenThereIsRoom} from '../harness/rtmp.js'
import {execa} from 'execa'
import pino from 'pino'
import {CPU_FALLBACK_PRIORITY, JobQueues} from '../../appliance/jobs/queues.js'
import {liveWorkers} from '../../appliance/jobs/workers.js'
import {requireTool} from '../harness/tools.js'
import {seedVod} from '../harness/vod-archive.js'

let site: LiveSite
let chromium: RunningChromium
let front = ''
/** The e2e's last line. */
const figures = {clipSeconds: -1, plays: 'no', recoveredAfterKill: 'no', orphansRemoved: -1}

beforeAll(async () => {
  // A small ladder: the 2-core test box runs an ingest, two workers and Chromium at once.
  site = await startLiveSite({
    adjustProfile: (p) => ({...p, hls: {segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '240p', height: 240, fps: 15, videoKbps: 400, audioKbps: 64}]}),
  })
  front = site.frontUrl()
  await Promise.all(['web', 'ingest', 'relay', 'worker-a', 'worker-b'].map((id) => site.start(id, {SHING_PUBLIC_URL: front})))
  chromium = await launchChromium()
})

afterAll(async () => {
  process.stdout.write(
    `workers e2e: clip=${figures.clipSeconds.toFixed(1)}s plays=${figures.plays} recovered-after-kill=${figures.recoveredAfterKill} orphans-removed=${figures.orphansRemoved}\n`,
  )
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

// Each section below is its own describe; they share the site and run in order.

describe('clips', () => {
  // clips: section
  const channel = 'clip-show'
  const password = 'correct horse battery staple'
  let publisher: Awaited<ReturnType<typeof publishWhenThereIsRoom>> | undefined
  let owner: FormClient
  let page: Page
  let streamId = ''
  let liveClip = {id: '', mp4: ''}

  interface ClipStatus {status: 'pending' | 'ready' | 'failed'; reason?: string; notice?: string; durationSeconds?: number; mp4?: string}
  const clipStatus = async (id: string): Promise<ClipStatus> => (await site.web<ClipStatus>(`/api/clips/${id}`)).body
  /** The MP4's duration as ffprobe reads it, fetched through the front as a viewer's download. */
  const mp4Seconds = async (mp4: string): Promise<number> =>
    Number((await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', `${front}${mp4}`])).stdout.trim())
  /** Plays the clip page's video (muted) until its time has moved on. */
  const plays = async (clipId: string): Promise<boolean> => {
    await page.goto(`${front}/clip/${clipId}`)
    await page.locator('#clip-video').waitFor({state: 'visible', timeout: 15_000})
    await page.evaluate(() => {
      const video = document.getElementById('clip-video') as HTMLVideoElement
      video.muted = true
      void video.play()
    })
    await page.waitForFunction(() => (document.getElementById('clip-video') as HTMLVideoElement).currentTime > 2, undefined, {timeout: 30_000})
    return true
  }
  /** A screenshot on a desktop and one on a phone (nothing wider than the phone). */
  const look = async (name: string): Promise<void> => {
    expect(await screenshotDesktopAndPhone(page, name), `${name} on a phone`).toBeLessThanOrEqual(PHONE.width)
  }

  beforeAll(async () => {
    owner = await signUpThroughForm(front, 'clip-owner', {password, address: '198.51.100.120'})
    expect(await owner.submit('/dashboard', '/dashboard/channels', {name: channel, title: 'Clip night'})).toMatchObject({status: 303})
    await signUpThroughForm(front, 'clip-viewer', {password, address: '198.51.100.121'})
    page = await chromium.newPage()
    await page.goto(`${front}/login`)
    await page.getByLabel('Username or e-mail').fill('clip-viewer')
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL((url) => url.pathname !== '/login')
  })

  afterAll(async () => {
    await publisher?.stop().catch(() => undefined)
    await page?.close().catch(() => undefined)
  })

  it('a viewer presses Clip on the live channel for its last 30 s: ready within seconds, a 30 s MP4 (ffprobe), playing in Chromium', async () => {
    const key = await site.streamKey(channel)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15, timeoutMs: 90_000})
    streamId = await waitFor('the channel live', async () => {
      const {body} = await site.web<{live: boolean; streamId?: string}>(`/api/streams/${channel}/playback`)
      return body.live ? body.streamId : undefined
    }, {timeoutMs: 30_000, intervalMs: 250})
    // More than 30 s archived, so the clip is the last 30 s and not the whole broadcast.
    await waitFor('34 s archived', async () => {
      const text = await site.minio.getObject(BUCKET, `dvr/${channel}/${streamId}/240p/index.m3u8`).then(async (s) => Buffer.concat(await s.toArray()).toString(), () => '')
      return parseMediaPlaylist(text).durationSeconds >= 34 || undefined
    }, {timeoutMs: 90_000, intervalMs: 1000})

    await page.goto(`${front}/c/${channel}`)
    await page.waitForFunction(() => document.body.dataset.state === 'live', undefined, {timeout: 30_000})
    await page.getByText('Clip', {exact: true}).click()
    await page.getByLabel('Name').fill('The moment')
    expect(await page.getByLabel('The last').inputValue()).toBe('30')
    await look('workers-clip-button')
    const asked = Date.now()
    await page.getByRole('button', {name: 'Make the clip'}).click()
    await page.waitForURL(/\/clip\/[a-z0-9]{12}$/)
    const id = new URL(page.url()).pathname.split('/')[2]!
    const ready = await waitFor('the clip ready', async () => {
      const clip = await clipStatus(id)
      return clip.status === 'pending' ? undefined : clip
    }, {timeoutMs: 60_000, intervalMs: 100})
    figures.clipSeconds = (Date.now() - asked) / 1000
    expect(ready.status, ready.reason).toBe('ready')
    expect(figures.clipSeconds).toBeLessThan(10)
    expect(Math.abs((await mp4Seconds(ready.mp4!)) - 30)).toBeLessThanOrEqual(2)
    liveClip = {id, mp4: ready.mp4!}
    // The page that showed it being made shows it ready by itself.
    await page.locator('#clip-video').waitFor({state: 'attached', timeout: 15_000})
    figures.plays = (await plays(id)) ? 'yes' : 'no'
    await look('workers-clip-page')
  })

  it('a range of a VOD across an encoder restart keeps its longest uninterrupted part, and says so', async () => {
    // 20 s, then the ladder restarted: 30 s more (an EXT-X-DISCONTINUITY between them).
    const spec = {seconds: 20, width: 426, height: 240, fps: 15, videoKbps: 400, segmentSeconds: 2}
    const vod = await seedVod(site, {channel, archive: spec, restartedWith: {...spec, seconds: 30}, rendition: '240p'})
    await page.goto(`${front}/c/${channel}/vod/${vod.streamId}`)
    await page.getByText('Clip', {exact: true}).click()
    await page.getByLabel('Name').fill('Across the restart')
    // 30 s from 0:10: 10 s before the restart, 20 s after it.
    await page.getByLabel('Starts at').fill('0:10')
    await look('workers-clip-vod-form')
    await page.getByRole('button', {name: 'Make the clip'}).click()
    await page.waitForURL(/\/clip\/[a-z0-9]{12}$/)
    const id = new URL(page.url()).pathname.split('/')[2]!
    const clip = await waitFor('the clip made', async () => {
      const now = await clipStatus(id)
      return now.status === 'pending' ? undefined : now
    }, {timeoutMs: 60_000, intervalMs: 250})
    expect(clip.status, clip.reason).toBe('ready')
    expect(clip.notice).toMatch(/interrupted.*longest uninterrupted part, 20 s of the 30 s asked/)
    expect(clip.durationSeconds).toBeCloseTo(20, 0)
    expect(Math.abs((await mp4Seconds(clip.mp4!)) - 20)).toBeLessThanOrEqual(0.5)
    expect(await plays(id)).toBe(true)
    expect(await page.locator('.clip-page .notice').textContent()).toContain('longest uninterrupted part')
  })

  it('the VOD deleted by its owner, the clip still plays: its HLS form in Chromium, its MP4 in ffprobe', async () => {
    await publisher?.stop()
    publisher = undefined
    await waitFor('the VOD recorded', async () => {
      const {body} = await site.web<{vods: {streamId: string}[]}>(`/api/streams/${channel}/vods`)
      return body.vods.some((v) => v.streamId === streamId) || undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    const dashboard = await owner.get(`/dashboard/c/${channel}`)
    expect((await owner.post(`/dashboard/c/${channel}/vods/${streamId}/delete`, {_csrf: csrfToken(dashboard.text)})).status).toBe(303)
    await waitFor('the archive removed from the bucket', async () => site.minio.statObject(BUCKET, `dvr/${channel}/${streamId}/master.m3u8`).then(() => undefined, () => true), {timeoutMs: 60_000, intervalMs: 500})
    expect(await plays(liveClip.id)).toBe(true)
    expect(Math.abs((await mp4Seconds(liveClip.mp4)) - 30)).toBeLessThanOrEqual(2)
    expect(await page.locator('.clip-page').textContent()).toContain('No longer available')
  })
})

describe('thumbnails and previews', () => {
  // previews: section
  const channel = 'preview-show'
  let publisher: Awaited<ReturnType<typeof publishTestStream>> | undefined
  let streamId = ''
  let liveAt = 0

  afterAll(async () => {
    await publisher?.stop().catch(() => undefined)
  })

  it("the live channel's thumbnail loads on the front page in Chromium (desktop and phone)", async () => {
    const key = await site.streamKey(channel)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15, timeoutMs: 90_000})
    streamId = await waitFor('the channel live', async () => {
      const {body} = await site.web<{live: boolean; streamId?: string}>(`/api/streams/${channel}/playback`)
      return body.live ? body.streamId : undefined
    }, {timeoutMs: 30_000, intervalMs: 250})
    liveAt = Date.now()
    const page = await chromium.newPage()
    // The first thumbnail comes within the interval (30 s); until then the card shows a placeholder.
    let placeholderShot = false
    const loaded = await waitFor('the thumbnail loaded on the front page', async () => {
      await page.goto(front)
      if (!placeholderShot && (await page.locator('ul.channels.live .thumb.placeholder').count()) > 0) {
        placeholderShot = true
        await screenshot(page, 'workers-front-thumbnail-placeholder')
      }
      return page.evaluate(async (name) => {
        const card = [...document.querySelectorAll('ul.channels.live li')].find((li) => li.querySelector('a')?.textContent === name)
        const image = card?.querySelector('img.thumb') as HTMLImageElement | null | undefined
        if (!image) return undefined
        await image.decode().catch(() => undefined)
        return image.naturalWidth > 0 ? {src: image.getAttribute('src') ?? '', width: image.naturalWidth, height: image.naturalHeight} : undefined
      }, channel)
    }, {timeoutMs: 45_000, intervalMs: 2000})
    expect(loaded.src).toMatch(new RegExp(`^/media/thumbs/live/${channel}\\.jpg\\?v=[0-9a-z]+$`))
    expect([loaded.width, loaded.height]).toEqual([640, 360])
    await screenshot(page, 'workers-front-thumbnails')
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'workers-front-thumbnails-phone')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    // A search lists the live channel as a row with its thumbnail.
    await page.goto(`${front}/search?q=preview`)
    expect(await page.locator('ul.channels li img.thumb').evaluate((image: HTMLImageElement) => image.decode().then(() => image.naturalWidth))).toBe(640)
    await screenshot(page, 'workers-search-thumbnail-phone')
    await page.close()
  })

  it("the VOD page's scrub strip shows the moment's preview tile on hover, and seeks on a click, a key or a finger", async () => {
    // About 30 s of broadcast: six or seven tiles.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, liveAt + 30_000 - Date.now())))
    await publisher!.stop()
    publisher = undefined
    const poster = `/vod/${channel}/${streamId}/previews/poster.jpg`
    await waitFor('the past broadcast listed with its poster', async () => ((await site.web<string>(`/c/${channel}`)).body.includes(poster) ? true : undefined), {timeoutMs: 60_000, intervalMs: 1000})

    const page = await chromium.newPage()
    await page.goto(`${front}/c/${channel}/vod/${streamId}`)
    await page.locator('#scrub').waitFor({state: 'visible', timeout: 15_000})
    await waitFor('the VOD to play', async () => page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime > 1), {timeoutMs: 30_000, intervalMs: 500})
    const track = (await page.locator('#scrub-track').boundingBox())!
    await page.mouse.move(track.x + track.width * 0.6, track.y + track.height / 2)
    await page.locator('#scrub-preview').waitFor({state: 'visible'})
    type Shown = {url: string; x: number; y: number; time: number}
    const read = () =>
      page.evaluate(() => {
        const tile = document.getElementById('scrub-tile')!
        const scrub = (window as unknown as {shingScrub: {shown: Shown | null; cues: {end: number}[]}}).shingScrub
        return {image: getComputedStyle(tile).backgroundImage, width: tile.offsetWidth, height: tile.offsetHeight, label: document.getElementById('scrub-time')!.textContent, shown: scrub.shown, duration: scrub.cues.at(-1)!.end}
      })
    const hovered = await read()
    expect(hovered.image).toContain(`/vod/${channel}/${streamId}/previews/sprite-0.jpg`)
    expect([hovered.width, hovered.height]).toEqual([160, 90])
    expect(hovered.shown!.time / hovered.duration).toBeCloseTo(0.6, 1)
    // The tile is the one of that moment (5 s a tile, 10 a row) and the sheet has loaded.
    expect(hovered.shown!.x).toBe((Math.floor(hovered.shown!.time / 5) % 10) * 160)
    const sheet = await page.evaluate(async (url) => {
      const image = new Image()
      image.src = url
      await image.decode()
      return image.naturalWidth
    }, hovered.shown!.url)
    expect(sheet).toBeGreaterThan(hovered.shown!.x)
    await screenshot(page, 'workers-vod-scrub-preview')

    // A click seeks to the moment shown.
    await page.mouse.down()
    await page.mouse.up()
    await waitFor('the player at the moment clicked', async () => {
      const now = await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime)
      return Math.abs(now - hovered.shown!.time) < 3 ? true : undefined
    }, {timeoutMs: 10_000, intervalMs: 250})
    // The pointer gone, so is the tile (though the click left the strip focused).
    await page.mouse.move(0, 0)
    await page.locator('#scrub-preview').waitFor({state: 'hidden'})
    // The keyboard: the strip is a slider; an arrow steps a tile and shows it.
    await page.locator('#scrub-track').focus()
    const before = await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime)
    await page.keyboard.press('ArrowLeft')
    expect(await page.locator('#scrub-preview').isVisible()).toBe(true)
    const after = await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime)
    expect(before - after).toBeGreaterThan(3)
    expect(await page.locator('#scrub-track').getAttribute('aria-valuetext')).toMatch(/^\d+:\d\d of \d+:\d\d$/)
    // The front page's recent broadcasts and the channel's past ones show the poster.
    for (const [path, name] of [['/', 'workers-front-recent-posters'], [`/c/${channel}`, 'workers-channel-past-posters']] as const) {
      await page.goto(`${front}${path}`)
      const image = page.locator(`img.thumb[src="${poster}"]`).first()
      expect(await image.evaluate((i: HTMLImageElement) => i.decode().then(() => i.naturalWidth))).toBe(640)
      await image.scrollIntoViewIfNeeded()
      await screenshot(page, name)
    }
    await page.close()

    // A phone: a finger on the strip shows the tile while it is down.
    const phone = await chromium.browser.newContext({viewport: {width: 390, height: 844}, deviceScaleFactor: 2, isMobile: true, hasTouch: true})
    try {
      const touch = await phone.newPage()
      await touch.goto(`${front}/c/${channel}/vod/${streamId}`)
      await touch.locator('#scrub').waitFor({state: 'visible', timeout: 15_000})
      const strip = (await touch.locator('#scrub-track').boundingBox())!
      const cdp = await phone.newCDPSession(touch)
      const at = {x: strip.x + strip.width * 0.3, y: strip.y + strip.height / 2}
      await cdp.send('Input.dispatchTouchEvent', {type: 'touchStart', touchPoints: [at]})
      await cdp.send('Input.dispatchTouchEvent', {type: 'touchMove', touchPoints: [{...at, x: at.x + 20}]})
      await touch.locator('#scrub-preview').waitFor({state: 'visible'})
      expect(await touch.evaluate(() => getComputedStyle(document.getElementById('scrub-tile')!).backgroundImage)).toContain('sprite-0.jpg')
      await screenshot(touch, 'workers-vod-scrub-preview-phone')
      expect(await touch.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
      await cdp.send('Input.dispatchTouchEvent', {type: 'touchEnd', touchPoints: []})
      await touch.locator('#scrub-preview').waitFor({state: 'hidden'})
    } finally {
      await phone.close()
    }
  })
})

describe('downloadable VODs, a worker killed mid-job, GPU routing', () => {
  // vod processing: section
  const channel = 'vod-shelf'
  const vodDb = () => site.mongoClient.db('shing')
  let vodJobs: JobQueues

  beforeAll(async () => {
    await site.streamKey(channel)
    vodJobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
  })

  afterAll(async () => {
    await vodJobs?.close()
  })

  it("a worker SIGKILLed while it remuxes an hour's VOD: the other finishes the job, one MP4, one completed job", async () => {
    // An hour of tiny video (encoded once, cached): 1,800 segments, a remux of seconds.
    const vod = await seedVod(site, {channel, archive: {seconds: 3600, width: 160, height: 90, fps: 5, videoKbps: 50, segmentSeconds: 2}})
    const before = await bucketKeys(site.minio, 'shing-media', `${vod.prefix}/`)
    await vodJobs.enqueue('vod.mp4', {channel, streamId: vod.streamId})
    const making = new RegExp(`"streamId":"${vod.streamId}"[^\\n]*"msg":"making the VOD's MP4"`)
    const victim = await waitFor('a worker remuxing', async () => {
      const id = ['worker-a', 'worker-b'].find((w) => making.test(site.get(w).process.output()))
      return id !== undefined && (await childProcessNames(site.get(id).process.pid)).includes('ffmpeg') ? id : undefined
    }, {timeoutMs: 30_000, intervalMs: 20})
    const survivor = victim === 'worker-a' ? 'worker-b' : 'worker-a'
    const killedAt = Date.now()
    await site.get(victim).process.kill('SIGKILL')
    const queue = vodJobs.queue('vod.mp4')
    const jobId = `vod.mp4-${vod.streamId}`
    await waitFor('the survivor to finish the job', async () => ((await (await queue.getJob(jobId))?.getState()) === 'completed' ? true : undefined), {timeoutMs: 90_000, intervalMs: 500})
    console.log(`timing: ${survivor} finished the remux ${Date.now() - killedAt} ms after ${victim} was SIGKILLed`)
    expect(site.get(survivor).process.output()).toMatch(making)
    expect((await queue.getJobs(['completed'])).filter((j) => j.id === jobId)).toHaveLength(1)
    expect(await bucketKeys(site.minio, 'shing-media', `${vod.prefix}/`)).toEqual([...before, `${vod.prefix}/download.mp4`].sort())
    const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', `${front}/vod/${channel}/${vod.streamId}/download.mp4`])
    expect(Math.abs(Number.parseFloat(stdout) - vod.durationSeconds)).toBeLessThan(2)
    figures.recoveredAfterKill = 'yes'
    // Two workers again for the sections after this one.
    await site.start(victim, {SHING_PUBLIC_URL: front})
  }, 240_000)

  it('the Download MP4 button in Chromium: prepared, then the link gives the file (desktop and phone)', async () => {
    const vod = await seedVod(site, {channel, archive: {seconds: 12, width: 426, height: 240, fps: 15, videoKbps: 300, segmentSeconds: 2}})
    const context = await chromium.browser.newContext({acceptDownloads: true})
    try {
      const page = await context.newPage()
      await page.goto(`${front}/c/${channel}/vod/${vod.streamId}`)
      const button = page.getByRole('button', {name: 'Download MP4'})
      await button.click()
      const link = page.getByRole('link', {name: 'Download MP4'})
      await link.waitFor({timeout: 60_000})
      await screenshot(page, 'workers-vod-download-ready')
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
      expect(download.suggestedFilename()).toMatch(new RegExp(`^${channel}-\\d{4}-\\d{2}-\\d{2}-\\d{4}\\.mp4$`))
      const file = await download.path()
      const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file])
      expect(Math.abs(Number.parseFloat(stdout) - vod.durationSeconds)).toBeLessThan(2)
      await page.setViewportSize({width: 390, height: 844})
      await page.locator('#download').scrollIntoViewIfNeeded()
      await screenshot(page, 'workers-vod-download-ready-phone')
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
      // Another VOD, seen while it is being prepared.
      const other = await seedVod(site, {channel, archive: {seconds: 12, width: 426, height: 240, fps: 15, videoKbps: 300, segmentSeconds: 2}})
      await vodDb().collection('vods').updateOne({streamId: other.streamId}, {$set: {download: {state: 'preparing', requestedAt: new Date()}}})
      await page.goto(`${front}/c/${channel}/vod/${other.streamId}`)
      await page.getByText('Preparing the MP4').waitFor()
      await page.locator('#download').scrollIntoViewIfNeeded()
      await screenshot(page, 'workers-vod-download-preparing-phone')
    } finally {
      await context.close()
    }
  }, 120_000)

  it('a re-encode goes to a worker with a GPU capability while one is up, else to CPU at low priority', async () => {
    const target = {height: 144, videoKbps: 150, codec: 'h264'} as const
    const gpu = await site.start('worker-gpu', {SHING_PUBLIC_URL: front, SHING_WORKER_CAPABILITIES: 'general,video-gpu-nvenc'})
    try {
      await waitFor('the GPU worker to heartbeat', async () => ((await liveWorkers(site.client)).some((w) => w.id === 'worker-gpu') ? true : undefined))
      const onGpu = await seedVod(site, {channel, archive: {seconds: 12, width: 426, height: 240, fps: 15, videoKbps: 300, segmentSeconds: 2}})
      expect(await vodJobs.enqueue('vod.transcode', {channel, streamId: onGpu.streamId, ...target}, {gpu: 'prefer'})).toMatchObject({queue: 'vod.transcode@gpu'})
      const job = (await vodJobs.queue('vod.transcode@gpu').getJob(`vod.transcode-${onGpu.streamId}`))!
      await waitFor('the GPU worker to re-encode it', async () => ((await job.getState()) === 'completed' ? true : undefined), {timeoutMs: 90_000, intervalMs: 500})
      expect(gpu.process.output()).toContain(`"streamId":"${onGpu.streamId}","from":"240p","to":"144p-h264-150k"`)
      expect(await vodDb().collection('vods').findOne({streamId: onGpu.streamId})).toMatchObject({renditions: [{name: '144p-h264-150k'}]})
    } finally {
      await gpu.process.stop()
    }
    await waitFor('no GPU worker', async () => ((await liveWorkers(site.client)).some((w) => w.id === 'worker-gpu') ? undefined : true))
    const onCpu = await seedVod(site, {channel, archive: {seconds: 12, width: 426, height: 240, fps: 15, videoKbps: 300, segmentSeconds: 2}})
    expect(await vodJobs.enqueue('vod.transcode', {channel, streamId: onCpu.streamId, ...target}, {gpu: 'prefer'})).toMatchObject({queue: 'vod.transcode@cpu'})
    const job = (await vodJobs.queue('vod.transcode@cpu').getJob(`vod.transcode-${onCpu.streamId}`))!
    expect(job.opts.priority).toBe(CPU_FALLBACK_PRIORITY)
    await waitFor('a CPU worker to re-encode it', async () => ((await job.getState()) === 'completed' ? true : undefined), {timeoutMs: 90_000, intervalMs: 500})
    const master = await fetch(`${front}/vod/${channel}/${onCpu.streamId}/master.m3u8`).then((r) => r.text())
    expect(master).toContain('144p-h264-150k/index.m3u8')
    expect(master).not.toContain('240p/')
  }, 240_000)
})

describe('housekeeping', () => {
  // housekeeping: section
  const BUCKET = 'shing-media'
  const DAY = 24 * 3600 * 1000
  const ago = (ms: number): Date => new Date(Date.now() - ms)
  const expiredId = '20240101T120000Z-0e0e0e0e'
  const goneId = '20240202T120000Z-0f0f0f0f'
  const expiredArchive = ['master.m3u8', '240p/index.m3u8', '240p/init.mp4', '240p/seg0.m4s', '240p/seg1.m4s'].map((n) => `dvr/hk-old/${expiredId}/${n}`)
  /** Older than the grace, pointed at by nothing. */
  const orphans = [
    'thumbs/live/hk-gone.jpg',
    'clips/hkorphan0001/clip.mp4',
    'clips/hkorphan0001/poster.jpg',
    'channels/hk-gone/avatar-aaaaaaaaaaaaaaaa.webp',
    `dvr/hk-gone/${goneId}/master.m3u8`,
    `dvr/hk-gone/${goneId}/240p/seg0.m4s`,
  ].sort()
  const young = 'thumbs/live/hk-young.jpg'
  let queue: Queue
  let events: QueueEvents

  beforeAll(async () => {
    // The site keeps broadcasts for a year here: the workers start again with that retention.
    const retention = JSON.stringify({vodDays: 365, chatDays: 0, orphanGraceHours: 24})
    for (const id of ['worker-a', 'worker-b']) {
      await site.get(id).process.stop()
      await site.start(id, {SHING_PUBLIC_URL: front, SHING_RETENTION: retention})
    }
    // Housekeeping runs when this section asks (its schedule is back at the end).
    queue = new Queue('housekeeping', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX})
    events = new QueueEvents('housekeeping', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX})
    await events.waitUntilReady()
    await queue.removeJobScheduler(HOUSEKEEPING_SCHEDULER_ID)
    await queue.drain(true)
    await waitFor('no housekeeping to run', async () => ((await queue.getActiveCount()) === 0 ? true : undefined), {timeoutMs: 30_000, intervalMs: 200})

    // A VOD of a year and more ago, and objects nothing points at, older and younger than the grace.
    const db = site.mongoClient.db('shing')
    await db.collection('vods').insertOne({streamId: expiredId, channel: 'hk-old', segments: 2, durationSeconds: 4, renditions: [{name: '240p', segments: 2, durationSeconds: 4}], createdAt: ago(400 * DAY)})
    await db.collection('streams').insertOne({channel: 'hk-old', streamId: expiredId, ingestId: 'ingest-long-gone', startedAt: ago(400 * DAY), endedAt: ago(400 * DAY), live: false, renditions: []})
    for (const key of expiredArchive) await putObjectAt(site.minio, BUCKET, key, `${key}\n`, ago(400 * DAY))
    for (const key of orphans) await putObjectAt(site.minio, BUCKET, key, `${key}\n`, ago(2 * DAY))
    await putObjectAt(site.minio, BUCKET, young, 'young\n', new Date())
  }, 120_000)

  afterAll(async () => {
    await queue?.upsertJobScheduler(HOUSEKEEPING_SCHEDULER_ID, {every: HOUSEKEEPING_EVERY_MS}, {name: 'housekeeping', data: {}, opts: {removeOnComplete: 100, removeOnFail: 100}})
    await events?.close()
    await queue?.close()
  })

  const run = async (dryRun: boolean): Promise<HousekeepingResult> =>
    (await (await queue.add('housekeeping', {dryRun})).waitUntilFinished(events, 60_000)) as HousekeepingResult

  it('a dry run through the queue says what would go and removes nothing; a real run removes exactly that', async () => {
    const before = await bucketKeys(site.minio, BUCKET)
    const dry = await run(true)
    expect(dry.expiredVods).toMatchObject({count: 1, examples: [`hk-old/${expiredId}`]})
    expect([...dry.orphans.examples].sort()).toEqual(orphans)
    // (A broadcast may still be adding segments: nothing is gone, whatever came.)
    const afterDry = await bucketKeys(site.minio, BUCKET)
    expect(before.filter((k) => !afterDry.includes(k))).toEqual([])

    const done = await run(false)
    expect(done).toMatchObject({dryRun: false, expiredVods: {count: 1}, orphans: {swept: true, count: orphans.length}})
    // The expired VOD's archive leaves through vod.delete, which the run queued.
    await waitFor('the expired archive to leave', async () => ((await bucketKeys(site.minio, BUCKET, `dvr/hk-old/${expiredId}/`)).length === 0 ? true : undefined), {timeoutMs: 30_000, intervalMs: 250})
    const after = await bucketKeys(site.minio, BUCKET)
    expect(before.filter((k) => !after.includes(k)).sort()).toEqual([...orphans, ...expiredArchive].sort())
    expect(after).toContain(young)
    expect(await site.mongoClient.db('shing').collection('vods').countDocuments({streamId: expiredId})).toBe(0)
    figures.orphansRemoved = done.orphans.count
  })
})

describe('the jobs dashboard and shing jobs', () => {
  // jobs: section
  const adminEnv = (): NodeJS.ProcessEnv => ({...site.env, SHING_COMPONENT: 'web', SHING_PUBLIC_URL: front})

  it('jobs.summary (shing jobs) lists both workers with their capabilities, and a job that cannot run with its error', async () => {
    // A job put straight on a queue with data that does not fit (as a hand-made one might): it fails at once, no retries.
    const queue = new Queue('vod.delete', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX})
    await queue.add('vod.delete', {channel: 42}, {jobId: 'misfit', attempts: 5})
    const summary = await waitFor('the misfit to fail', async () => {
      const run = await runAdminOperation('jobs.summary', {failedLimit: 10}, adminEnv())
      if (!run.reply.ok) throw new Error(run.reply.error.message)
      const result = jobsSummarySchema.parse(run.reply.result)
      return result.failed.some((f) => f.id === 'misfit') ? result : undefined
    }, {timeoutMs: 20_000, intervalMs: 500})
    expect(summary.workers.map((w) => w.id).sort()).toEqual(expect.arrayContaining(['worker-a', 'worker-b']))
    for (const w of summary.workers) expect(w.capabilities).toEqual(expect.arrayContaining(['general', 'video-cpu']))
    expect(summary.failed.find((f) => f.id === 'misfit')).toMatchObject({queue: 'vod.delete', attemptsMade: 1, failedReason: expect.stringMatching(/does not fit vod\.delete/)})
    await queue.close()
  })

  it('an admin sees the queues on /admin/jobs; others are refused, and a change from another site is refused', async () => {
    const created = await runAdminOperation('user.create', {username: 'jobs-admin', email: 'jobs-admin@example.test', role: 'admin'}, adminEnv())
    if (!created.reply.ok) throw new Error(created.reply.error.message)
    const {password} = created.reply.result as {password: string}
    const context = await chromium.browser.newContext()
    try {
      const page = await context.newPage()
      await page.goto(`${front}/login`)
      await page.getByLabel('Username or e-mail').fill('jobs-admin')
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', {name: 'Log in'}).click()
      await page.waitForURL((url) => !url.pathname.startsWith('/login'))
      await page.goto(`${front}/admin/nodes`)
      await page.getByRole('link', {name: 'Jobs'}).click()
      await page.waitForURL(`${front}/admin/jobs`)
      await page.getByText('vod.delete').first().waitFor({timeout: 20_000})
      expect(await page.getByText('clip.create').count()).toBeGreaterThan(0)
      await page.getByText('Loading...').waitFor({state: 'detached', timeout: 20_000})
      await screenshot(page, 'jobs-dashboard')
      // The failed job, with its error, on the queue's page.
      await page.goto(`${front}/admin/jobs/queue/vod.delete?status=failed`)
      await page.getByText(/does not fit vod\.delete/).first().waitFor({timeout: 20_000})
      await screenshot(page, 'jobs-dashboard-failed')
      // Its own page may change things (the browser says the request is same-origin): retry the failed ones.
      const retried = await page.evaluate(async () => (await fetch('/admin/jobs/api/queues/vod.delete/retry/failed', {method: 'PUT'})).status)
      expect(retried).toBeLessThan(300)
      await waitFor('the misfit to fail again', async () => {
        const run = await runAdminOperation('jobs.summary', {failedLimit: 10}, adminEnv())
        return run.reply.ok && jobsSummarySchema.parse(run.reply.result).failed.find((f) => f.id === 'misfit')?.attemptsMade === 2 ? true : undefined
      }, {timeoutMs: 20_000, intervalMs: 500})
      // Its API refuses a change sent from another site, even with the admin's cookie.
      const cookies = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ')
      const forged = await fetch(`${front}/admin/jobs/api/queues/vod.delete/retry/failed`, {method: 'PUT', headers: {cookie: cookies, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site'}})
      expect(forged.status).toBe(403)
      const anonymous = await fetch(`${front}/admin/jobs`, {redirect: 'manual'})
      expect(anonymous.status).toBe(303)
    } finally {
      await context.close()
    }
  })

  it('jobs.retry runs a failed job again and jobs.remove drops it', async () => {
    const retried = await runAdminOperation('jobs.retry', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(retried.reply).toEqual({ok: true, result: {retried: [{queue: 'vod.delete', id: 'misfit'}]}})
    await waitFor('the retried misfit to fail again', async () => {
      const run = await runAdminOperation('jobs.summary', {failedLimit: 10}, adminEnv())
      return run.reply.ok && jobsSummarySchema.parse(run.reply.result).failed.some((f) => f.id === 'misfit') ? true : undefined
    }, {timeoutMs: 20_000, intervalMs: 500})
    const removed = await runAdminOperation('jobs.remove', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(removed.reply).toEqual({ok: true, result: {queue: 'vod.delete', id: 'misfit', state: 'failed'}})
    const unknown = await runAdminOperation('jobs.remove', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(unknown.reply).toMatchObject({ok: false, error: {kind: 'abort', message: 'no job misfit in vod.delete'}})
  })
})

