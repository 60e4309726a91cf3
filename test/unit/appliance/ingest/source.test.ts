import {describe, expect, it} from 'vitest'

import {judgeTracks, SourceInspector, type SourcePacket} from '../../../../appliance/ingest/source.js'

const audioHeader: SourcePacket = {codec_type: 8, codec_id: 10, flags: 0, dts: 0, pts: 0, size: 4}
const audio = (dts: number): SourcePacket => ({codec_type: 8, codec_id: 10, flags: 1, dts, pts: dts, size: 300})
const videoHeader: SourcePacket = {codec_type: 9, codec_id: 7, flags: 2, dts: 0, pts: 0, size: 40}
const frame = (dts: number, key: boolean, cts = 0): SourcePacket => ({codec_type: 9, codec_id: 7, flags: key ? 3 : 4, dts, pts: dts + cts, size: 5000})

describe('SourceInspector', () => {
  it('knows the tracks once both headers came, or one track and media for a while without the other', () => {
    const both = new SourceInspector(0)
    both.push(videoHeader, 10)
    expect(both.tracks(20)).toBeUndefined()
    both.push(audioHeader, 20)
    expect(both.tracks(30)).toEqual({video: {codec: 'h264', codecId: 7}, audio: {codec: 'aac', codecId: 10}})

    const radio = new SourceInspector(0)
    radio.push(audioHeader, 10)
    radio.push(audio(0), 20)
    expect(radio.tracks(1000)).toBeUndefined() // a video header may still come
    expect(radio.tracks(1600)).toEqual({audio: {codec: 'aac', codecId: 10}})

    const declared = new SourceInspector(0)
    declared.setMetadata({audioCodec: 10})
    declared.push(audioHeader, 10)
    expect(declared.tracks(20)).toEqual({audio: {codec: 'aac', codecId: 10}}) // the metadata says there is no video

    const nothing = new SourceInspector(0)
    expect(nothing.tracks(4000)).toBeUndefined()
    expect(nothing.tracks(5000)).toEqual({})
  })

  it('names what hurts: the keyframe interval, B-frames, more fps than the ladder, a bitrate far above its top', () => {
    const s = new SourceInspector(0)
    s.setMetadata({videoCodec: 7, videoFramerate: 60, videoDatarate: 9000})
    for (let t = 0; t <= 20_000; t += 1000 / 60) s.push(frame(Math.round(t), Math.round(t) % 10_000 === 0, 33), t)
    expect(s.settled()).toBe(true)
    const warnings = s.warnings({fps: 30, videoKbps: 2500, segmentSeconds: 2})
    expect(warnings).toEqual([
      "keyframes every 10.0 s, far from the 2 s segments: set OBS's Keyframe Interval to 2 s",
      "B-frames in the video: they add latency the ladder cannot remove; set OBS's B-frames to 0 (or the x264 tune to zerolatency)",
      "60 fps into a 30 fps ladder: the extra frames are dropped after costing the upload; set OBS's FPS to 30",
      "video at 9000 kbit/s, far above the ladder's top (2500 kbit/s): set OBS's bitrate to about 3750 kbit/s",
    ])
    const good = new SourceInspector(0)
    for (let t = 0; t <= 8000; t += 1000 / 30) good.push(frame(Math.round(t), Math.round(t) % 2000 === 0), t)
    expect(good.warnings({fps: 30, videoKbps: 2500, segmentSeconds: 2})).toEqual([])
  })
})

describe('judgeTracks', () => {
  it('takes H.264 with AAC or MP3, audio only or video only; refuses other codecs and nothing at all, saying what to set', () => {
    expect(judgeTracks({video: {codec: 'h264', codecId: 7}}).ok).toBe(true)
    expect(judgeTracks({audio: {codec: 'mp3', codecId: 2}}).ok).toBe(true)
    expect(judgeTracks({})).toMatchObject({ok: false, reason: expect.stringContaining('No audio or video arrived')})
    expect(judgeTracks({video: {codec: 'hevc', codecId: 12}})).toMatchObject({ok: false, reason: 'Video in HEVC (H.265) is not supported: set the encoder to H.264 (x264, NVENC H.264)'})
    expect(judgeTracks({video: {codec: 'h264', codecId: 7}, audio: {codec: 'speex', codecId: 11}})).toMatchObject({ok: false, reason: 'Audio in Speex is not supported: set the audio encoder to AAC'})
  })
})
