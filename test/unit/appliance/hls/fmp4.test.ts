import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Fmp4Reader, type Fragment, type InitSegment} from '../../../../appliance/hls/fmp4.js'
import {fragmentFlags} from '../../../../appliance/hls/ladder.js'
import {tempDir} from '../../../harness/process.js'
import {requireTool} from '../../../harness/tools.js'

let bytes: Buffer
let probed: {profile: string; level: number; width: number; height: number}
let cleanup: (() => Promise<void>) | undefined

// Real bytes: 5 s of ffmpeg's test pattern and a tone, muxed the way the ladder muxes them
// (GOP 2 s at 30 fps, no B-frames, a fragment at each keyframe and every 0.5 s).
beforeAll(async () => {
  const dir = await tempDir('fmp4')
  cleanup = dir.remove
  const file = path.join(dir.dir, 'out.mp4')
  await execa(requireTool('ffmpeg'), [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=5',
    '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000:duration=5',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-bf', '0', '-force_key_frames', 'expr:gte(t,n_forced*2)',
    '-c:a', 'aac', '-b:a', '64k', '-avoid_negative_ts', 'disabled',
    '-f', 'mp4', '-movflags', fragmentFlags, '-frag_duration', '500000', file,
  ])
  bytes = await readFile(file)
  const {stdout} = await execa(requireTool('ffprobe'), ['-v', 'error', '-select_streams', 'v:0', '-show_streams', '-of', 'json', file])
  probed = (JSON.parse(stdout) as {streams: [typeof probed]}).streams[0]
})
afterAll(async () => {
  await cleanup?.()
})

function read(chunkSize: number): {init: InitSegment | undefined; fragments: Fragment[]; reader: Fmp4Reader} {
  const reader = new Fmp4Reader()
  let init: InitSegment | undefined
  const fragments: Fragment[] = []
  reader.on('init', (i) => {
    init = i
  })
  reader.on('fragment', (f) => fragments.push(f))
  for (let at = 0; at < bytes.length; at += chunkSize) reader.push(bytes.subarray(at, at + chunkSize))
  return {init, fragments, reader}
}

describe('Fmp4Reader on ffmpeg output', () => {
  it('emits the init segment with each track’s timescale, codec and size', () => {
    const {init} = read(65_536)
    expect(init).toBeDefined()
    expect(init!.bytes.toString('latin1', 4, 8)).toBe('ftyp')
    const video = init!.tracks.find((t) => t.kind === 'video')
    const audio = init!.tracks.find((t) => t.kind === 'audio')
    expect(video).toMatchObject({width: 320, height: 240})
    // What ffprobe says of the same file: High profile (0x64), its level as the last byte.
    expect(probed.profile).toBe('High')
    expect(video!.codec).toMatch(new RegExp(`^avc1\\.64[0-9a-f]{2}${probed.level.toString(16).padStart(2, '0')}$`))
    expect(video!.timescale).toBeGreaterThan(0)
    expect(audio).toMatchObject({codec: 'mp4a.40.2', timescale: 48000})
  })

  it('emits every fragment with its decode time, a duration of one part, and keyframes every 2 s', () => {
    const {init, fragments, reader} = read(65_536)
    expect(reader.pendingBytes).toBe(0)
    // Nothing lost, nothing added: init + fragments are the file.
    expect(Buffer.concat([init!.bytes, ...fragments.map((f) => f.bytes)]).equals(bytes)).toBe(true)
    expect(fragments.length).toBeGreaterThanOrEqual(10)
    for (const [i, f] of fragments.entries()) {
      expect(f.bytes.toString('latin1', 4, 8)).toBe('moof')
      expect(f.tracks).toHaveLength(2)
      if (i < fragments.length - 1) {
        expect(f.duration).toBeCloseTo(0.5, 6)
        // Contiguous: the next fragment starts where this one ends.
        expect(fragments[i + 1]!.decodeTime).toBeCloseTo(f.decodeTime + f.duration, 3)
      }
    }
    const keyframeTimes = fragments.filter((f) => f.keyframe).map((f) => Math.round(f.decodeTime))
    expect(keyframeTimes).toEqual([0, 2, 4])
    expect(fragments[0]!.keyframe).toBe(true)
  })

  it('gives the same result whatever size the pipe’s chunks are', () => {
    const big = read(1 << 20)
    const small = read(997)
    expect(small.fragments.map((f) => [f.sequence, f.decodeTime, f.duration, f.keyframe])).toEqual(
      big.fragments.map((f) => [f.sequence, f.decodeTime, f.duration, f.keyframe]),
    )
  })

  it('refuses a stream that is not fragmented MP4', () => {
    const reader = new Fmp4Reader()
    expect(() => reader.push(Buffer.from('\0\0\0\x10moofxxxxxxxx', 'latin1'))).toThrow(/moof before the moov/)
    expect(() => new Fmp4Reader().push(Buffer.from('\0\0\0\x02ftyp', 'latin1'))).toThrow(/impossible size/)
  })
})
