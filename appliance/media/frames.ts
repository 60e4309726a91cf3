/**
 * Pictures from archived fMP4 segments: each source (an init segment and one media segment,
 * which starts on a keyframe) gives its first frame, scaled to fit a tile (black bars where the
 * shape differs), and the tiles are laid out on one grid and written as one JPEG by one ffmpeg.
 * A live thumbnail or a poster is a 1×1 grid; a VOD's sprite sheet is up to 10×10.
 */
import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import type {Storage} from '../platform/storage.js'

/** Local files: ffmpeg reads them as one (its concat: protocol), the init first. */
export interface FrameSource {
  init: string
  segment: string
}

export interface FrameGridOptions {
  sources: readonly FrameSource[]
  tile: {width: number; height: number}
  columns: number
  rows: number
  /** ffmpeg's JPEG quality scale: 2 (best) to 31. */
  quality?: number
  /** Aborted: ffmpeg gets SIGTERM (SIGKILL 2 s later) and the call throws. */
  signal?: AbortSignal
  ffmpegPath?: string
}

export class FrameError extends Error {
  override name = 'FrameError'
}

/** SIGTERM, then SIGKILL after this long, when the signal aborts. */
const KILL_AFTER_MS = 2000
/** Objects fetched from S3 at once. */
const FETCH_CONCURRENCY = 4

/** ffmpeg's argv: one input per source, the first frame of each scaled into its tile, the grid as one JPEG on stdout. */
export function frameGridArgs({sources, tile, columns, rows, quality = 4}: Omit<FrameGridOptions, 'signal' | 'ffmpegPath'>): string[] {
  if (sources.length === 0) throw new FrameError('no source to take a frame from')
  if (sources.length > columns * rows) throw new FrameError(`${sources.length} frames do not fit a ${columns}×${rows} grid`)
  const {width, height} = tile
  const inputs = sources.flatMap((s) => ['-i', `concat:${s.init}|${s.segment}`])
  const fit = `scale=${width}:${height}:force_original_aspect_ratio=decrease,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2,setsar=1`
  const chains = sources.map((_, i) => `[${i}:v:0]trim=end_frame=1,${fit}[t${i}]`)
  const joined = `${sources.map((_, i) => `[t${i}]`).join('')}concat=n=${sources.length}:v=1:a=0,tile=${columns}x${rows}[grid]`
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...inputs,
    '-filter_complex', [...chains, joined].join(';'),
    '-map', '[grid]', '-frames:v', '1',
    '-c:v', 'mjpeg', '-q:v', String(quality), '-f', 'mjpeg', 'pipe:1',
  ]
}

/** The grid as JPEG bytes. Throws FrameError with ffmpeg's own words, or execa's cancel error when the signal aborts. */
export async function grabFrames(options: FrameGridOptions): Promise<Buffer> {
  const {signal} = options
  signal?.throwIfAborted()
  try {
    const {stdout} = await execa(options.ffmpegPath ?? 'ffmpeg', frameGridArgs(options), {
      encoding: 'buffer',
      stdin: 'ignore',
      forceKillAfterDelay: KILL_AFTER_MS,
      ...(signal === undefined ? {} : {cancelSignal: signal}),
    })
    if (stdout.length === 0) throw new FrameError(`ffmpeg wrote no picture from ${options.sources.length} segment(s)`)
    return Buffer.from(stdout)
  } catch (error) {
    if (signal?.aborted === true || error instanceof FrameError) throw error
    const stderr = (error as {stderr?: Uint8Array}).stderr
    const said = stderr === undefined ? '' : Buffer.from(stderr).toString('utf8').trim()
    throw new FrameError(`ffmpeg could not take frames from ${options.sources.length} segment(s) (first ${options.sources[0]?.segment}): ${said || (error as Error).message}`)
  }
}

/**
 * Copies S3 objects into `dir` (made if missing), a few at a time; answers each key's local
 * path. The same key twice is fetched once.
 */
export async function fetchObjects(storage: Storage, keys: readonly string[], dir: string, signal?: AbortSignal): Promise<Map<string, string>> {
  await mkdir(dir, {recursive: true})
  const unique = [...new Set(keys)]
  const local = new Map(unique.map((key, i) => [key, path.join(dir, `${i}-${path.basename(key)}`)]))
  let next = 0
  const fetchNext = async (): Promise<void> => {
    while (next < unique.length) {
      signal?.throwIfAborted()
      const key = unique[next++]!
      await storage.client.fGetObject(storage.bucket, key, local.get(key)!)
    }
  }
  await Promise.all(Array.from({length: Math.min(FETCH_CONCURRENCY, unique.length)}, fetchNext))
  return local
}
