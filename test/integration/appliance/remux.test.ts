import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {remuxToMp4, RemuxError} from '../../../appliance/media/remux.js'
import {tempDir} from '../../harness/process.js'
import {requireTool} from '../../harness/tools.js'

/**
 * The remux library with the real ffmpeg: fMP4 segments as the ladder makes them (keyframes on
 * 2 s boundaries, muxed AAC) become one MP4 that starts at 0, with its moov before its mdat.
 * (The S3 side runs in clips.test.ts, against MinIO.)
 */

let work: {dir: string; remove: () => Promise<void>}
const ffmpeg = requireTool('ffmpeg')
const ffprobe = requireTool('ffprobe')

/** Top-level MP4 boxes in order. */
async function topBoxes(file: string): Promise<string[]> {
  const {readFile} = await import('node:fs/promises')
  const data = await readFile(file)
  const boxes: string[] = []
  for (let i = 0; i + 8 <= data.length; ) {
    const size = data.readUInt32BE(i)
    boxes.push(data.toString('latin1', i + 4, i + 8))
    if (size < 8) break
    i += size
  }
  return boxes
}

beforeAll(async () => {
  work = await tempDir('remux')
  // 20 s of 2 s fMP4 segments, as an HLS archive: init.mp4 + seg0.m4s … seg9.m4s.
  await execa(ffmpeg, [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-bf', '0',
    '-c:a', 'aac', '-f', 'hls', '-hls_segment_type', 'fmp4', '-hls_time', '2', '-hls_playlist_type', 'vod',
    '-hls_segment_filename', path.join(work.dir, 'seg%d.m4s'), path.join(work.dir, 'index.m3u8'),
  ])
})

afterAll(async () => {
  await work?.remove()
})

const segs = (from: number, to: number): string[] => Array.from({length: to - from + 1}, (_, i) => path.join(work.dir, `seg${from + i}.m4s`))

describe('remuxToMp4', () => {
  it('copies segments from the middle of a broadcast into a faststart MP4 that starts at 0', async () => {
    const result = await remuxToMp4({initKey: path.join(work.dir, 'init.mp4'), segmentKeys: segs(3, 7), workDir: path.join(work.dir, 'out'), ffmpegPath: ffmpeg, ffprobePath: ffprobe})
    expect(result.durationSeconds).toBeGreaterThan(9.9)
    expect(result.durationSeconds).toBeLessThan(10.2)
    expect(result.bytes).toBeGreaterThan(10_000)
    const boxes = await topBoxes(result.file)
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'))
    const {stdout} = await execa(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=start_time,codec_name', '-of', 'csv=p=0', result.file])
    const [codec, start] = stdout.trim().split(',')
    expect(codec).toBe('h264')
    expect(Number(start)).toBeLessThan(0.05)
  })

  it("says what ffmpeg said when the input is not media", async () => {
    const bad = path.join(work.dir, 'not-media.mp4')
    await writeFile(bad, 'this is not an MP4')
    await expect(remuxToMp4({initKey: bad, segmentKeys: segs(0, 1), workDir: path.join(work.dir, 'bad'), ffmpegPath: ffmpeg, ffprobePath: ffprobe})).rejects.toThrow(RemuxError)
  })

  it('fails (rather than writing a short MP4) when a segment cannot be read', async () => {
    const missing = [...segs(0, 1), path.join(work.dir, 'seg999.m4s')]
    await expect(remuxToMp4({initKey: path.join(work.dir, 'init.mp4'), segmentKeys: missing, workDir: path.join(work.dir, 'missing'), ffmpegPath: ffmpeg, ffprobePath: ffprobe})).rejects.toThrow(/reading the segments failed/)
  })

  it('stops ffmpeg when the signal aborts', async () => {
    const controller = new AbortController()
    controller.abort(new Error('worker stopping'))
    await expect(remuxToMp4({initKey: path.join(work.dir, 'init.mp4'), segmentKeys: segs(0, 9), workDir: path.join(work.dir, 'aborted'), signal: controller.signal, ffmpegPath: ffmpeg})).rejects.toThrow(/worker stopping/)
  })
})
