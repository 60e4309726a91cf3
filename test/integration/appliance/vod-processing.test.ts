/**
 * VOD processing with real Redis, FerretDB, MinIO, ffmpeg and worker processes: the downloadable
 * MP4 (vod.mp4) of a seeded archive, asked for through the VOD page's form and served with its
 * file name and byte ranges; one of a broadcast whose ladder restarted; a worker SIGKILLed in the
 * middle of the remux (the other finishes it, one result); and the optional re-encode
 * (vod.transcode) routed by a fake GPU capability: to `@gpu` and run there while a GPU worker is
 * up, to `@cpu` at low priority without one, waiting in `@gpu` with gpu=require until one starts;
 * the archive switched only to a rendition that plays, a clip's segments kept.
 */
import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE} from '../../../appliance/contract/index.js'
import {CPU_FALLBACK_PRIORITY, JobQueues} from '../../../appliance/jobs/queues.js'
import {liveWorkers} from '../../../appliance/jobs/workers.js'
import {parseMasterPlaylist, parseMediaPlaylist} from '../../../appliance/vods/archive-playlists.js'
import {bucketKeys} from '../../harness/bucket.js'
import {csrfToken, FormClient} from '../../harness/http-client.js'
import {startLiveSite, BUCKET, type LiveSite} from '../../harness/live-site.js'
import {childProcessNames, waitFor} from '../../harness/process.js'
import {requireTool} from '../../harness/tools.js'
import {seedVod, type ArchiveSpec, type SeededVod} from '../../harness/vod-archive.js'
import pino from 'pino'

let site: LiveSite
let jobs: JobQueues
const ffprobe = requireTool('ffprobe')
const CHANNEL = 'vodproc'
const short: ArchiveSpec = {seconds: 20, width: 426, height: 240, fps: 15, videoKbps: 300, segmentSeconds: 2}
/** Long enough that the remux runs for seconds (1,800 segments to fetch). */
const hour: ArchiveSpec = {seconds: 3600, width: 160, height: 90, fps: 5, videoKbps: 50, segmentSeconds: 2}
const reencode = (gpu: 'prefer' | 'require') => JSON.stringify({reencode: {enabled: true, height: 144, videoKbps: 150, codec: 'h264', gpu}})

const db = () => site.mongoClient.db(MONGO_DATABASE)
const vodDoc = (streamId: string) => db().collection('vods').findOne({streamId})
const objectNames = (prefix: string): Promise<string[]> => bucketKeys(site.minio, BUCKET, prefix)
async function probeDuration(url: string): Promise<number> {
  const {stdout} = await execa(ffprobe, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', url])
  return Number.parseFloat(stdout)
}
const webUrl = (path: string) => `http://127.0.0.1:${site.get('web').httpPort}${path}`
/** A worker's log line saying it started making this VOD's MP4. */
const makingMp4 = (streamId: string) => new RegExp(`"streamId":"${streamId}"[^\\n]*"msg":"making the VOD's MP4"`)

beforeAll(async () => {
  site = await startLiveSite({adjustProfile: (p) => ({...p, hls: {segmentSeconds: 2, partSeconds: 0.5}})})
  await site.streamKey(CHANNEL)
  await Promise.all([site.start('web'), site.start('worker-a', {SHING_MEDIA: reencode('prefer')})])
  jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
}, 180_000)

afterAll(async () => {
  await jobs?.close()
  await site?.stop()
})

describe('the downloadable MP4 (vod.mp4)', () => {
  let vod: SeededVod

  it('is asked for on the VOD page, made once, and served with its file name and byte ranges', async () => {
    vod = await seedVod(site, {channel: CHANNEL, archive: short})
    const before = await objectNames(`${vod.prefix}/`)
    const viewer = new FormClient(webUrl(''))
    const page = await viewer.get(`/c/${CHANNEL}/vod/${vod.streamId}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain('Download MP4')
    const asked = await viewer.post(`/c/${CHANNEL}/vod/${vod.streamId}/download`, {_csrf: csrfToken(page.text)})
    expect(asked.status).toBe(303)
    expect(asked.location).toBe(`/c/${CHANNEL}/vod/${vod.streamId}#download`)
    expect((await viewer.get(`/c/${CHANNEL}/vod/${vod.streamId}`)).text).toMatch(/Preparing the MP4|id="download-link"/)

    const ready = await waitFor(
      'the MP4',
      async () => {
        const state = await site.web<{state: string; url?: string; bytes?: number}>(`/api/streams/${CHANNEL}/vods/${vod.streamId}/download`)
        return state.body.state === 'ready' ? state.body : undefined
      },
      {timeoutMs: 60_000, intervalMs: 250},
    )
    expect(ready.url).toBe(`/vod/${CHANNEL}/${vod.streamId}/download.mp4`)
    expect((await viewer.get(`/c/${CHANNEL}/vod/${vod.streamId}`)).text).toContain(`href="${ready.url}"`)

    // What a downloader gets: the whole file with its name, or the range it asks for.
    const whole = await fetch(webUrl(ready.url!))
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-type')).toBe('video/mp4')
    expect(whole.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="${CHANNEL}-\\d{4}-\\d{2}-\\d{2}-\\d{4}\\.mp4"$`))
    expect(Number(whole.headers.get('content-length'))).toBe(ready.bytes)
    await whole.arrayBuffer()
    const part = await fetch(webUrl(ready.url!), {headers: {range: 'bytes=0-99'}})
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${ready.bytes}`)
    expect(Buffer.from(await part.arrayBuffer()).toString('latin1', 4, 8)).toBe('ftyp')
    // A resumed download of an MP4 that was made again since (another ETag) gets the whole new file.
    const resumed = await fetch(webUrl(ready.url!), {headers: {range: 'bytes=100-', 'if-range': '"not-this-one"'}})
    expect(resumed.status).toBe(200)
    await resumed.arrayBuffer()
    // A browser revalidating the same MP4 (no-cache) is told it has it.
    const revalidated = await fetch(webUrl(ready.url!), {headers: {'if-none-match': whole.headers.get('etag') ?? ''}})
    expect(revalidated.status).toBe(304)

    // ffprobe reads it through the web, with the VOD's duration.
    expect(Math.abs((await probeDuration(webUrl(ready.url!))) - vod.durationSeconds)).toBeLessThan(short.segmentSeconds)
    expect(await objectNames(`${vod.prefix}/`)).toEqual([...before, `${vod.prefix}/download.mp4`].sort())
    expect(await vodDoc(vod.streamId)).toMatchObject({download: {state: 'ready', rendition: '240p', bytes: ready.bytes}})
  })

  it('run again, leaves one object: finds its MP4, or makes it again into the same key', async () => {
    const before = await objectNames(`${vod.prefix}/`)
    const queue = jobs.queue('vod.mp4')
    await (await queue.getJob(`vod.mp4-${vod.streamId}`))?.remove()
    const again = await jobs.run('vod.mp4', {channel: CHANNEL, streamId: vod.streamId}, 60_000)
    expect(again).toMatchObject({status: 'done', reused: true})
    // As if the last run died after its upload, before it recorded the MP4.
    await db().collection('vods').updateOne({streamId: vod.streamId}, {$unset: {download: ''}})
    await (await queue.getJob(`vod.mp4-${vod.streamId}`))?.remove()
    const remade = await jobs.run('vod.mp4', {channel: CHANNEL, streamId: vod.streamId}, 60_000)
    expect(remade).toMatchObject({status: 'done', reused: false, runs: 1})
    expect(await objectNames(`${vod.prefix}/`)).toEqual(before)
  })

  it('of a broadcast whose ladder restarted: the two runs one after the other, not glued at their timestamps', async () => {
    const restarted = await seedVod(site, {channel: CHANNEL, archive: {...short, seconds: 10}, restartedWith: {...short, seconds: 8}})
    const result = await jobs.run('vod.mp4', {channel: CHANNEL, streamId: restarted.streamId}, 60_000)
    expect(result).toMatchObject({status: 'done', runs: 2})
    if (result.status !== 'done') throw new Error(result.reason)
    expect(Math.abs(result.durationSeconds - 18)).toBeLessThan(short.segmentSeconds)
    expect(Math.abs((await probeDuration(webUrl(`/vod/${CHANNEL}/${restarted.streamId}/download.mp4`))) - 18)).toBeLessThan(short.segmentSeconds)
  })

  it('of a VOD deleted before the job ran: skipped, not a failure in the dead-letter view', async () => {
    expect(await jobs.run('vod.mp4', {channel: CHANNEL, streamId: '20250101T000000Z-00000000'}, 30_000)).toEqual({status: 'skipped', reason: `no VOD 20250101T000000Z-00000000 on ${CHANNEL}`})
  })
})

describe('a worker SIGKILLed in the middle of a remux', () => {
  it('has its job finished by the other worker, the result there once', async () => {
    await site.start('worker-b')
    const vod = await seedVod(site, {channel: CHANNEL, archive: hour})
    const before = await objectNames(`${vod.prefix}/`)
    const started = Date.now()
    await jobs.enqueue('vod.mp4', {channel: CHANNEL, streamId: vod.streamId})
    const running = await waitFor(
      'a worker to start the remux',
      async () => ['worker-a', 'worker-b'].find((id) => makingMp4(vod.streamId).test(site.get(id).process.output())),
      {timeoutMs: 30_000, intervalMs: 50},
    )
    const other = running === 'worker-a' ? 'worker-b' : 'worker-a'
    // Killed while its ffmpeg remuxes (a child of the worker process).
    const worker = site.get(running).process
    await waitFor('its ffmpeg', async () => (await childProcessNames(worker.pid)).includes('ffmpeg'), {timeoutMs: 30_000, intervalMs: 20})
    await worker.kill('SIGKILL')
    console.log(`timing: ${running} SIGKILLed ${Date.now() - started} ms after the enqueue, its ffmpeg remuxing`)
    const queue = jobs.queue('vod.mp4')
    await waitFor('the other worker to finish it', async () => (await (await queue.getJob(`vod.mp4-${vod.streamId}`))?.getState()) === 'completed', {timeoutMs: 90_000, intervalMs: 500})
    console.log(`timing: recovered and finished ${Date.now() - started} ms after the enqueue`)
    expect(site.get(other).process.output()).toMatch(makingMp4(vod.streamId))
    const job = await queue.getJob(`vod.mp4-${vod.streamId}`)
    expect(job?.returnvalue).toMatchObject({status: 'done', reused: false})
    console.log(`timing: the remux on ${other} took ${job!.finishedOn! - job!.processedOn!} ms`)
    expect(await queue.getJobs(['completed'])).toSatisfy((done: {id?: string}[]) => done.filter((j) => j.id === `vod.mp4-${vod.streamId}`).length === 1)
    expect(await objectNames(`${vod.prefix}/`)).toEqual([...before, `${vod.prefix}/download.mp4`].sort())
    expect(Math.abs((await probeDuration(webUrl(`/vod/${CHANNEL}/${vod.streamId}/download.mp4`))) - vod.durationSeconds)).toBeLessThan(hour.segmentSeconds)
    // Back to worker-a alone for what follows.
    if (running === 'worker-a') {
      await site.get('worker-b').process.stop()
      await site.start('worker-a', {SHING_MEDIA: reencode('prefer')})
    }
  }, 240_000)
})

describe('the re-encode (vod.transcode), routed by capability', () => {
  const gpuQueue = 'vod.transcode@gpu'
  const cpuQueue = 'vod.transcode@cpu'
  /** A finished broadcast handed to dvr.finalize, which queues its re-encode; the transcode's job. */
  async function finishBroadcast(): Promise<SeededVod> {
    const vod = await seedVod(site, {channel: CHANNEL, archive: short, recordVod: false})
    await jobs.run('dvr.finalize', {streamId: vod.streamId}, 60_000)
    return vod
  }
  const transcodeJob = async (queue: string, streamId: string) => jobs.queue(queue).getJob(`vod.transcode-${streamId}`)
  async function expectSwitched(vod: SeededVod): Promise<void> {
    const master = parseMasterPlaylist(await (await site.web<string>(`/vod/${CHANNEL}/${vod.streamId}/master.m3u8`)).body)
    expect(master.map((v) => v.name)).toEqual(['144p-h264-150k'])
    expect(master[0]?.resolution).toMatch(/x144$/)
    const media = parseMediaPlaylist((await site.web<string>(`/vod/${CHANNEL}/${vod.streamId}/144p-h264-150k/index.m3u8`)).body)
    expect(media.closed).toBe(true)
    expect(Math.abs(media.durationSeconds - vod.durationSeconds)).toBeLessThanOrEqual(short.segmentSeconds)
    expect(Math.abs((await probeDuration(webUrl(`/vod/${CHANNEL}/${vod.streamId}/master.m3u8`))) - vod.durationSeconds)).toBeLessThanOrEqual(short.segmentSeconds)
    expect(await vodDoc(vod.streamId)).toMatchObject({renditions: [{name: '144p-h264-150k'}], encoded: {rendition: '144p-h264-150k', codec: 'h264', encoder: 'libx264'}})
  }

  it('without a GPU worker: to the CPU queue at low priority, switched once it plays, a clip\'s segments kept', async () => {
    expect((await liveWorkers(site.client)).filter((w) => w.capabilities.includes('video-gpu-nvenc'))).toEqual([])
    const vod = await seedVod(site, {channel: CHANNEL, archive: short, recordVod: false})
    // A clip of it plays two of the ladder's segments.
    const kept = [`${vod.prefix}/240p/init.mp4`, `${vod.prefix}/240p/seg3.m4s`, `${vod.prefix}/240p/seg4.m4s`]
    await db().collection('clips').insertOne({clipId: 'keptsegments', channel: CHANNEL, streamId: vod.streamId, status: 'ready', segmentKeys: kept, createdAt: new Date()})
    await jobs.run('dvr.finalize', {streamId: vod.streamId}, 60_000)
    const job = await waitFor('the re-encode job', () => transcodeJob(cpuQueue, vod.streamId), {timeoutMs: 10_000})
    expect(job.opts.priority).toBe(CPU_FALLBACK_PRIORITY)
    await waitFor('the CPU re-encode', async () => (await job.getState()) === 'completed', {timeoutMs: 120_000, intervalMs: 500})
    const done = (await transcodeJob(cpuQueue, vod.streamId))!.returnvalue as {status: string; bytesBefore: number; bytesAfter: number; objectsRemoved: number; oldRemovedAt?: string}
    expect(done).toMatchObject({status: 'done', objectsRemoved: 0})
    expect(done.bytesAfter).toBeLessThan(done.bytesBefore)
    await expectSwitched(vod)
    // The old rendition stays a while, for players that loaded it before the switch: a later run removes it.
    const oldObjects = await objectNames(`${vod.prefix}/240p/`)
    expect(oldObjects.length).toBe(vod.segments + 2)
    expect(Date.parse(done.oldRemovedAt!) - Date.now()).toBeGreaterThan(9 * 60_000)
    const cleanup = (await jobs.queue(cpuQueue).getJob(`vod.transcode-${vod.streamId}-cleanup`))!
    expect(await cleanup.getState()).toBe('delayed')
    await cleanup.promote()
    await waitFor('the old rendition removed', async () => (await cleanup.getState()) === 'completed', {timeoutMs: 60_000, intervalMs: 250})
    expect((await jobs.queue(cpuQueue).getJob(cleanup.id!))!.returnvalue).toMatchObject({status: 'done', reused: true, keptForClips: 3, objectsRemoved: vod.segments + 2 - 3})
    expect(await objectNames(`${vod.prefix}/240p/`)).toEqual([...kept].sort())
    await expectSwitched(vod)
    expect(site.get('worker-a').process.output()).toMatch(/"to":"144p-h264-150k"/)
  }, 180_000)

  it('with a worker that has a GPU capability: to the GPU queue, and run there', async () => {
    await site.start('worker-gpu', {SHING_WORKER_CAPABILITIES: 'general,video-gpu-nvenc', SHING_MEDIA: reencode('prefer')})
    await waitFor('the GPU worker to heartbeat', async () => (await liveWorkers(site.client)).some((w) => w.capabilities.includes('video-gpu-nvenc')))
    const vod = await finishBroadcast()
    const job = await waitFor('the re-encode job', () => transcodeJob(gpuQueue, vod.streamId), {timeoutMs: 10_000})
    expect(await transcodeJob(cpuQueue, vod.streamId)).toBeUndefined()
    await waitFor('the GPU re-encode', async () => (await job.getState()) === 'completed', {timeoutMs: 120_000, intervalMs: 500})
    // The GPU worker (its profile encodes with x264 here, standing in for NVENC) ran it.
    expect(site.get('worker-gpu').process.output()).toContain(`"streamId":"${vod.streamId}","from":"240p","to":"144p-h264-150k"`)
    expect(site.get('worker-a').process.output()).not.toContain(`"streamId":"${vod.streamId}","from"`)
    await expectSwitched(vod)
  }, 180_000)

  it('with gpu=require and no GPU worker: waits in the GPU queue until a GPU worker starts', async () => {
    await site.get('worker-gpu').process.stop()
    await site.get('worker-a').process.stop()
    await site.start('worker-a', {SHING_MEDIA: reencode('require')})
    await waitFor('the GPU worker gone', async () => !(await liveWorkers(site.client)).some((w) => w.capabilities.includes('video-gpu-nvenc')))
    const vod = await finishBroadcast()
    const job = await waitFor('the re-encode job', () => transcodeJob(gpuQueue, vod.streamId), {timeoutMs: 10_000})
    // A CPU worker is up and idle: the job waits for a GPU all the same.
    await new Promise((r) => setTimeout(r, 5000))
    expect(await job.getState()).toBe('waiting')
    expect(await transcodeJob(cpuQueue, vod.streamId)).toBeUndefined()
    await site.start('worker-gpu', {SHING_WORKER_CAPABILITIES: 'general,video-gpu-nvenc', SHING_MEDIA: reencode('require')})
    await waitFor('the GPU re-encode', async () => (await job.getState()) === 'completed', {timeoutMs: 120_000, intervalMs: 500})
    expect(site.get('worker-gpu').process.output()).toContain(`"streamId":"${vod.streamId}","from":"240p","to":"144p-h264-150k"`)
    await expectSwitched(vod)
  }, 180_000)

  it('run again after the switch, encodes nothing again and leaves the old renditions to their later run', async () => {
    const [last] = await db().collection('vods').find({channel: CHANNEL, 'encoded.rendition': '144p-h264-150k'}).sort({createdAt: -1}).limit(1).toArray()
    await (await jobs.queue(gpuQueue).getJob(`vod.transcode-${last!.streamId}`))?.remove()
    const again = await jobs.run('vod.transcode', {channel: CHANNEL, streamId: last!.streamId as string, height: 144, videoKbps: 150, codec: 'h264'}, 60_000, {gpu: 'require'})
    expect(again).toMatchObject({status: 'done', reused: true, objectsRemoved: 0})
    expect(await (await jobs.queue(gpuQueue).getJob(`vod.transcode-${last!.streamId}-cleanup`))?.getState()).toBe('delayed')
  }, 120_000)
})
