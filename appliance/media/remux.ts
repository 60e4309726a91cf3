/**
 * Remuxing archived fMP4 into one MP4, without re-encoding: the init segment once, then whole
 * media segments, fed to ffmpeg as one fragmented stream on its stdin, copied (`-c copy`) into an
 * MP4 with its moov up front (faststart: it plays while it downloads). ffmpeg rebases the
 * timestamps so the MP4 starts at 0, whichever segment came first.
 *
 * The segments must be one continuous encode (no EXT-X-DISCONTINUITY between them): glued across
 * an encoder restart, the timestamps jump or go backwards. Callers split or refuse such ranges.
 *
 * Used by clips (clip.create) and the downloadable VOD (vod.mp4).
 */
import {mkdir, open, stat} from 'node:fs/promises'
import path from 'node:path'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {execa} from 'execa'

import type {Storage} from '../platform/storage.js'

export interface RemuxOptions {
  /** Where the keys are: S3 object names in this bucket; without it, local file paths. */
  storage?: Storage
  /** The rendition's init segment (init.mp4). */
  initKey: string
  /** Its media segments in playlist order (seg<N>.m4s), one continuous encode. */
  segmentKeys: readonly string[]
  /** The folder the MP4 is written to (made if missing); the caller removes it. */
  workDir: string
  /** The MP4's name in workDir (default out.mp4). */
  fileName?: string
  /** Aborted: ffmpeg gets SIGTERM (SIGKILL 2 s later) and the call throws. */
  signal?: AbortSignal
  ffmpegPath?: string
  ffprobePath?: string
}

export interface RemuxResult {
  /** The MP4, in workDir. */
  file: string
  bytes: number
  /** As ffprobe reads the MP4's container. */
  durationSeconds: number
  /** It has a video stream (an audio-only broadcast's has none). */
  hasVideo: boolean
}

export class RemuxError extends Error {
  override name = 'RemuxError'
}

/** Segments fetched ahead of the one ffmpeg is reading: S3 round trips overlap instead of adding up. */
const LOOKAHEAD = 16
/** SIGTERM, then SIGKILL after this long, when the signal aborts. */
const KILL_AFTER_MS = 2000

/** ffmpeg's argv: one fragmented MP4 on stdin, every stream copied, faststart MP4 out. */
export function remuxArgs(output: string): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'mp4', '-i', 'pipe:0',
    '-map', '0', '-c', 'copy',
    // Whatever the first segment's tfdt, the MP4 starts at 0 (ffmpeg's default without -copyts);
    // AAC priming that starts before the video is shifted rather than kept negative.
    '-avoid_negative_ts', 'make_zero',
    '-movflags', '+faststart',
    '-f', 'mp4', '-y', output,
  ]
}

/** Opens one object (S3) or file (local) as a stream; a missing one rejects here, not later on the stream. */
function opener(storage: Storage | undefined): (key: string) => Promise<Readable> {
  if (storage === undefined) return async (file) => (await open(file)).createReadStream()
  return (key) => storage.client.getObject(storage.bucket, key)
}

/** init + segments as one stream, in order, a few objects opened ahead of the one being read. */
async function* concatenated(openKey: (key: string) => Promise<Readable>, keys: readonly string[]): AsyncGenerator<Buffer> {
  const pending: Promise<Readable>[] = []
  let next = 0
  const fill = (): void => {
    while (next < keys.length && pending.length < LOOKAHEAD) {
      const opening = openKey(keys[next++]!)
      // Awaited in its turn; until then a failure must not count as unhandled.
      opening.catch(() => undefined)
      pending.push(opening)
    }
  }
  try {
    fill()
    while (pending.length > 0) {
      const source = await pending.shift()!
      fill()
      yield* source as AsyncIterable<Buffer>
    }
  } finally {
    // Stopped early (a failure, or ffmpeg gone): the streams opened ahead are dropped.
    for (const opening of pending) void opening.then((s) => s.destroy(), () => undefined)
  }
}

/** The container's duration as ffprobe reads it (seconds), and whether it has video: one ffprobe. */
export async function probeMedia(file: string, options: {signal?: AbortSignal; ffprobePath?: string} = {}): Promise<{durationSeconds: number; hasVideo: boolean}> {
  const {stdout} = await execa(options.ffprobePath ?? 'ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json', file], {
    ...(options.signal === undefined ? {} : {cancelSignal: options.signal}),
  })
  let read: {format?: {duration?: string}; streams?: Array<{codec_type?: string}>} = {}
  try {
    read = JSON.parse(stdout) as typeof read
  } catch {
    // Not JSON: reported below as no duration.
  }
  const seconds = Number.parseFloat(read.format?.duration ?? '')
  if (!Number.isFinite(seconds)) throw new RemuxError(`ffprobe read no duration from ${file}: ${stdout.trim() || '(nothing)'}`)
  return {durationSeconds: seconds, hasVideo: (read.streams ?? []).some((s) => s.codec_type === 'video')}
}


/**
 * Remuxes init + segments into `workDir/fileName` (an MP4 with faststart), no re-encode.
 * Throws RemuxError with ffmpeg's own words when it refuses the input, or execa's cancel error
 * when the signal aborts.
 */
export async function remuxToMp4(options: RemuxOptions): Promise<RemuxResult> {
  const {storage, initKey, segmentKeys, workDir, signal} = options
  if (segmentKeys.length === 0) throw new RemuxError('no segments to remux')
  signal?.throwIfAborted()
  await mkdir(workDir, {recursive: true})
  const file = path.join(workDir, options.fileName ?? 'out.mp4')
  const child = execa(options.ffmpegPath ?? 'ffmpeg', remuxArgs(file), {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    forceKillAfterDelay: KILL_AFTER_MS,
    ...(signal === undefined ? {} : {cancelSignal: signal}),
  })
  // A segment that cannot be read stops ffmpeg (a short MP4 must not pass for the whole range);
  // ffmpeg that stops reading (it failed, or was cancelled) breaks the pipe instead.
  const fed = pipeline(concatenated(opener(storage), [initKey, ...segmentKeys]), child.stdin).then(
    () => undefined,
    (error: unknown) => {
      child.kill('SIGKILL')
      return error as Error & {code?: string}
    },
  )
  let failure: unknown
  try {
    await child
  } catch (error) {
    failure = error
  }
  const feedError = await fed
  if (signal?.aborted === true) throw failure ?? signal.reason
  const brokenPipe = feedError?.code === 'EPIPE' || feedError?.code === 'ERR_STREAM_DESTROYED' || feedError?.code === 'ERR_STREAM_PREMATURE_CLOSE'
  if (feedError !== undefined && !(brokenPipe && failure !== undefined)) throw new RemuxError(`reading the segments failed: ${feedError.message}`)
  if (failure !== undefined) {
    const stderr = (failure as {stderr?: string}).stderr?.trim()
    throw new RemuxError(`ffmpeg could not remux ${segmentKeys.length} segment(s) after ${initKey}: ${stderr || (failure as Error).message}`)
  }
  const {size} = await stat(file)
  const probed = await probeMedia(file, {...(signal === undefined ? {} : {signal}), ...(options.ffprobePath === undefined ? {} : {ffprobePath: options.ffprobePath})})
  return {file, bytes: size, ...probed}
}

/** Uploads a local file to S3 under key (the same key again replaces it: idempotent). */
export async function uploadFile(storage: Storage, key: string, file: string, contentType = 'video/mp4'): Promise<void> {
  await storage.client.fPutObject(storage.bucket, key, file, {'Content-Type': contentType})
}
