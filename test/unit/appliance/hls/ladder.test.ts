import {beforeAll, describe, expect, it} from 'vitest'

import {constrainedBaseline, ladderArgs, ladderRungs} from '../../../../appliance/hls/ladder.js'
import type {HardwareProfile} from '../../../../appliance/contract/hardware-profile.js'
import {findProfile, loadProfiles} from '../../../../src/hardware/profiles.js'

let profiles: HardwareProfile[]
beforeAll(async () => {
  profiles = await loadProfiles()
})

/** The argv of one output: from its first -map to its pipe. */
function outputArgs(args: string[], fd: number): string[] {
  const end = args.indexOf(`pipe:${fd}`)
  let start = end
  while (start > 0 && !(args[start] === '-map' && args[start + 1]?.startsWith('[v'))) start -= 1
  return args.slice(start, end + 1)
}

const valueOf = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1]

describe('ladderArgs', () => {
  it('decodes the RTMP input once and splits it into every rendition of cpu-small', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const {args, outputs} = ladderArgs({profile, input: 'rtmp://127.0.0.1:1935/live/abc'})
    expect(args.filter((a) => a === '-i')).toHaveLength(1)
    expect(valueOf(args, '-i')).toBe('rtmp://127.0.0.1:1935/live/abc')
    expect(valueOf(args, '-filter_complex')).toBe(
      '[0:v:0]split=3[s0][s1][s2];' +
        '[s0]fps=30,scale=-2:720[v0];[s1]fps=30,scale=-2:480[v1];[s2]fps=30,scale=-2:360[v2]',
    )
    expect(outputs.map((o) => [o.rendition.name, o.fd])).toEqual([['720p', 3], ['480p', 4], ['360p', 5]])
    // Progress for the ingest's load on stdout, no interactive stats on stderr.
    expect(args.slice(0, 12)).toEqual(expect.arrayContaining(['-nostdin', '-nostats', '-progress', 'pipe:1']))
  })

  it('gives each rendition its bitrate, a segment-long GOP with forced keyframes, AAC and a fragmented MP4 pipe', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const {args} = ladderArgs({profile, input: 'rtmp://x/live/k'})
    expect(outputArgs(args, 4)).toEqual([
      '-map', '[v1]', '-map', '0:a:0?',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
      '-b:v', '1000k', '-maxrate', '1000k', '-bufsize', '2000k',
      '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-bf', '0',
      '-force_key_frames', 'expr:gte(t,n_forced*2)',
      '-c:a', 'aac', '-b:a', '96k', '-ar', '48000', '-ac', '2',
      '-avoid_negative_ts', 'disabled',
      '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof+skip_trailer', '-frag_duration', '500000',
      'pipe:4',
    ])
  })

  it('uses the profile encoder: hardware input args before -i, its scale filter and GOP per fps', () => {
    const profile = findProfile(profiles, 'nvidia-nvenc')
    const {args, outputs} = ladderArgs({profile, input: 'rtmp://x/live/k', firstFd: 7})
    expect(args.slice(args.indexOf('-hwaccel'), args.indexOf('-i'))).toEqual(['-hwaccel', 'cuda', '-hwaccel_output_format', 'cuda'])
    expect(valueOf(args, '-filter_complex')).toContain('[s0]fps=60,scale_cuda=-2:1080[v0]')
    expect(outputs.map((o) => o.fd)).toEqual([7, 8, 9, 10])
    expect(valueOf(outputArgs(args, 7), '-g')).toBe('120')
    expect(valueOf(outputArgs(args, 9), '-g')).toBe('60')
    expect(outputArgs(args, 7)).toContain('h264_nvenc')
  })

  it('puts extra input args (a test source) right before -i', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const {args} = ladderArgs({profile: {...profile, ladder: profile.ladder.slice(0, 1)}, input: 'testsrc2', inputArgs: ['-re', '-f', 'lavfi']})
    expect(args.slice(args.indexOf('-i') - 3, args.indexOf('-i') + 2)).toEqual(['-re', '-f', 'lavfi', '-i', 'testsrc2'])
    expect(valueOf(args, '-filter_complex')).toBe('[0:v:0]null[s0];[s0]fps=30,scale=-2:720[v0]')
  })
})

describe('the ladder for what the source sends', () => {
  it('audio only: one AAC rendition per distinct audio bitrate, no video, no filter graph', () => {
    const profile = findProfile(profiles, 'cpu-small')
    expect(ladderRungs(profile, {video: false, audio: true}).map((r) => [r.name, r.audioKbps, r.height])).toEqual([
      ['a128', 128, 0],
      ['a96', 96, 0],
      ['a64', 64, 0],
    ])
    const {args, outputs} = ladderArgs({profile, input: 'rtmp://x/live/k', tracks: {video: false, audio: true}})
    expect(args).not.toContain('-filter_complex')
    expect(args).not.toContain('libx264')
    expect(outputs.map((o) => o.fd)).toEqual([3, 4, 5])
    const first = args.slice(args.indexOf('-map'), args.indexOf('pipe:3') + 1)
    expect(first).toEqual(expect.arrayContaining(['-map', '0:a:0', '-vn', '-c:a', 'aac', '-b:a', '128k', '-f', 'mp4']))
  })

  it('a shed ladder encodes only the rungs it keeps', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const {outputs, args} = ladderArgs({profile, input: 'rtmp://x/live/k', rungs: profile.ladder.slice(1)})
    expect(outputs.map((o) => o.rendition.name)).toEqual(['480p', '360p'])
    expect(valueOf(args, '-filter_complex')).toBe('[0:v:0]split=2[s0][s1];[s0]fps=30,scale=-2:480[v0];[s1]fps=30,scale=-2:360[v1]')
  })

  it('with real time on, tees the top rendition to RTP (parameter sets before keyframes), adds an Opus RTP output, and keeps its SDP off stdout', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const realtime = {port: 40_002, videoSsrc: 1111, audioSsrc: 2222}
    const {args, outputs} = ladderArgs({profile, input: 'rtmp://x/live/k', realtime})
    expect(outputs.map((o) => o.fd)).toEqual([3, 4, 5])
    const tee = args[args.indexOf('tee') + 1]!
    expect(tee).toBe(
      '[f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof+skip_trailer:frag_duration=500000:avoid_negative_ts=disabled]pipe:3|' +
        '[f=rtp:select=v:onfail=ignore:bsfs/v=dump_extra:payload_type=102:ssrc=1111]rtp://127.0.0.1:40002?pkt_size=1200&rtcpport=40002',
    )
    // The MP4 needs the encoders' headers out of band: the tee output asks for them.
    expect(args.slice(args.indexOf('tee') - 8, args.indexOf('tee'))).toEqual(expect.arrayContaining(['-flags', '+global_header']))
    // Constrained Baseline at the top (what every WebRTC player decodes); High below.
    expect(args.slice(args.indexOf('[v0]'), args.indexOf('tee'))).toEqual(expect.arrayContaining(['-profile:v', 'baseline']))
    expect(outputArgs(args, 4)).toEqual(expect.arrayContaining(['-profile:v', 'high']))
    expect(constrainedBaseline(['-c:v', 'h264_vaapi', '-rc_mode', 'CBR', '-profile:v', 'high'])).toEqual(['-c:v', 'h264_vaapi', '-rc_mode', 'CBR', '-profile:v', 'constrained_baseline'])
    // Only the top rendition is teed; the others stay plain MP4 pipes.
    expect(args.filter((a) => a === 'tee')).toHaveLength(1)
    expect(args).toContain('pipe:4')
    const opus = args.slice(args.indexOf('libopus') - 4)
    expect(opus.slice(0, 3)).toEqual(['-map', '0:a:0', '-vn'])
    expect(valueOf(opus, '-payload_type')).toBe('111')
    expect(valueOf(opus, '-ssrc')).toBe('2222')
    expect(valueOf(opus, '-f')).toBe('rtp')
    expect(args.slice(-2)).toEqual(['-sdp_file', '/dev/null'])
  })

  it('with real time on and no audio track, sends the video only (no Opus output, no SDP file, which ffmpeg refuses without an RTP output)', () => {
    const profile = findProfile(profiles, 'cpu-small')
    const {args} = ladderArgs({profile, input: 'rtmp://x/live/k', tracks: {video: true, audio: false}, realtime: {port: 40_004, videoSsrc: 1, audioSsrc: 2}})
    expect(args).toContain('tee')
    expect(args).not.toContain('libopus')
    expect(args).not.toContain('-sdp_file')
  })
})
