import {describe, expect, it} from 'vitest'

import {LiveMeter} from '../../../../appliance/ingest/live-meter.js'
import type {SourcePacket} from '../../../../appliance/ingest/source.js'

const top = {fps: 30, videoKbps: 3000, segmentSeconds: 2}

/** `seconds` of an encoder's output: video at `fps` (a keyframe every `gop` s) and `kbps`, AAC audio at 128 kbit/s. */
function feed(meter: LiveMeter, options: {seconds: number; fps: number; kbps: number; gop: number; start?: number; keepEvery?: number}): number {
  const start = options.start ?? 0
  const frameBytes = Math.round((options.kbps * 1000) / 8 / options.fps)
  const frames = Math.round(options.seconds * options.fps)
  for (let i = 0; i < frames; i++) {
    // keepEvery 2: every other frame never arrives (OBS dropped it).
    if (options.keepEvery !== undefined && i % options.keepEvery !== 0) continue
    const dts = start + Math.round((i * 1000) / options.fps)
    const keyframe = i % Math.round(options.gop * options.fps) === 0
    const video: SourcePacket = {codec_type: 9, codec_id: 7, flags: keyframe ? 3 : 4, dts, pts: dts, size: frameBytes}
    meter.push(video, dts)
    if (i % 2 === 0) meter.push({codec_type: 8, codec_id: 10, flags: 1, dts, pts: dts, size: Math.round(128_000 / 8 / (options.fps / 2))}, dts)
  }
  return start + options.seconds * 1000
}

describe('LiveMeter: what the dashboard shows of the encoder', () => {
  it('a well-set encoder: picture, fps, bitrate and keyframe interval as sent, no warning', () => {
    const meter = new LiveMeter()
    meter.setMetadata({videoWidth: 1280, videoHeight: 720, videoFramerate: 30})
    const end = feed(meter, {seconds: 12, fps: 30, kbps: 3000, gop: 2})
    const stats = meter.stats(end, top)
    expect(stats).toMatchObject({width: 1280, height: 720, keyframeIntervalSeconds: 2, droppedPercent: 0, stalls: 0, warnings: []})
    expect(stats.fps).toBeCloseTo(30, 0)
    expect(stats.videoKbps).toBeGreaterThan(2800)
    expect(stats.videoKbps).toBeLessThan(3200)
    expect(stats.audioKbps).toBeGreaterThan(110)
  })

  it('6 s keyframes and a bitrate far above the ladder: each gets its fix in OBS words', () => {
    const meter = new LiveMeter()
    meter.setMetadata({videoWidth: 1920, videoHeight: 1080, videoFramerate: 30})
    const end = feed(meter, {seconds: 20, fps: 30, kbps: 9000, gop: 6})
    const {warnings, keyframeIntervalSeconds} = meter.stats(end, top)
    expect(keyframeIntervalSeconds).toBe(6)
    expect(warnings).toEqual([
      expect.stringContaining("Set OBS's Keyframe Interval to 2 s"),
      expect.stringContaining("Set OBS's bitrate to about 4500 kbit/s"),
    ])
  })

  it('frames announced but not arriving are dropped frames; a pause in the media is a stall', () => {
    const meter = new LiveMeter()
    meter.setMetadata({videoWidth: 1280, videoHeight: 720, videoFramerate: 30})
    let at = feed(meter, {seconds: 4, fps: 30, kbps: 2500, gop: 2})
    at = feed(meter, {seconds: 10, fps: 30, kbps: 2500, gop: 2, start: at + 3000, keepEvery: 2})
    const stats = meter.stats(at, top)
    expect(stats.droppedPercent).toBeGreaterThanOrEqual(45)
    expect(stats.stalls).toBe(1)
    expect(stats.warnings).toEqual([expect.stringContaining('do not arrive: your upload or your encoder cannot keep up')])
    // Nothing for a few seconds more: the dashboard says so.
    expect(meter.stats(at + 3000, top).warnings).toContain('No video arrived for the last 2 s: check OBS and your connection.')
  })
})
