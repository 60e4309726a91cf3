/**
 * Past broadcasts made without a broadcaster, for the VOD jobs' tests and bench:clip: ffmpeg
 * encodes test media in the archive's form (fMP4 HLS: init.mp4 + seg<N>.m4s, a keyframe on every
 * segment boundary, AAC muxed in, as the ladder makes it), uploaded in the layout the ingest
 * leaves (dvr/<channel>/<streamId>/master.m3u8, <rendition>/index.m3u8 …) with the `streams`
 * document dvr.finalize reads and, when asked, the `vods` document it writes. An archive is
 * encoded once per spec and kept under ~/.cache/shing-test/vod-archives (an hour takes a while).
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, readFile, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import type {Client as MinioClient} from 'minio'
import type {MongoClient} from 'mongodb'

import {MONGO_DATABASE} from '../../appliance/contract/index.js'
import {parseMediaPlaylist, type ListedSegment} from '../../appliance/vods/archive-playlists.js'
import {archiveMaster, archivePlaylist, dvrPrefix} from '../../appliance/vods/dvr-archive.js'
import {requireTool, testCacheDir} from './tools.js'

export interface ArchiveSpec {
  seconds: number
  width: number
  height: number
  fps: number
  videoKbps: number
  segmentSeconds: number
}

export interface EncodedArchive {
  /** init.mp4, seg<N>.m4s and ffmpeg's index.m3u8. */
  dir: string
  segments: ListedSegment[]
  durationSeconds: number
  bytes: number
}

/** Encodes (or finds in the cache) an archive rendition of test media. */
export async function encodeArchive(spec: ArchiveSpec): Promise<EncodedArchive> {
  const key = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)
  const dir = path.join(testCacheDir(), 'vod-archives', `${spec.width}x${spec.height}-${spec.fps}fps-${spec.seconds}s-${key}`)
  const done = path.join(dir, 'done')
  if (!(await stat(done).then(() => true, () => false))) {
    const building = `${dir}.building-${process.pid}`
    await rm(building, {recursive: true, force: true})
    await mkdir(building, {recursive: true})
    const gop = String(spec.fps * spec.segmentSeconds)
    await execa(requireTool('ffmpeg'), [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(spec.seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-b:v', `${spec.videoKbps}k`, '-maxrate', `${spec.videoKbps}k`, '-bufsize', `${spec.videoKbps * 2}k`,
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-bf', '0',
      '-c:a', 'aac', '-b:a', '64k', '-ac', '2',
      '-f', 'hls', '-hls_time', String(spec.segmentSeconds), '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4',
      '-hls_fmp4_init_filename', 'init.mp4', '-hls_segment_filename', path.join(building, 'seg%d.m4s'), path.join(building, 'index.m3u8'),
    ])
    await writeFile(path.join(building, 'done'), new Date().toISOString())
    await rm(dir, {recursive: true, force: true})
    await rename(building, dir)
  }
  const playlist = parseMediaPlaylist(await readFile(path.join(dir, 'index.m3u8'), 'utf8'))
  let bytes = 0
  for (const name of await readdir(dir)) if (name.endsWith('.m4s') || name === 'init.mp4') bytes += (await stat(path.join(dir, name))).size
  return {dir, segments: playlist.segments, durationSeconds: playlist.durationSeconds, bytes}
}

/** A stream id of the form the ingest makes (20261206T101500Z-9f3a1c2b), so the web's routes take it. */
export function newTestStreamId(at = new Date()): string {
  return `${at.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z-${randomBytes(4).toString('hex')}`
}

export interface SeedVodOptions {
  channel: string
  archive: ArchiveSpec
  /** The rendition's folder (default `<height>p`). */
  rendition?: string
  /** A second run of the same media after the first, as after a ladder restart (marked EXT-X-DISCONTINUITY). */
  restartedWith?: ArchiveSpec
  /** Writes the `vods` document as dvr.finalize does (default); false leaves that to a dvr.finalize job. */
  recordVod?: boolean
  bucket?: string
  streamId?: string
}

export interface SeededVod {
  channel: string
  streamId: string
  /** dvr/<channel>/<streamId> */
  prefix: string
  rendition: string
  segments: number
  durationSeconds: number
  /** Every object uploaded. */
  keys: string[]
}

const UPLOADS = 16

/** Uploads an archive (one rendition) and its documents: a finished broadcast, as the ingest leaves it. */
export async function seedVod(site: {minio: MinioClient; mongoClient: MongoClient}, options: SeedVodOptions): Promise<SeededVod> {
  const {channel} = options
  const bucket = options.bucket ?? 'shing-media'
  const streamId = options.streamId ?? newTestStreamId()
  const prefix = dvrPrefix(channel, streamId)
  const rendition = options.rendition ?? `${options.archive.height}p`
  const runs = [await encodeArchive(options.archive), ...(options.restartedWith === undefined ? [] : [await encodeArchive(options.restartedWith)])]

  // Segment files of every run, numbered on (the ingest's media sequence goes on across a restart).
  const files: {key: string; file: string}[] = [{key: `${prefix}/${rendition}/init.mp4`, file: path.join(runs[0]!.dir, 'init.mp4')}]
  const listed: {msn: number; duration: number; name: string; discontinuity?: boolean}[] = []
  for (const [r, run] of runs.entries()) {
    for (const [i, segment] of run.segments.entries()) {
      const msn = listed.length
      listed.push({msn, duration: segment.duration, name: `seg${msn}.m4s`, ...(r > 0 && i === 0 ? {discontinuity: true} : {})})
      files.push({key: `${prefix}/${rendition}/seg${msn}.m4s`, file: path.join(run.dir, segment.name)})
    }
  }
  for (let i = 0; i < files.length; i += UPLOADS) {
    await Promise.all(files.slice(i, i + UPLOADS).map(({key, file}) => site.minio.fPutObject(bucket, key, file, {'Content-Type': file.endsWith('.mp4') ? 'video/mp4' : 'video/iso.segment'})))
  }
  const put = async (key: string, text: string): Promise<void> => {
    await site.minio.putObject(bucket, key, Buffer.from(text), undefined, {'Content-Type': 'application/vnd.apple.mpegurl'})
  }
  await put(`${prefix}/${rendition}/index.m3u8`, archivePlaylist(listed, true))
  const spec = options.archive
  await put(`${prefix}/master.m3u8`, archiveMaster([{name: rendition, bandwidth: spec.videoKbps * 1000 + 64_000, resolution: `${spec.width}x${spec.height}`, frameRate: spec.fps}]))

  const durationSeconds = Math.round(listed.reduce((sum, s) => sum + s.duration, 0) * 1000) / 1000
  const db = site.mongoClient.db(MONGO_DATABASE)
  const startedAt = new Date(Date.now() - durationSeconds * 1000)
  const renditions = [{name: rendition, height: spec.height, bandwidth: spec.videoKbps * 1000 + 64_000}]
  await db.collection('streams').insertOne({channel, streamId, ingestId: 'seeded', startedAt, endedAt: new Date(), live: false, renditions})
  if (options.recordVod ?? true) {
    await db.collection('vods').insertOne({
      streamId,
      channel,
      segments: listed.length,
      durationSeconds,
      renditions: [{name: rendition, segments: listed.length, durationSeconds}],
      createdAt: new Date(),
    })
  }
  return {
    channel,
    streamId,
    prefix,
    rendition,
    segments: listed.length,
    durationSeconds,
    keys: [...files.map((f) => f.key), `${prefix}/${rendition}/index.m3u8`, `${prefix}/master.m3u8`],
  }
}
