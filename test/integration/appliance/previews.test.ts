/**
 * Thumbnails and previews with real parts: Redis, FerretDB, MinIO, ffmpeg; a web, an ingest and a
 * worker as processes; a real RTMP publish. While the channel is live its thumbnail appears in S3
 * and on the front page within the interval (media.thumbnails.liveEverySeconds), and is replaced
 * by a newer one; after the broadcast the VOD has a poster and sprite sheets whose WebVTT cues
 * cover its duration and point inside their sheets, shown on the front page, the channel page and
 * the VOD page; the job run again leaves the same result, and a VOD deleted while the job runs
 * leaves nothing of its archive behind. An audio-only broadcast shows the audio
 * poster on its card and gets neither a thumbnail nor previews.
 */
import {Redis} from 'ioredis'
import pino from 'pino'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE, type Playback} from '../../../appliance/contract/index.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import {TILE_SIZE} from '../../../appliance/vods/previews.js'
import type {VodDoc} from '../../../appliance/vods/vods.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishTestStream} from '../../harness/rtmp.js'

const CHANNEL = 'thumbs'
const THUMBNAIL_KEY = `thumbs/live/${CHANNEL}.jpg`
/** The shortest interval the settings allow. */
const INTERVAL_SECONDS = 30

let site: LiveSite
let publisher: ManagedProcess | undefined
let jobs: JobQueues | undefined
let streamId: string

const text = async (path: string): Promise<{status: number; body: string; type: string | null}> => {
  const response = await fetch(`${site.frontUrl()}${path}`, {signal: AbortSignal.timeout(10_000)})
  return {status: response.status, body: await response.text(), type: response.headers.get('content-type')}
}
const bytes = async (path: string): Promise<{status: number; body: Buffer; type: string | null}> => {
  const response = await fetch(`${site.frontUrl()}${path}`, {signal: AbortSignal.timeout(10_000)})
  return {status: response.status, body: Buffer.from(await response.arrayBuffer()), type: response.headers.get('content-type')}
}
const s3Object = async (key: string): Promise<{etag: string; body: Buffer} | undefined> => {
  try {
    const stat = await site.minio.statObject(BUCKET, key)
    const chunks: Buffer[] = []
    for await (const chunk of await site.minio.getObject(BUCKET, key)) chunks.push(chunk as Buffer)
    return {etag: stat.etag, body: Buffer.concat(chunks)}
  } catch {
    return undefined
  }
}
/** The front page's thumbnail URL for the channel, if it shows one. */
const frontThumbnail = async (): Promise<string | undefined> => {
  const {body} = await text('/')
  return new RegExp(`<img class="thumb" src="(/media/thumbs/live/${CHANNEL}\\.jpg\\?v=[0-9a-z]+)"`).exec(body)?.[1]
}

/** The site's queues, as a component enqueues (made on first use). */
const queues = (): JobQueues => {
  jobs ??= new JobQueues({host: '127.0.0.1', port: site.redis.port, password: String((site.client as Redis).options.password)}, site.client, pino({level: 'silent'}))
  return jobs
}

/** WebVTT cues of a previews map. */
function cues(vtt: string): {start: number; end: number; sheet: string; x: number; y: number; w: number; h: number}[] {
  const seconds = (t: string): number => t.split(':').reduce((sum, part) => sum * 60 + Number(part), 0)
  return [...vtt.matchAll(/^(\S+) --> (\S+)\n(\S+?)#xywh=(\d+),(\d+),(\d+),(\d+)$/gm)].map((m) => ({
    start: seconds(m[1]!),
    end: seconds(m[2]!),
    sheet: m[3]!,
    x: Number(m[4]),
    y: Number(m[5]),
    w: Number(m[6]),
    h: Number(m[7]),
  }))
}

beforeAll(async () => {
  // Two renditions: the poster and thumbnail from 360p, the tiles from 240p.
  site = await startLiveSite({
    adjustProfile: (p) => ({
      ...p,
      hls: {segmentSeconds: 2, partSeconds: 0.5},
      ladder: [
        {name: '360p', height: 360, fps: 15, videoKbps: 500, audioKbps: 64},
        {name: '240p', height: 240, fps: 15, videoKbps: 300, audioKbps: 64},
      ],
    }),
  })
  const media = {SHING_MEDIA: JSON.stringify({thumbnails: {liveEverySeconds: INTERVAL_SECONDS}})}
  await Promise.all(['web', 'ingest', 'worker'].map((id) => site.start(id, media)))
})

afterAll(async () => {
  await publisher?.stop().catch(() => undefined)
  await jobs?.close()
  await site?.stop()
})

describe('a live channel', () => {
  it(`gets a thumbnail in S3 and on the front page within ${INTERVAL_SECONDS} s of going live, served as a 640×360 JPEG`, async () => {
    const key = await site.streamKey(CHANNEL)
    publisher = await publishTestStream({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15})
    const live = await waitFor('the channel live', async () => {
      const {body} = await site.web<Playback>(`/api/streams/${CHANNEL}/playback`)
      return body.live ? body : undefined
    }, {timeoutMs: 30_000, intervalMs: 250})
    streamId = live.streamId!
    const wentLive = Date.now()
    // Until the first thumbnail, the card has a placeholder.
    const card = await waitFor('the front page to list the channel live', async () => {
      const {body} = await text('/')
      return new RegExp(`<li><a href="/c/${CHANNEL}">${CHANNEL}</a>.*?</li>`).exec(body)?.[0]
    }, {timeoutMs: 10_000, intervalMs: 250})
    if (!card.includes('/media/thumbs/live/')) expect(card).toContain('<span class="thumb placeholder" aria-hidden="true"></span>')

    const stored = await waitFor('the thumbnail in S3', () => s3Object(THUMBNAIL_KEY), {timeoutMs: INTERVAL_SECONDS * 1000, intervalMs: 500})
    const url = await waitFor('the thumbnail on the front page', frontThumbnail, {timeoutMs: 10_000, intervalMs: 500})
    const seconds = (Date.now() - wentLive) / 1000
    process.stdout.write(`previews: first live thumbnail on the front page ${seconds.toFixed(1)} s after going live\n`)
    expect(seconds).toBeLessThan(INTERVAL_SECONDS)

    const served = await bytes(url)
    expect(served.status).toBe(200)
    expect(served.type).toBe('image/jpeg')
    const meta = await sharp(served.body).metadata()
    expect({format: meta.format, width: meta.width, height: meta.height}).toEqual({format: 'jpeg', width: 640, height: 360})
    // The front page's URL serves what S3 holds (the newest, which may already be newer than the one read).
    const now = await s3Object(THUMBNAIL_KEY)
    expect([stored.body.length, now?.body.length]).toContain(served.body.length)
  })

  it('has it replaced by a newer one once the interval is over (a thumbnail is never older than the interval and one sweep), under a new URL', async () => {
    const before = (await s3Object(THUMBNAIL_KEY))!
    const url = (await frontThumbnail())!
    const started = Date.now()
    // The thumbnail is never older than the interval and one sweep (5 s), plus the job itself.
    const newer = await waitFor('a newer thumbnail', async () => {
      const now = await s3Object(THUMBNAIL_KEY)
      const shown = await frontThumbnail()
      return now !== undefined && now.etag !== before.etag && shown !== undefined && shown !== url ? {now, shown} : undefined
    }, {timeoutMs: (INTERVAL_SECONDS + 15) * 1000, intervalMs: 1000})
    process.stdout.write(`previews: the thumbnail replaced ${((Date.now() - started) / 1000).toFixed(1)} s later\n`)
    // testsrc2 moves and counts: a later frame is another picture.
    expect(newer.now.body.equals(before.body)).toBe(false)
    expect((await bytes(newer.shown)).status).toBe(200)
  })

  it('a thumbnail URL of a name that is no channel, or not a JPEG name, is a 404', async () => {
    expect((await text('/media/thumbs/live/Not%20a%20channel.jpg')).status).toBe(404)
    expect((await text(`/media/thumbs/live/${CHANNEL}.png`)).status).toBe(404)
    expect((await text('/media/thumbs/live/nobody.jpg')).status).toBe(404)
  })
})

describe('after the broadcast', () => {
  let vod: VodDoc

  it('the VOD gets a poster and sprite sheets whose WebVTT cues cover its duration and point inside their sheets', async () => {
    await publisher!.stop()
    publisher = undefined
    const vods = site.mongoClient.db(MONGO_DATABASE).collection<VodDoc>('vods')
    vod = await waitFor('the VOD with its previews', async () => {
      const doc = await vods.findOne({streamId})
      return doc?.previews === undefined ? undefined : doc
    }, {timeoutMs: 60_000, intervalMs: 500})
    expect(vod.previews).toMatchObject({sheets: 1, tileSeconds: 5})
    const base = `/vod/${CHANNEL}/${streamId}/previews`

    const poster = await bytes(`${base}/poster.jpg`)
    expect(poster.type).toBe('image/jpeg')
    const posterMeta = await sharp(poster.body).metadata()
    expect([posterMeta.width, posterMeta.height]).toEqual([640, 360])

    const map = await text(`${base}/previews.vtt`)
    expect(map.status).toBe(200)
    expect(map.type).toMatch(/^text\/vtt/)
    expect(map.body.startsWith('WEBVTT')).toBe(true)
    const read = cues(map.body)
    expect(read).toHaveLength(vod.previews!.tiles)
    expect(read[0]!.start).toBe(0)
    // The tiles' rendition ran as long as the VOD (to the millisecond the map is written in).
    expect(Math.abs(read.at(-1)!.end - vod.durationSeconds)).toBeLessThan(0.01)
    for (const [i, cue] of read.entries()) if (i > 0) expect(cue.start).toBe(read[i - 1]!.end)

    const sheets = new Map<string, {width: number; height: number}>()
    for (const name of new Set(read.map((c) => c.sheet))) {
      const sheet = await bytes(`${base}/${name}`)
      expect(sheet.type).toBe('image/jpeg')
      const meta = await sharp(sheet.body).metadata()
      sheets.set(name, {width: meta.width, height: meta.height})
    }
    expect(sheets.size).toBe(vod.previews!.sheets)
    for (const cue of read) {
      const size = sheets.get(cue.sheet)!
      expect([cue.w, cue.h]).toEqual([TILE_SIZE.width, TILE_SIZE.height])
      expect(cue.x + cue.w).toBeLessThanOrEqual(size.width)
      expect(cue.y + cue.h).toBeLessThanOrEqual(size.height)
    }
    // Every tile of the sheet is used: the sheet is no larger than its tiles.
    const [only] = sheets.values()
    expect(only!.width * only!.height).toBe(Math.min(10, read.length) * Math.ceil(read.length / 10) * TILE_SIZE.width * TILE_SIZE.height)
    process.stdout.write(`previews: ${vod.durationSeconds.toFixed(1)} s VOD → ${read.length} tiles of ${vod.previews!.tileSeconds} s on ${sheets.size} sheet(s) ${only!.width}×${only!.height}\n`)
  })

  it('the front page, the channel page, the VOD API and the VOD page give the poster; the VOD page has the scrub strip', async () => {
    const poster = `/vod/${CHANNEL}/${streamId}/previews/poster.jpg`
    const front = await waitFor('the front page to list the broadcast with its poster', async () => {
      const {body} = await text('/')
      return body.includes(poster) ? body : undefined
    }, {timeoutMs: 10_000, intervalMs: 500})
    expect(front).toContain(`<img class="thumb" src="${poster}"`)
    const channel = await waitFor('the channel page to list it with its poster', async () => {
      const {body} = await text(`/c/${CHANNEL}`)
      return body.includes(poster) ? body : undefined
    }, {timeoutMs: 10_000, intervalMs: 500})
    expect(channel).toMatch(/<section class="past"[^]*<img class="thumb" src="\/vod\/thumbs\/[^"]+\/previews\/poster\.jpg"/)
    const {body: api} = await site.web<{vods: {streamId: string; poster?: string; previews?: string}[]}>(`/api/streams/${CHANNEL}/vods`)
    expect(api.vods.find((v) => v.streamId === streamId)).toMatchObject({poster, previews: `/vod/${CHANNEL}/${streamId}/previews/previews.vtt`})
    const page = (await text(`/c/${CHANNEL}/vod/${streamId}`)).body
    expect(page).toContain(`poster="${poster}"`)
    expect(page).toContain(`data-previews="/vod/${CHANNEL}/${streamId}/previews/previews.vtt"`)
    expect(page).toMatch(/<script src="\/assets\/scrub\.js\?v=[0-9a-f]+" defer><\/script>/)
    // Names outside the previews are not served from there.
    expect((await text(`/vod/${CHANNEL}/${streamId}/previews/sprite-x.jpg`)).status).toBe(404)
    expect((await text(`/vod/${CHANNEL}/${streamId}/previews/other.txt`)).status).toBe(404)
  })

  it('the job run again leaves the same previews: the same objects, one record', async () => {
    const jobs = queues()
    const listed = async (): Promise<string[]> => {
      const names: string[] = []
      for await (const item of site.minio.listObjectsV2(BUCKET, `dvr/${CHANNEL}/${streamId}/previews/`, true)) names.push(`${(item as {name: string}).name}:${(item as {etag: string}).etag}`)
      return names.sort()
    }
    const before = await listed()
    const again = await jobs.run('vod.previews', {channel: CHANNEL, streamId}, 60_000, {jobId: `vod.previews-${streamId}-again`})
    expect(again).toMatchObject({status: 'done', sheets: vod.previews!.sheets, tiles: vod.previews!.tiles})
    expect((await listed()).map((n) => n.split(':')[0])).toEqual(before.map((n) => n.split(':')[0]))
    const docs = await site.mongoClient.db(MONGO_DATABASE).collection<VodDoc>('vods').find({streamId}).toArray()
    expect(docs).toHaveLength(1)
    expect(docs[0]!.previews).toMatchObject({sheets: vod.previews!.sheets, tiles: vod.previews!.tiles, tileSeconds: vod.previews!.tileSeconds})
  })

  it('a VOD deleted while its previews are made leaves nothing of its archive in storage', async () => {
    const jobs = queues()
    const archived = async (): Promise<string[]> => {
      const names: string[] = []
      for await (const item of site.minio.listObjectsV2(BUCKET, `dvr/${CHANNEL}/${streamId}/`, true)) names.push((item as {name: string}).name)
      return names
    }
    expect(await archived()).not.toHaveLength(0)
    const {queue, jobId} = await jobs.enqueue('vod.previews', {channel: CHANNEL, streamId}, {jobId: `vod.previews-${streamId}-deleted`})
    const job = async () => jobs.queue(queue).getJob(jobId)
    await waitFor('the previews job to run', async () => ((await (await job())?.getState()) === 'active' ? true : undefined), {timeoutMs: 30_000, intervalMs: 20})
    // As the web deletes a broadcast: the document first, then the archive's removal.
    await site.mongoClient.db(MONGO_DATABASE).collection<VodDoc>('vods').deleteOne({streamId})
    expect(await jobs.run('vod.delete', {channel: CHANNEL, streamId}, 60_000)).toMatchObject({status: 'done'})
    const state = await waitFor('the previews job to end', async () => {
      const s = await (await job())?.getState()
      return s === 'completed' || s === 'failed' ? s : undefined
    }, {timeoutMs: 60_000, intervalMs: 250})
    // Not a failure to retry: the job says the VOD went while it ran (or before it looked).
    expect(state).toBe('completed')
    expect((await job())?.returnvalue).toMatchObject({status: 'skipped'})
    await waitFor('nothing of the archive left', async () => ((await archived()).length === 0 ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
  })

  it('once offline, the channel is no longer on the front page with a thumbnail', async () => {
    await waitFor('the front page without the live thumbnail', async () => ((await frontThumbnail()) === undefined ? true : undefined), {timeoutMs: 15_000, intervalMs: 500})
  })
})

describe('an audio-only broadcast', () => {
  it('shows the audio poster on its card, gets no thumbnail, and its VOD no previews (the job says why)', async () => {
    const radio = 'radio-thumbs'
    const key = await site.streamKey(radio)
    publisher = await publishTestStream({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, video: false})
    const live = await waitFor('the radio live', async () => {
      const {body} = await site.web<Playback>(`/api/streams/${radio}/playback`)
      return body.live ? body : undefined
    }, {timeoutMs: 30_000, intervalMs: 250})
    const card = await waitFor('the radio on the front page', async () => new RegExp(`<li><a href="/c/${radio}">${radio}</a>.*?</li>`).exec((await text('/')).body)?.[0], {timeoutMs: 10_000, intervalMs: 250})
    expect(card).toMatch(/<img class="thumb" src="\/assets\/audio-poster\.svg\?v=[0-9a-f]+"/)
    // A few sweeps go by: none asks for a picture of it.
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    await publisher.stop()
    publisher = undefined
    expect(await s3Object(`thumbs/live/${radio}.jpg`)).toBeUndefined()
    const job = await waitFor('its vod.previews job done', async () => {
      const found = await queues().queue('vod.previews').getJob(`vod.previews-${live.streamId!}`)
      return found !== undefined && (await found.isCompleted()) ? found : undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    expect(job.returnvalue).toEqual({status: 'skipped', reason: 'an audio-only broadcast has no picture'})
    const vod = await site.mongoClient.db(MONGO_DATABASE).collection<VodDoc>('vods').findOne({streamId: live.streamId!})
    expect(vod).not.toBeNull()
    expect(vod!.previews).toBeUndefined()
  })
})
