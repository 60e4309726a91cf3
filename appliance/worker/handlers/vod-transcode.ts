import {mkdir, mkdtemp, readFile, readdir, rm, stat} from 'node:fs/promises'
import {setPriority, tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

import {keptByClips} from '../../clips/clips.js'
import {parseMoov} from '../../hls/fmp4.js'
import type {JobData, JobRun, VodTranscodeResult} from '../../jobs/types.js'
import type {Logger} from '../../platform/logger.js'
import {objectSize, readObjectText, removeObjectNames, type Storage} from '../../platform/storage.js'
import {archiveToMp4, readArchiveVariants} from '../../vods/archive-mp4.js'
import {bestVariant, parseMediaPlaylist} from '../../vods/archive-playlists.js'
import {archiveMaster, archivePlaylist, dvrPrefix} from '../../vods/dvr-archive.js'
import {vodDownloadKey} from '../../vods/download.js'
import {checkPlayableHls, NotPlayableError, probeStreams} from '../../vods/playable.js'
import {reencodeArgs, reencodedRenditionName, reencodeEncoderName} from '../../vods/reencode.js'
import {VODS_COLLECTION, type VodDoc} from '../../vods/vods.js'
import type {JobContext} from './context.js'
import {unlessDeletedMeanwhile} from './deleted-meanwhile.js'

/** SIGTERM, then SIGKILL after this long, when the job's signal aborts. */
const KILL_AFTER_MS = 2000
/** The lowest CPU priority: a CPU encode yields to the live ladders on the same box. */
const NICE = 19
/** A clip pending longer than this is stuck: it no longer holds the old renditions back (as vod.delete). */
const CLIP_PENDING_MS = 10 * 60_000
/** Uploads at once. */
const UPLOADS = 4
const PROGRESS_EVERY_MS = 5000
/** After the switch, the old renditions stay this long past the VOD's own length (a viewer who pressed play just before may pause)… */
const CLEANUP_GRACE_MS = 10 * 60_000
/** …and never longer than this. */
const MAX_CLEANUP_GRACE_MS = 24 * 3600_000

/** The later run of a re-encode that removes the old renditions. */
export const cleanupJobId = (streamId: string): string => `vod.transcode-${streamId}-cleanup`

const CONTENT_TYPES: Record<string, string> = {m3u8: 'application/vnd.apple.mpegurl', mp4: 'video/mp4', m4s: 'video/iso.segment'}

interface ListedObject {
  name: string
  size: number
}

async function listObjects(storage: Storage, prefix: string): Promise<ListedObject[]> {
  const found: ListedObject[] = []
  for await (const item of storage.client.listObjectsV2(storage.bucket, prefix, true)) {
    const {name, size} = item as {name?: string; size?: number}
    if (name !== undefined) found.push({name, size: size ?? 0})
  }
  return found
}

/** The archive's rendition folders: those with a playlist (previews/ and download.mp4 are not renditions). */
function renditionFolders(objects: readonly ListedObject[], prefix: string): Map<string, ListedObject[]> {
  const byFolder = new Map<string, ListedObject[]>()
  for (const object of objects) {
    const rest = object.name.slice(prefix.length + 1)
    const slash = rest.indexOf('/')
    if (slash === -1) continue
    const folder = rest.slice(0, slash)
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), object])
  }
  for (const [folder, list] of byFolder) if (!list.some((o) => o.name === `${prefix}/${folder}/index.m3u8`)) byFolder.delete(folder)
  return byFolder
}

/** Runs the encode, its progress (ffmpeg's out_time) reported to the job; niced on a CPU encoder. */
async function encode(args: string[], options: {cpu: boolean; sourceSeconds: number; run: JobRun; log: Logger}): Promise<void> {
  const {run} = options
  const child = execa('ffmpeg', args, {stdin: 'ignore', forceKillAfterDelay: KILL_AFTER_MS, cancelSignal: run.signal})
  if (options.cpu && child.pid !== undefined) {
    try {
      setPriority(child.pid, NICE)
    } catch (error) {
      options.log.warn({err: (error as Error).message}, 'could not lower the encode\'s CPU priority')
    }
  }
  let reported = 0
  child.stdout.on('data', (chunk: Buffer) => {
    const times = [...chunk.toString().matchAll(/out_time_us=(\d+)/g)]
    const last = times.at(-1)
    if (last === undefined || Date.now() - reported < PROGRESS_EVERY_MS || options.sourceSeconds <= 0) return
    reported = Date.now()
    const percent = Math.min(99, Math.round(Number(last[1]) / 10_000 / options.sourceSeconds))
    void run.progress(percent).catch(() => undefined)
  })
  try {
    await child
  } catch (error) {
    if (run.signal.aborted) throw error
    throw new Error(`the encode failed: ${(error as {stderr?: string}).stderr?.trim().slice(-1000) || (error as Error).message}`, {cause: error})
  }
}

async function putFile(storage: Storage, key: string, file: string): Promise<void> {
  const extension = file.slice(file.lastIndexOf('.') + 1)
  await storage.client.fPutObject(storage.bucket, key, file, {'Content-Type': CONTENT_TYPES[extension] ?? 'application/octet-stream'})
}

async function putText(storage: Storage, key: string, text: string): Promise<void> {
  const body = Buffer.from(text)
  await storage.client.putObject(storage.bucket, key, body, body.length, {'Content-Type': CONTENT_TYPES.m3u8!})
}

/** The codec string a master playlist carries, from the init segment (left out when not a full RFC 6381 one, e.g. HEVC). */
async function codecsOf(initFile: string): Promise<string | undefined> {
  const bytes = await readFile(initFile)
  for (let at = 0; at + 8 <= bytes.length; ) {
    const size = bytes.readUInt32BE(at)
    if (size < 8) break
    if (bytes.toString('latin1', at + 4, at + 8) === 'moov') {
      const codecs = parseMoov(bytes.subarray(at, at + size)).map((t) => t.codec)
      return codecs.every((c) => c !== undefined && c.includes('.')) && codecs.length > 0 ? codecs.join(',') : undefined
    }
    at += size
  }
  return undefined
}

/**
 * vod.transcode: a finished broadcast re-encoded into one rendition (media.reencode: height,
 * bitrate, codec) with this worker's own encoder, as fMP4 HLS. The new rendition is read through
 * (every segment, duration within a segment of the original) and uploaded; only then does the
 * master playlist list it alone (the switch) and the VOD document follow. The ladder's old
 * renditions (and an MP4 made of them) go in a later run of the job (cleanupJobId), once whoever
 * was playing them has had time to finish, except the objects a clip plays. A run after the
 * switch never encodes again what is already there.
 */
export async function vodTranscode(data: JobData['vod.transcode'], context: JobContext, run: JobRun): Promise<VodTranscodeResult> {
  const {channel, streamId} = data
  const vod = await context.db.collection<VodDoc>(VODS_COLLECTION).findOne({channel, streamId})
  // Deleted before this ran (or never finalized): nothing to do, and nothing failed.
  if (vod === null) return {status: 'skipped', reason: `no VOD ${streamId} on ${channel}`}
  return unlessDeletedMeanwhile(data, 'vod.transcode', context, async () => transcode(data, vod, context, run))
}

async function transcode(data: JobData['vod.transcode'], vod: VodDoc, {db, storage, log, profile, jobs}: JobContext, run: JobRun): Promise<VodTranscodeResult> {
  const {channel, streamId} = data
  const vods = db.collection<VodDoc>(VODS_COLLECTION)
  const prefix = dvrPrefix(channel, streamId)
  const name = reencodedRenditionName(data)
  const encoderName = reencodeEncoderName(profile.encoder.videoArgs, data.codec)
  const variants = await readArchiveVariants(storage, prefix)
  const switched = variants.length === 1 && variants[0]!.name === name
  if (run.id === cleanupJobId(streamId) && !switched) return {status: 'skipped', reason: `the archive does not list ${name} alone: nothing of the old renditions to remove`}

  let newRendition: {segments: number; durationSeconds: number}
  let bytesBefore: number
  if (switched) {
    const playlist = parseMediaPlaylist(await readObjectText(storage, `${prefix}/${name}/index.m3u8`))
    newRendition = {segments: playlist.segments.length, durationSeconds: playlist.durationSeconds}
    // The document is updated before any old object goes: without `encoded`, nothing was removed yet.
    const folders = renditionFolders(await listObjects(storage, `${prefix}/`), prefix)
    bytesBefore = vod.encoded?.rendition === name ? vod.encoded.bytesBefore : [...folders].filter(([f]) => f !== name).flatMap(([, list]) => list).reduce((sum, o) => sum + o.size, 0)
  } else {
    const source = bestVariant(variants)!
    const sourcePlaylist = parseMediaPlaylist(await readObjectText(storage, `${prefix}/${source.uri}`))
    if (!sourcePlaylist.closed || sourcePlaylist.segments.length === 0) throw new Error(`${prefix}/${source.uri} is not a closed playlist with segments`)
    const before = renditionFolders(await listObjects(storage, `${prefix}/`), prefix)
    bytesBefore = [...before].filter(([f]) => f !== name).flatMap(([, list]) => list).reduce((sum, o) => sum + o.size, 0)
    const work = await mkdtemp(path.join(tmpdir(), 'shing-vod-transcode-'))
    try {
      const input = await archiveToMp4({storage, prefix, rendition: {variant: source, playlist: sourcePlaylist}, workDir: path.join(work, 'source'), signal: run.signal})
      const streams = await probeStreams(input.file, run.signal)
      if (streams.video === undefined) return {status: 'skipped', reason: 'the broadcast has no video: nothing to re-encode'}
      // Never upscaled; an even height, as encoders want.
      const height = Math.min(data.height, streams.video.height - (streams.video.height % 2))
      const outDir = path.join(work, 'out')
      await mkdir(outDir)
      const args = reencodeArgs({encoder: profile.encoder, input: input.file, outDir, target: data, height, segmentSeconds: profile.hls.segmentSeconds})
      if (encoderName === 'libx265') args.splice(args.indexOf('-b:v'), 0, '-x265-params', 'log-level=error')
      const started = Date.now()
      log.info({channel, streamId, from: source.name, to: name, encoder: encoderName, sourceSeconds: sourcePlaylist.durationSeconds}, 're-encoding a VOD')
      await encode(args, {cpu: profile.encoder.kind === 'x264', sourceSeconds: sourcePlaylist.durationSeconds, run, log})

      // Checked before anything in the archive changes.
      const checked = await checkPlayableHls(path.join(outDir, 'index.m3u8'), run.signal)
      const expectedCodec = data.codec === 'hevc' ? 'hevc' : 'h264'
      if (checked.video?.codec !== expectedCodec || checked.video.height !== height) {
        throw new NotPlayableError(`the new rendition is ${checked.video?.codec ?? 'without video'} ${checked.video?.height ?? 0}p, not ${expectedCodec} ${height}p`)
      }
      const tolerance = Math.max(profile.hls.segmentSeconds, ...sourcePlaylist.segments.map((s) => s.duration))
      if (Math.abs(checked.durationSeconds - sourcePlaylist.durationSeconds) > tolerance) {
        throw new NotPlayableError(`the new rendition lasts ${checked.durationSeconds.toFixed(1)} s, the original ${sourcePlaylist.durationSeconds.toFixed(1)} s`)
      }
      const written = parseMediaPlaylist(await readFile(path.join(outDir, 'index.m3u8'), 'utf8'))
      const files = new Set(await readdir(outDir))
      const missing = ['init.mp4', ...written.segments.map((s) => s.name)].filter((f) => !files.has(f))
      if (missing.length > 0) throw new NotPlayableError(`ffmpeg's playlist lists ${missing.length} file(s) it did not write`)

      // Uploaded, then checked to be all there at their sizes; the playlist last.
      const folder = `${prefix}/${name}`
      const uploads = ['init.mp4', ...written.segments.map((s) => s.name)]
      const sizes = new Map<string, number>()
      for (let i = 0; i < uploads.length; i += UPLOADS) {
        await Promise.all(
          uploads.slice(i, i + UPLOADS).map(async (file) => {
            sizes.set(file, (await stat(path.join(outDir, file))).size)
            await putFile(storage, `${folder}/${file}`, path.join(outDir, file))
          }),
        )
        run.signal.throwIfAborted()
      }
      await putText(storage, `${folder}/index.m3u8`, archivePlaylist(written.segments.map((s, msn) => ({msn, duration: s.duration, name: s.name})), true))
      const stored = new Map((await listObjects(storage, `${folder}/`)).map((o) => [o.name.slice(folder.length + 1), o.size]))
      const wrong = uploads.filter((file) => stored.get(file) !== sizes.get(file))
      if (wrong.length > 0) throw new Error(`${folder}: ${wrong.length} uploaded object(s) missing or of the wrong size, e.g. ${wrong[0]}`)

      // The switch: players that load the VOD from now on get the new rendition alone.
      const peak = Math.max(...written.segments.map((s) => ((sizes.get(s.name) ?? 0) * 8) / Math.max(s.duration, 0.001)))
      const codecs = await codecsOf(path.join(outDir, 'init.mp4'))
      run.signal.throwIfAborted()
      await putText(
        storage,
        `${prefix}/master.m3u8`,
        archiveMaster([{name, bandwidth: Math.round(peak), resolution: `${checked.video.width}x${checked.video.height}`, ...(codecs === undefined ? {} : {codecs})}]),
      )
      newRendition = {segments: written.segments.length, durationSeconds: written.durationSeconds}
      log.info({channel, streamId, rendition: name, seconds: Math.round((Date.now() - started) / 1000)}, 'VOD re-encoded and switched')
    } finally {
      await rm(work, {recursive: true, force: true})
    }
  }

  const folders = renditionFolders(await listObjects(storage, `${prefix}/`), prefix)
  const bytesAfter = (folders.get(name) ?? []).reduce((sum, o) => sum + o.size, 0)
  const durationSeconds = Math.round(newRendition.durationSeconds * 1000) / 1000
  // A download made from an old rendition is forgotten (made again, from the new one, on request);
  // its object goes with the old renditions.
  const staleDownload = vod.download?.state === 'ready' && vod.download.rendition !== name
  await vods.updateOne(
    {channel, streamId},
    {
      $set: {
        renditions: [{name, segments: newRendition.segments, durationSeconds}],
        segments: newRendition.segments,
        encoded: vod.encoded?.rendition === name ? vod.encoded : {rendition: name, codec: data.codec, height: data.height, videoKbps: data.videoKbps, encoder: encoderName, bytesBefore, bytesAfter, at: new Date()},
      },
      ...(staleDownload ? {$unset: {download: ''}} : {}),
    },
  )
  const done = {status: 'done', rendition: name, encoder: encoderName, durationSeconds, segments: newRendition.segments, bytesBefore, bytesAfter, reused: switched} as const
  const old = [...folders].filter(([folder]) => folder !== name).flatMap(([, list]) => list.map((o) => o.name))
  const downloadKey = vodDownloadKey(channel, streamId)
  // Only while no download is asked for or made since: a new one is written to the same key.
  const oldDownload = (await vods.findOne({channel, streamId}, {projection: {download: 1}}))?.download === undefined && (await objectSize(storage, downloadKey)) !== undefined
  if (old.length === 0 && !oldDownload) return {...done, keptForClips: 0, objectsRemoved: 0}

  // Players that loaded the old master before the switch go on fetching its segments (and a
  // download of the old MP4 may be under way): the old objects go later, in a run of their own.
  const cleanupId = cleanupJobId(streamId)
  if (run.id !== cleanupId) {
    const delayMs = Math.min(MAX_CLEANUP_GRACE_MS, newRendition.durationSeconds * 1000 + CLEANUP_GRACE_MS)
    await jobs.enqueue('vod.transcode', data, {jobId: cleanupId, delayMs})
    const removeAt = new Date(Date.now() + delayMs).toISOString()
    log.info({channel, streamId, oldObjects: old.length, removeAt}, 'old renditions removed later')
    return {...done, keptForClips: 0, objectsRemoved: 0, oldRemovedAt: removeAt}
  }

  // The old renditions, but what a clip plays; a clip still choosing its segments holds this back.
  const clips = await keptByClips(db, streamId, new Date(Date.now() - CLIP_PENDING_MS))
  if (clips.pending > 0) throw new Error(`${clips.pending} clip(s) of ${streamId} are being made: the old renditions are removed once they are done`)
  const keptForClips = old.filter((key) => clips.keys.has(key)).length
  // The playlists last: a run cut short (a failed batch, a killed worker) still finds each old
  // folder by its playlist, and the next run finishes it.
  const isPlaylist = (key: string): number => (key.endsWith('/index.m3u8') ? 1 : 0)
  const remove = [...old.filter((key) => !clips.keys.has(key)), ...(oldDownload ? [downloadKey] : [])].sort((a, b) => isPlaylist(a) - isPlaylist(b))
  await removeObjectNames(storage, remove)
  log.info({channel, streamId, removed: remove.length, keptForClips}, 'old renditions removed')
  return {...done, keptForClips, objectsRemoved: remove.length}
}
