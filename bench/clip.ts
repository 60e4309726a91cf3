/**
 * bench:clip — how long a viewer waits, from the request, for a playable 30 s clip and for a
 * downloadable MP4 of a 1-hour VOD, each against `ffmpeg -c copy` over the same segments run bare
 * in the same run.
 *
 *   npm run bench:clip [-- --reps 5 --clip-seconds 30]   (it builds the appliance first)
 *
 * Shing: real Redis, FerretDB and MinIO from the test harness, a web and one worker as processes
 * (`node appliance/dist/main.js web|worker`). The VOD is an hour of tiny test video (160x90, 5 fps,
 * 2 s segments, AAC: 1,800 segments, encoded once and cached under ~/.cache/shing-test), uploaded
 * in the archive's layout with its documents, as a finished broadcast leaves it.
 * - clip: a logged-in viewer posts the VOD page's Clip form (30 s from a different minute each
 *   time); timed until /api/clips/<id> says it plays (the worker's clip.create has chosen the
 *   segments and written the clip's HLS form: its page plays it from then on), and on until it is
 *   ready (its MP4 and poster made too: the `clip-mp4` row). ffprobe then reads the clip's HLS
 *   form and its MP4 through the web (not timed).
 * - vod-mp4: the VOD page's Download MP4 form (as its script posts it); timed until
 *   /api/streams/<ch>/vods/<id>/download says ready (vod.mp4 has remuxed the archive from S3 into
 *   one faststart MP4 and uploaded it). Between repetitions the MP4 is forgotten, so each is made anew.
 * - ffmpeg-copy (the baseline of the last line): ffmpeg alone over the same segments where they
 *   are, in the same MinIO: a playlist of presigned URLs (made before the clock starts) read by
 *   ffmpeg's HLS reader over HTTP, with the output arguments Shing's remux uses (media/remux.ts:
 *   every stream copied, faststart), into a local file. What a person would run by hand against
 *   the archive; no queue, no worker, no upload of the result, no document.
 * - ffmpeg-local (shown beside it): the same init + segments as local files (the cache the
 *   archive was uploaded from), `cat` into ffmpeg with Shing's remux arguments: the remux alone,
 *   with object storage taken away too.
 * Repetitions take turns (shing, ffmpeg-copy, ffmpeg-local); each ratio is of the medians.
 * Progress on stderr, results on stdout; the last line:
 *   clip: shing/ffmpeg-copy ratio=<x> vod-mp4 ratio=<y>
 */
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Queue} from 'bullmq'
import {execa} from 'execa'

import {MONGO_DATABASE} from '../appliance/contract/index.js'
import {jobCatalog, QUEUE_PREFIX} from '../appliance/jobs/catalog.js'
import {remuxArgs} from '../appliance/media/remux.js'
import {csrfToken, FormClient, signUpThroughForm} from '../test/harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../test/harness/live-site.js'
import {requireTool} from '../test/harness/tools.js'
import {encodeArchive, seedVod, type ArchiveSpec, type EncodedArchive} from '../test/harness/vod-archive.js'

const {values: args} = parseArgs({
  options: {
    reps: {type: 'string', default: '5'},
    'clip-seconds': {type: 'string', default: '30'},
  },
  strict: true,
})
const reps = Number(args.reps)
const clipSeconds = Number(args['clip-seconds'])
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a whole number ≥ 1, got ${args.reps}`)

const HOUR: ArchiveSpec = {seconds: 3600, width: 160, height: 90, fps: 5, videoKbps: 50, segmentSeconds: 2}
const CHANNEL = 'bench-clips'
const ffmpeg = requireTool('ffmpeg')
const ffprobe = requireTool('ffprobe')
const progress = (line: string): void => void process.stderr.write(`${line}\n`)
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` every 10 ms until it answers; the time from `since`, in ms. */
async function until(what: string, since: number, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<number> {
  for (;;) {
    if (await check()) return performance.now() - since
    if (performance.now() - since > timeoutMs) throw new Error(`${what}: not done within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** `cat init seg… | ffmpeg <Shing's remux arguments>`: the bare remux of these local files, in ms. */
async function localRemux(files: readonly string[], workDir: string): Promise<number> {
  const output = path.join(workDir, 'local.mp4')
  const started = performance.now()
  const cat = spawn('cat', [...files], {stdio: ['ignore', 'pipe', 'inherit']})
  const copy = spawn(ffmpeg, remuxArgs(output), {stdio: ['pipe', 'ignore', 'inherit']})
  cat.stdout.pipe(copy.stdin)
  const [[catCode], [copyCode]] = await Promise.all([once(cat, 'exit'), once(copy, 'exit')])
  const ms = performance.now() - started
  if (catCode !== 0 || copyCode !== 0) throw new Error(`bare remux failed: cat ${catCode}, ffmpeg ${copyCode}`)
  return ms
}

/**
 * ffmpeg alone over these archive objects in S3: a local playlist of presigned URLs (init first),
 * read over HTTP, Shing's remux output arguments; ms from ffmpeg's start (the URLs are made before).
 */
async function s3Remux(site: LiveSite, keys: readonly string[], durations: readonly number[], workDir: string): Promise<number> {
  const urls = await Promise.all(keys.map((key) => site.minio.presignedGetObject(BUCKET, key, 600)))
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${Math.ceil(Math.max(...durations))}`, '#EXT-X-PLAYLIST-TYPE:VOD', `#EXT-X-MAP:URI="${urls[0]}"`]
  durations.forEach((duration, i) => lines.push(`#EXTINF:${duration.toFixed(3)},`, urls[i + 1]!))
  lines.push('#EXT-X-ENDLIST')
  const playlist = path.join(workDir, 's3.m3u8')
  await writeFile(playlist, `${lines.join('\n')}\n`)
  const output = remuxArgs(path.join(workDir, 's3.mp4'))
  const input = output.indexOf('-f')
  // `-f mp4 -i pipe:0` → the playlist over HTTP; every output argument as Shing has it.
  output.splice(input, 4, '-protocol_whitelist', 'file,http,tcp', '-i', playlist)
  const started = performance.now()
  await execa(ffmpeg, output)
  return performance.now() - started
}

async function probeSeconds(url: string): Promise<number> {
  const {stdout} = await execa(ffprobe, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', url])
  return Number.parseFloat(stdout)
}

/** A seeded archive key (`…/<rendition>/seg<N>.m4s`) → the cached file it was uploaded from (one run: seg<N> is the archive's N-th). */
const localFile = (archive: EncodedArchive, key: string): string => path.join(archive.dir, key.slice(key.lastIndexOf('/') + 1))
const durationOf = (archive: EncodedArchive, key: string): number => archive.segments.find((s) => s.name === key.slice(key.lastIndexOf('/') + 1))!.duration

interface Side {
  shing: number[]
  s3: number[]
  local: number[]
}

async function main(): Promise<void> {
  progress(`bench:clip: the 1-hour archive (${HOUR.width}x${HOUR.height}, ${HOUR.fps} fps, ${HOUR.segmentSeconds} s segments; encoded once, then cached)…`)
  const since = performance.now()
  const archive = await encodeArchive(HOUR)
  progress(`  ${archive.segments.length} segments, ${(archive.bytes / 1e6).toFixed(1)} MB, ready in ${((performance.now() - since) / 1000).toFixed(1)} s`)
  const work = await mkdtemp(path.join(os.tmpdir(), 'shing-bench-clip-'))
  let site: LiveSite | undefined
  try {
    site = await startLiveSite({adjustProfile: (p) => ({...p, hls: {segmentSeconds: HOUR.segmentSeconds, partSeconds: 0.5}})})
    await site.streamKey(CHANNEL)
    await Promise.all([site.start('web'), site.start('worker')])
    const base = `http://127.0.0.1:${site.get('web').httpPort}`
    const vod = await seedVod(site, {channel: CHANNEL, archive: HOUR})
    progress(`  the VOD ${vod.streamId} uploaded (${vod.segments} segments, ${vod.durationSeconds} s)`)
    const vodPath = `/c/${CHANNEL}/vod/${vod.streamId}`
    const vods = site.mongoClient.db(MONGO_DATABASE).collection('vods')
    const clipsDb = site.mongoClient.db(MONGO_DATABASE).collection('clips')
    const allKeys = [`${vod.prefix}/${vod.rendition}/init.mp4`, ...archive.segments.map((s) => `${vod.prefix}/${vod.rendition}/${s.name}`)]

    // Warm-up (not counted): one of each, so JIT, connections and the page cache are the same for every repetition.
    const viewer = await signUpThroughForm(base, 'bench-clipper', {password: 'a long bench password 1'})
    const clipOnce = async (startMinute: number): Promise<{ms: number; mp4Ms: number; clipId: string}> => {
      const page = await viewer.get(vodPath)
      const token = csrfToken(page.text)
      const start = performance.now()
      const made = await viewer.post(`/c/${CHANNEL}/clip`, {_csrf: token, streamId: vod.streamId, start: `${startMinute}:00`, seconds: String(clipSeconds), title: `bench ${startMinute}`})
      if (made.status !== 303 || made.location === undefined) throw new Error(`the clip form answered ${made.status}: ${made.text.slice(0, 300)}`)
      const clipId = made.location.split('/').pop()!
      const asked = async () => {
        const status = (await (await fetch(`${base}/api/clips/${clipId}`)).json()) as {status: string; playable: boolean; reason?: string}
        if (status.status === 'failed') throw new Error(`the clip failed: ${status.reason}`)
        return status
      }
      const ms = await until('the clip to play', start, async () => (await asked()).playable)
      const mp4Ms = await until("the clip's MP4", start, async () => (await asked()).status === 'ready')
      return {ms, mp4Ms, clipId}
    }
    const anonymous = new FormClient(base)
    const mp4Once = async (): Promise<number> => {
      await vods.updateOne({streamId: vod.streamId}, {$unset: {download: ''}})
      const page = await anonymous.get(vodPath)
      const token = csrfToken(page.text)
      const start = performance.now()
      const asked = await fetch(`${base}/c/${CHANNEL}/vod/${vod.streamId}/download`, {
        method: 'POST',
        headers: {accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', cookie: [...anonymous.cookies].map(([k, v]) => `${k}=${v}`).join('; ')},
        body: new URLSearchParams({_csrf: token}).toString(),
      })
      if (!asked.ok) throw new Error(`the download form answered ${asked.status}: ${await asked.text()}`)
      return until('the MP4', start, async () => ((await (await fetch(`${base}/api/streams/${CHANNEL}/vods/${vod.streamId}/download`)).json()) as {state: string}).state === 'ready')
    }
    /** The archive objects a clip was cut from (init first), as the worker chose them. */
    const clipKeys = async (clipId: string): Promise<string[]> => ((await clipsDb.findOne({clipId}))?.segmentKeys as string[] | undefined) ?? []
    const baselines = async (keys: readonly string[], side: Side): Promise<void> => {
      side.s3.push(await s3Remux(site!, keys, keys.slice(1).map((k) => durationOf(archive, k)), work))
      side.local.push(await localRemux(keys.map((k) => localFile(archive, k)), work))
    }

    const queues = {clip: new Queue('clip.create', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX}), mp4: new Queue('vod.mp4', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX})}
    /**
     * A job's wait in its queue and its run in the worker (BullMQ's own times), in ms. Its result is
     * recorded just before the job is marked done: that is waited for here, untimed.
     */
    const jobTimes = async (queue: Queue, id: string): Promise<string> => {
      await until(`${id} done`, performance.now(), async () => (await queue.getJob(id))?.finishedOn !== undefined, 30_000)
      const job = (await queue.getJob(id))!
      return `queued ${job.processedOn! - job.timestamp} + ran ${job.finishedOn! - job.processedOn!}`
    }
    progress('  warm-up…')
    const warm = await clipOnce(1)
    await baselines(await clipKeys(warm.clipId), {shing: [], s3: [], local: []})
    await mp4Once()
    await jobTimes(queues.mp4, jobCatalog['vod.mp4'].jobId({streamId: vod.streamId}))
    await baselines(allKeys, {shing: [], s3: [], local: []})

    const clip: Side = {shing: [], s3: [], local: []}
    const clipMp4: Side = {shing: [], s3: clip.s3, local: clip.local}
    const mp4: Side = {shing: [], s3: [], local: []}
    const breakdown: string[] = []
    const clipJobs: string[] = []
    const last = (values: number[]) => values.at(-1)!.toFixed(0)
    for (let rep = 1; rep <= reps; rep++) {
      const made = await clipOnce(2 + rep * 7)
      const keys = await clipKeys(made.clipId)
      const seconds = await probeSeconds(`${base}/clip/${made.clipId}/media/clip.mp4`)
      if (Math.abs(seconds - clipSeconds) > HOUR.segmentSeconds) throw new Error(`the clip's MP4 lasts ${seconds} s, not ${clipSeconds}`)
      const hlsSeconds = await probeSeconds(`${base}/clip/${made.clipId}/media/index.m3u8`)
      if (Math.abs(hlsSeconds - clipSeconds) > HOUR.segmentSeconds) throw new Error(`the clip's HLS form lasts ${hlsSeconds} s, not ${clipSeconds}`)
      clip.shing.push(made.ms)
      clipMp4.shing.push(made.mp4Ms)
      clipJobs.push(await jobTimes(queues.clip, jobCatalog['clip.create'].jobId({clipId: made.clipId})))
      await baselines(keys, clip)
      mp4.shing.push(await mp4Once())
      const mp4Times = await jobTimes(queues.mp4, jobCatalog['vod.mp4'].jobId({streamId: vod.streamId}))
      const logged = [...site.get('worker').process.output().matchAll(/"remuxMs":(\d+),"uploadMs":(\d+),"msg":"VOD download made"/g)].at(-1)
      breakdown.push(`${mp4Times} (remux ${logged?.[1] ?? '?'} + upload ${logged?.[2] ?? '?'})`)
      await baselines(allKeys, mp4)
      progress(
        `  rep ${rep}: clip shing ${last(clip.shing)} ms to play, ${last(clipMp4.shing)} ms to its MP4 (${clipJobs.at(-1)} ms), ffmpeg-copy ${last(clip.s3)} ms, ffmpeg-local ${last(clip.local)} ms (${keys.length - 1} segments, ${seconds.toFixed(1)} s); ` +
          `vod-mp4 shing ${last(mp4.shing)} ms (${breakdown.at(-1)} ms), ffmpeg-copy ${last(mp4.s3)} ms, ffmpeg-local ${last(mp4.local)} ms`,
      )
    }
    const vodSeconds = await probeSeconds(`${base}/vod/${CHANNEL}/${vod.streamId}/download.mp4`)
    if (Math.abs(vodSeconds - vod.durationSeconds) > HOUR.segmentSeconds) throw new Error(`the VOD's MP4 lasts ${vodSeconds} s, not ${vod.durationSeconds}`)

    const ratio = (side: Side, baseline: 's3' | 'local') => median(side.shing) / median(side[baseline])
    const all = (values: number[]) => values.map((v) => v.toFixed(0)).join(' ')
    const row = (name: string, side: Side) =>
      `${name.padEnd(9)} ${median(side.shing).toFixed(0).padStart(8)} ${median(side.s3).toFixed(0).padStart(14)} ${median(side.local).toFixed(0).padStart(15)} ${ratio(side, 's3').toFixed(2).padStart(11)} ${ratio(side, 'local').toFixed(2).padStart(12)}   shing ${all(side.shing)}; ffmpeg-copy ${all(side.s3)}; ffmpeg-local ${all(side.local)}`
    console.log(`clip: ${reps} repetitions each; a ${clipSeconds} s clip and the MP4 of a ${vod.durationSeconds} s VOD (${vod.segments} segments, ${(archive.bytes / 1e6).toFixed(1)} MB); medians in ms`)
    console.log(`what      shing-ms ffmpeg-copy-ms ffmpeg-local-ms  /ffmpeg-copy /ffmpeg-local   every repetition (ms)`)
    console.log(row('clip', clip))
    console.log(row('clip-mp4', clipMp4))
    console.log(row('vod-mp4', mp4))
    console.log(`clip.create jobs (ms): ${clipJobs.join('; ')}`)
    console.log(`vod.mp4 jobs (ms): ${breakdown.join('; ')}`)
    await Promise.all([queues.clip.close(), queues.mp4.close()])
    console.log(`clip: shing/ffmpeg-copy ratio=${ratio(clip, 's3').toFixed(2)} vod-mp4 ratio=${ratio(mp4, 's3').toFixed(2)}`)
  } finally {
    await site?.stop()
    await rm(work, {recursive: true, force: true})
  }
}

await main()
