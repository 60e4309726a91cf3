import type {HardwareProfile, Rendition} from '../contract/hardware-profile.js'
import {REALTIME_AUDIO_KBPS, REALTIME_CODECS} from '../contract/whep.js'

/** What the ladder needs of a hardware profile. */
export type LadderProfile = Pick<HardwareProfile, 'encoder' | 'ladder' | 'hls'>

/** Which tracks the source has: the ladder encodes what is there. */
export interface LadderTracks {
  video: boolean
  audio: boolean
}

/**
 * The rungs for a source's tracks: the profile's ladder for video; for an audio-only source one
 * audio rendition per distinct audio bitrate of the ladder (a128, a96, …; height and fps 0).
 */
export function ladderRungs(profile: Pick<HardwareProfile, 'ladder'>, tracks: LadderTracks): Rendition[] {
  if (tracks.video) return profile.ladder
  const bitrates = [...new Set(profile.ladder.map((r) => r.audioKbps))].sort((a, b) => b - a)
  return bitrates.map((kbps) => ({name: `a${kbps}`, height: 0, fps: 0, videoKbps: 0, audioKbps: kbps}))
}

export interface LadderOptions {
  profile: LadderProfile
  /** rtmp://127.0.0.1:<port>/live/<key>, or anything ffmpeg reads. */
  input: string
  /** The source's tracks (default: video and audio; audio is optional when video is there). */
  tracks?: LadderTracks
  /** The rungs to encode (default: ladderRungs for the tracks); a shed ladder has fewer. */
  rungs?: Rendition[]
  /** Arguments before `-i` besides the profile's (a test feeds `-re -f lavfi`). */
  inputArgs?: string[]
  /** The first rendition goes to this file descriptor, the next to fd + 1, … */
  firstFd?: number
  /** Real-time playback: the top rendition's video, and the audio in Opus, also as RTP to this local port. */
  realtime?: RealtimeOutput
}

/** Where the ladder sends its real-time RTP (the ingest forwards it to the SFU), and the SSRCs it uses. */
export interface RealtimeOutput {
  port: number
  videoSsrc: number
  audioSsrc: number
}

export interface LadderOutput {
  rendition: Rendition
  /** The child's file descriptor that carries this rendition's fragmented MP4. */
  fd: number
}

export interface LadderCommand {
  /** ffmpeg's argv, without the program. */
  args: string[]
  outputs: LadderOutput[]
}

/**
 * The muxer flags of every rendition: a fragmented MP4 on a pipe (no seeking back), the moov up
 * front with no samples, a new fragment at each keyframe and at least every part, tfdt-relative
 * offsets (what MSE and Safari expect of CMAF-style media) and no mfra index at the end.
 */
export const fragmentFlags = '+frag_keyframe+empty_moov+default_base_moof+skip_trailer'

/** Quiet, no stdin, and -progress key=value lines on stdout every second (the ingest's load figures). */
const PROGRESS_ARGS = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '1']

/**
 * ffmpeg argv for one live stream's ABR ladder. The input is decoded once and split; each
 * rendition is scaled, encoded with the profile's encoder at its own bitrate and frame rate,
 * and written, video and audio muxed together, as fragmented MP4 to its own pipe.
 *
 * - GOP = fps × segmentSeconds, and keyframes are forced on segment boundaries (no scene-cut
 *   keyframes, no B-frames) so every segment of every rendition starts on a keyframe at the same
 *   instant: players switch renditions on segment boundaries.
 * - A fragment is at most one part long (`-frag_duration`): each fragment becomes one LL-HLS part.
 *   With whole fps the mp4 timescale (15360) holds a part exactly, so parts are whole frames.
 * - Audio is encoded once per rendition (AAC at the rendition's audioKbps) and muxed with its
 *   video: one playlist per rendition, no alternate audio group. hls.js and Safari both play
 *   muxed fMP4, and a low rendition gets a lower audio bitrate too. Decoding happens once; an
 *   AAC encode costs about 1% of one core, nothing next to the video.
 * - progress goes to stdout as key=value lines (`speed=1.01x`): the ingest's load figure.
 */
export function ladderArgs({profile, input, inputArgs = [], firstFd = 3, tracks = {video: true, audio: true}, rungs, realtime}: LadderOptions): LadderCommand {
  const ladder = rungs ?? ladderRungs(profile, tracks)
  if (!tracks.video) return audioLadderArgs({profile, input, inputArgs, firstFd, ladder})
  const {encoder, hls} = profile
  const n = ladder.length
  const split = n === 1 ? '[0:v:0]null[s0]' : `[0:v:0]split=${n}${ladder.map((_, i) => `[s${i}]`).join('')}`
  const chains = ladder.map((r, i) => `[s${i}]fps=${r.fps},${encoder.scaleFilter.replaceAll('{height}', String(r.height))}[v${i}]`)
  const args = [
    ...PROGRESS_ARGS,
    ...encoder.inputArgs,
    ...inputArgs,
    '-i', input,
    '-filter_complex', [split, ...chains].join(';'),
  ]
  const outputs: LadderOutput[] = []
  for (const [i, r] of ladder.entries()) {
    const fd = firstFd + i
    const gop = String(r.fps * hls.segmentSeconds)
    const fragMicros = Math.round(hls.partSeconds * 1_000_000)
    args.push(
      '-map', `[v${i}]`, '-map', '0:a:0?',
      ...(i === 0 && realtime !== undefined ? constrainedBaseline(encoder.videoArgs) : encoder.videoArgs),
      '-b:v', `${r.videoKbps}k`, '-maxrate', `${r.videoKbps}k`, '-bufsize', `${r.videoKbps * 2}k`,
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-bf', '0',
      '-force_key_frames', `expr:gte(t,n_forced*${hls.segmentSeconds})`,
      ...(i === 0 && realtime !== undefined ? audioAndTee(r, fragMicros, fd, realtime) : audioAndMuxer(r, fragMicros, fd)),
    )
    outputs.push({rendition: r, fd})
  }
  // The RTP muxer prints its SDP on stdout, where the progress lines go: the ingest knows what it
  // sends. (Only an rtp output has one: with none, -sdp_file is an error.)
  if (realtime !== undefined && tracks.audio) args.push(...realtimeAudio(realtime), '-sdp_file', '/dev/null')
  return {args, outputs}
}

/** Each encoder's name for H.264 Constrained Baseline (x264's baseline is constrained: it has no FMO or ASO). */
const BASELINE: Record<string, string> = {libx264: 'baseline', h264_nvenc: 'baseline', h264_qsv: 'baseline', h264_vaapi: 'constrained_baseline'}

/**
 * The profile's encoder arguments with its H.264 profile set to Constrained Baseline: what every
 * WebRTC player decodes (REALTIME_CODECS). The top rendition of a real-time channel is encoded so,
 * for its LL-HLS viewers too (one encode for both; about a tenth more bits for the same picture).
 */
export function constrainedBaseline(videoArgs: readonly string[]): string[] {
  const encoder = videoArgs[videoArgs.indexOf('-c:v') + 1] ?? ''
  const profile = BASELINE[encoder] ?? 'baseline'
  const at = videoArgs.indexOf('-profile:v')
  return at === -1 ? [...videoArgs, '-profile:v', profile] : videoArgs.map((arg, i) => (i === at + 1 ? profile : arg))
}

/** RTP to the ingest's forwarder: packets that fit a WebRTC path, RTCP on the same port (rtcp-mux). */
const rtpUrl = (port: number): string => `rtp://127.0.0.1:${port}?pkt_size=1200&rtcpport=${port}`

/**
 * The top rendition, written twice by the tee muxer from one encode: its fragmented MP4 (as the
 * others') and its video as RTP for real-time playback. The encoder writes its parameter sets
 * once (global header, which MP4 needs); dump_extra repeats them before each keyframe of the RTP,
 * so that a viewer who starts mid-stream can decode. An RTP send that fails costs only itself.
 */
function audioAndTee(r: Rendition, fragMicros: number, fd: number, realtime: RealtimeOutput): string[] {
  const {video} = REALTIME_CODECS
  const mp4 = `[f=mp4:movflags=${fragmentFlags}:frag_duration=${fragMicros}:avoid_negative_ts=disabled]pipe:${fd}`
  const rtp = `[f=rtp:select=v:onfail=ignore:bsfs/v=dump_extra:payload_type=${video.payloadType}:ssrc=${realtime.videoSsrc}]${rtpUrl(realtime.port)}`
  return [
    '-c:a', 'aac', '-b:a', `${r.audioKbps}k`, '-ar', '48000', '-ac', '2',
    '-flags', '+global_header', '-avoid_negative_ts', 'disabled',
    '-f', 'tee', `${mp4}|${rtp}`,
  ]
}

/** The audio once more, in Opus (what WebRTC plays), as RTP beside the top rendition's video. */
function realtimeAudio(realtime: RealtimeOutput): string[] {
  const {audio} = REALTIME_CODECS
  return [
    '-map', '0:a:0', '-vn',
    '-c:a', 'libopus', '-b:a', `${REALTIME_AUDIO_KBPS}k`, '-ar', '48000', '-ac', '2', '-application', 'lowdelay', '-frame_duration', '20',
    '-payload_type', String(audio.payloadType), '-ssrc', String(realtime.audioSsrc),
    '-f', 'rtp', rtpUrl(realtime.port),
  ]
}

/** Each rendition's AAC and its fragmented MP4 pipe (fragments at most one part long). */
function audioAndMuxer(r: Rendition, fragMicros: number, fd: number): string[] {
  return [
    '-c:a', 'aac', '-b:a', `${r.audioKbps}k`, '-ar', '48000', '-ac', '2',
    // The default (make_non_negative) shifts video by AAC's priming and stretches the first
    // sample by 21 ms: the first part would outgrow PART-TARGET.
    '-avoid_negative_ts', 'disabled',
    '-f', 'mp4', '-movflags', fragmentFlags, '-frag_duration', String(fragMicros),
    `pipe:${fd}`,
  ]
}

/** An audio-only source: one AAC encode per rung, each its own fragmented MP4 (fragments of one part). */
function audioLadderArgs(options: {profile: LadderProfile; input: string; inputArgs: string[]; firstFd: number; ladder: Rendition[]}): LadderCommand {
  const {profile, input, inputArgs, firstFd, ladder} = options
  const args = [...PROGRESS_ARGS, ...inputArgs, '-i', input]
  const outputs: LadderOutput[] = []
  const fragMicros = Math.round(profile.hls.partSeconds * 1_000_000)
  for (const [i, r] of ladder.entries()) {
    const fd = firstFd + i
    args.push('-map', '0:a:0', '-vn', ...audioAndMuxer(r, fragMicros, fd))
    outputs.push({rendition: r, fd})
  }
  return {args, outputs}
}
