import {describe, expect, it} from 'vitest'

import {reencodeArgs, reencodedRenditionName, reencodeEncoderName, reencodeVideoArgs} from '../../../../appliance/vods/reencode.js'

const x264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p']
const nvenc = ['-c:v', 'h264_nvenc', '-preset', 'p4', '-tune', 'll', '-rc', 'cbr', '-bf', '0', '-profile:v', 'high']
const vaapi = ['-c:v', 'h264_vaapi', '-rc_mode', 'CBR', '-profile:v', 'high']

describe('the re-encode of a finished broadcast', () => {
  it("names the new rendition so it never lands in a ladder rendition's folder", () => {
    expect(reencodedRenditionName({height: 480, videoKbps: 1000, codec: 'h264'})).toBe('480p-h264-1000k')
    expect(reencodedRenditionName({height: 720, videoKbps: 1500, codec: 'hevc'})).toMatch(/^[a-z0-9][a-z0-9_-]{0,31}$/)
  })

  it("keeps the profile's encoder and drops its live-latency tuning", () => {
    expect(reencodeVideoArgs(x264, 'h264')).toEqual(['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p'])
    expect(reencodeVideoArgs(nvenc, 'h264')).toEqual(['-c:v', 'h264_nvenc', '-preset', 'p4', '-rc', 'cbr', '-bf', '0', '-profile:v', 'high'])
  })

  it("for HEVC: each encoder's HEVC counterpart, the main profile, tagged hvc1", () => {
    expect(reencodeVideoArgs(x264, 'hevc')).toEqual(['-c:v', 'libx265', '-preset', 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-tag:v', 'hvc1'])
    expect(reencodeEncoderName(nvenc, 'hevc')).toBe('hevc_nvenc')
    expect(reencodeEncoderName(vaapi, 'hevc')).toBe('hevc_vaapi')
    expect(reencodeEncoderName(['-c:v', 'h264_qsv', '-preset', 'fast'], 'hevc')).toBe('hevc_qsv')
    expect(() => reencodeVideoArgs(['-c:v', 'libopenh264', '-b:v', '1M'], 'hevc')).toThrow(/no HEVC counterpart/)
  })

  it('one ffmpeg: the profile decodes and scales, fMP4 HLS in the archive form, keyframes on segment boundaries, audio copied', () => {
    const args = reencodeArgs({
      encoder: {kind: 'vaapi', inputArgs: ['-hwaccel', 'vaapi', '-vaapi_device', '/dev/dri/renderD128'], scaleFilter: 'scale_vaapi=w=-2:h={height}:format=nv12', videoArgs: vaapi},
      input: '/w/source/archive.mp4',
      outDir: '/w/out',
      target: {height: 480, videoKbps: 1000, codec: 'h264'},
      height: 360,
      segmentSeconds: 2,
    })
    const at = (flag: string) => args[args.indexOf(flag) + 1]
    expect(args.indexOf('-hwaccel')).toBeLessThan(args.indexOf('-i'))
    expect(at('-i')).toBe('/w/source/archive.mp4')
    expect(at('-vf')).toBe('scale_vaapi=w=-2:h=360:format=nv12')
    expect([at('-c:v'), at('-b:v'), at('-maxrate'), at('-bufsize')]).toEqual(['h264_vaapi', '1000k', '1000k', '2000k'])
    expect(at('-force_key_frames')).toBe('expr:gte(t,n_forced*2)')
    expect(at('-c:a')).toBe('copy')
    expect([at('-f'), at('-hls_time'), at('-hls_segment_type'), at('-hls_fmp4_init_filename'), at('-hls_segment_filename')]).toEqual(['hls', '2', 'fmp4', 'init.mp4', '/w/out/seg%d.m4s'])
    expect(args.at(-1)).toBe('/w/out/index.m3u8')
  })
})
