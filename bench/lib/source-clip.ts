/**
 * The benchmark's stream: 3 Mbit/s 720p30 x264 (CBR-ish, 2 s GOP) + AAC, encoded once and cached,
 * then played in a loop with `-re -c copy` by each publisher. Encoding live would cost the box
 * (2 cores) more CPU than the servers under test, and both sides get byte-identical media.
 */
import {mkdir, rename, stat} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {testCacheDir, requireTool} from '../../test/harness/tools.js'

export interface SourceClip {
  file: string
  seconds: number
  /** Audio + video + container bytes per second, in bits. */
  bitsPerSecond: number
  /** Whether it had to be encoded now (and how long that took). */
  encodedMs: number | undefined
}

export const CLIP_FPS = 30
export const CLIP_GOP_SECONDS = 2

export async function ensureSourceClip(seconds: number): Promise<SourceClip> {
  const file = path.join(testCacheDir(), 'bench', `relay-720p30-3000k-gop2-${seconds}s.mp4`)
  let encodedMs: number | undefined
  const exists = await stat(file).then(() => true, () => false)
  if (!exists) {
    const since = performance.now()
    await mkdir(path.dirname(file), {recursive: true})
    const partial = `${file}.partial.mp4`
    const gop = String(CLIP_FPS * CLIP_GOP_SECONDS)
    await execa(requireTool('ffmpeg'), [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=${CLIP_FPS}`,
      '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
      '-b:v', '3000k', '-maxrate', '3000k', '-bufsize', '3000k',
      '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
      '-movflags', '+faststart',
      partial,
    ], {timeout: 300_000})
    await rename(partial, file)
    encodedMs = performance.now() - since
  }
  const {size} = await stat(file)
  return {file, seconds, bitsPerSecond: (size * 8) / seconds, encodedMs}
}
