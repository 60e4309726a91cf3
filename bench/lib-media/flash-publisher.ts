/**
 * A camera whose frames we draw ourselves: Node writes raw 720p frames at 30 fps into a FIFO that
 * ffmpeg reads, encodes like OBS (x264 veryfast zerolatency, 2 s GOP, 3 Mbit/s + AAC) and pushes
 * over RTMP. Once a second the frame is white with the flash's number in a band of 8 black/white
 * blocks, and we note Date.now() when that frame entered the pipe: the "glass" instant. The pipe
 * holds less than one frame (64 KiB), so a frame enters ffmpeg when it is written.
 */
import {once} from 'node:events'
import {createWriteStream, type WriteStream} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {execa} from 'execa'

import {startProcess, tempDir, type ManagedProcess} from '../../test/harness/process.js'
import {requireTool} from '../../test/harness/tools.js'

export const FRAME_WIDTH = 1280
export const FRAME_HEIGHT = 720
export const FPS = 30
/** Rows of the id band; blocks are FRAME_WIDTH / ID_BITS wide. */
export const ID_BAND = {top: 600, bottom: 680}
export const ID_BITS = 8
const DARK = 24
const WHITE = 235
const BLACK = 16

export interface FlashPublisherOptions {
  /** Where ffmpeg sends the stream: an RTMP URL (FLV, as OBS), or with `matroska` a tcp:// one. */
  url: string
  /**
   * flv: H.264 + AAC over RTMP, as OBS sends it. matroska: H.264 + Opus in Matroska with a
   * cluster every 250 ms, as Chromium's MediaRecorder records for the Go-live page.
   */
  format?: 'flv' | 'matroska'
  /** A flash every this many frames (30: once a second). */
  flashEveryFrames?: number
  /** Frames each flash lasts: more than one, so a dropped frame in the player does not lose it. */
  flashFrames?: number
}

export interface FlashPublisher {
  /** Date.now() when each flash's first frame was written, by id (ids wrap at 2^ID_BITS). */
  readonly flashes: Map<number, number>
  /** How late frames were written against their schedule: the largest lag so far, ms. */
  maxLagMs(): number
  stop(): Promise<void>
}

function drainedOrClosed(sink: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (sink.destroyed) {
      resolve()
      return
    }
    const done = (): void => {
      sink.off('drain', done)
      sink.off('close', done)
      resolve()
    }
    sink.on('drain', done)
    sink.on('close', done)
  })
}

function frame(index: number, flashId: number | undefined): Buffer {
  const pixels = Buffer.alloc(FRAME_WIDTH * FRAME_HEIGHT, flashId === undefined ? DARK : WHITE)
  if (flashId === undefined) {
    // A moving bar: the encoder has motion to code, as with a camera.
    const x0 = (index * 8) % (FRAME_WIDTH - 80)
    for (let y = 0; y < FRAME_HEIGHT; y++) pixels.fill(64, y * FRAME_WIDTH + x0, y * FRAME_WIDTH + x0 + 80)
    return pixels
  }
  const block = FRAME_WIDTH / ID_BITS
  for (let bit = 0; bit < ID_BITS; bit++) {
    if ((flashId >> bit) & 1) continue
    for (let y = ID_BAND.top; y < ID_BAND.bottom; y++) pixels.fill(BLACK, y * FRAME_WIDTH + bit * block, y * FRAME_WIDTH + (bit + 1) * block)
  }
  return pixels
}

export async function startFlashPublisher({url, format = 'flv', flashEveryFrames = FPS, flashFrames = 3}: FlashPublisherOptions): Promise<FlashPublisher> {
  const dir = await tempDir('flash-publisher')
  const fifo = path.join(dir.dir, 'frames.gray')
  await execa('mkfifo', [fifo])
  // Opening a FIFO for writing waits for its reader: ffmpeg, started below.
  const sink = createWriteStream(fifo)
  const opened = once(sink, 'open')
  // EPIPE once ffmpeg is gone (stopped or failed) is expected; ffmpeg's own exit tells why.
  sink.on('error', () => undefined)
  const gop = String(FPS * 2)
  let ffmpeg: ManagedProcess | undefined
  const flashes = new Map<number, number>()
  let maxLag = 0
  let running = true
  const ffmpegStarting = startProcess({
    name: 'ffmpeg flash publisher',
    command: requireTool('ffmpeg'),
    args: [
      '-hide_banner', '-nostdin', '-loglevel', 'warning', '-stats',
      '-thread_queue_size', '64',
      '-f', 'rawvideo', '-pix_fmt', 'gray', '-video_size', `${FRAME_WIDTH}x${FRAME_HEIGHT}`, '-framerate', String(FPS), '-i', fifo,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency',
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
      '-b:v', '3000k', '-maxrate', '3000k', '-bufsize', '3000k', '-pix_fmt', 'yuv420p',
      ...(format === 'flv'
        ? ['-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-f', 'flv', url]
        : ['-c:a', 'libopus', '-b:a', '128k', '-ar', '48000', '-f', 'matroska', '-cluster_time_limit', '250', '-flush_packets', '1', url]),
    ],
    ready: {log: /frame=\s*[1-9]/},
    timeoutMs: 20_000,
  })
  // Frames must flow before ffmpeg reports any: write them while it starts.
  const writing = (async () => {
    await opened
    const start = performance.now()
    for (let index = 0; running; index++) {
      const due = start + (index * 1000) / FPS
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      if (!running || sink.destroyed) break
      maxLag = Math.max(maxLag, performance.now() - due)
      const cycle = index % flashEveryFrames
      const id = cycle < flashFrames ? Math.floor(index / flashEveryFrames) % 2 ** ID_BITS : undefined
      if (id !== undefined && cycle === 0) flashes.set(id, Date.now())
      if (!sink.write(frame(index, id))) await drainedOrClosed(sink)
      if (sink.destroyed) break
    }
  })().catch(() => undefined)
  try {
    ffmpeg = await ffmpegStarting
  } catch (error) {
    running = false
    sink.destroy()
    await dir.remove()
    throw error
  }
  return {
    flashes,
    maxLagMs: () => maxLag,
    stop: async () => {
      running = false
      sink.destroy()
      await writing
      await ffmpeg?.stop()
      await dir.remove()
    },
  }
}
