/**
 * The optional re-encode of a finished broadcast (vod.transcode) as ffmpeg argv, pure: one
 * rendition, encoded by the worker's own profile encoder (NVENC, VAAPI, QSV or x264) as fMP4 HLS
 * in the archive's form (init.mp4, seg<N>.m4s), the audio copied as it is.
 */
import type {HardwareProfile} from '../contract/hardware-profile.js'
import type {MediaSettings} from '../contract/media.js'

export type ReencodeTarget = Pick<MediaSettings['reencode'], 'height' | 'videoKbps' | 'codec'>

/**
 * The new rendition's folder: `480p-h264-1000k`. A ladder rendition's name has no dash, so the new
 * one never lands in an old one's folder while that is still being played.
 */
export const reencodedRenditionName = (target: ReencodeTarget): string => `${target.height}p-${target.codec}-${target.videoKbps}k`

/** Each encoder the profiles use, and its HEVC counterpart. */
const HEVC_ENCODER: Record<string, string> = {libx264: 'libx265', h264_nvenc: 'hevc_nvenc', h264_vaapi: 'hevc_vaapi', h264_qsv: 'hevc_qsv'}

/**
 * The profile's video encoder arguments for a VOD: without `-tune` (zerolatency, ll: live-latency
 * settings that cost compression, and nothing waits on a VOD), and for HEVC the encoder's HEVC
 * counterpart, the `main` profile and the `hvc1` tag (what Safari and MSE take in MP4).
 */
export function reencodeVideoArgs(videoArgs: readonly string[], codec: ReencodeTarget['codec']): string[] {
  const args: string[] = []
  for (let i = 0; i < videoArgs.length; i += 1) {
    const flag = videoArgs[i]!
    const value = videoArgs[i + 1]
    if (flag === '-tune' && value !== undefined) {
      i += 1
      continue
    }
    if (codec === 'hevc' && (flag === '-c:v' || flag === '-codec:v' || flag === '-vcodec') && value !== undefined) {
      const hevc = HEVC_ENCODER[value]
      if (hevc === undefined) throw new Error(`the profile's encoder ${value} has no HEVC counterpart known here`)
      args.push(flag, hevc)
      i += 1
      continue
    }
    if (codec === 'hevc' && flag === '-profile:v' && value !== undefined) {
      args.push(flag, 'main')
      i += 1
      continue
    }
    args.push(flag)
  }
  if (codec === 'hevc') args.push('-tag:v', 'hvc1')
  return args
}

/** The ffmpeg encoder a profile's arguments pick for this codec (`libx264`, `hevc_nvenc`…). */
export function reencodeEncoderName(videoArgs: readonly string[], codec: ReencodeTarget['codec']): string {
  const args = reencodeVideoArgs(videoArgs, codec)
  const at = args.findIndex((a) => a === '-c:v' || a === '-codec:v' || a === '-vcodec')
  return at === -1 ? 'ffmpeg default' : (args[at + 1] ?? 'ffmpeg default')
}

export interface ReencodeArgsOptions {
  encoder: HardwareProfile['encoder']
  /** A file ffmpeg reads (the archive remuxed into one MP4). */
  input: string
  /** Where index.m3u8, init.mp4 and seg<N>.m4s go. */
  outDir: string
  target: ReencodeTarget
  /** The height to scale to: the target's, or the source's where that is lower (never upscaled). */
  height: number
  /** The archive's segment length (a keyframe at each boundary). */
  segmentSeconds: number
}

/** ffmpeg's argv (without the program): progress as key=value lines on stdout, errors on stderr. */
export function reencodeArgs({encoder, input, outDir, target, height, segmentSeconds}: ReencodeArgsOptions): string[] {
  const kbps = target.videoKbps
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1',
    ...encoder.inputArgs,
    '-i', input,
    '-map', '0:v:0', '-map', '0:a:0?',
    '-vf', encoder.scaleFilter.replaceAll('{height}', String(height)),
    ...reencodeVideoArgs(encoder.videoArgs, target.codec),
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`,
    // Every segment starts on a keyframe, as the ladder's do.
    '-force_key_frames', `expr:gte(t,n_forced*${segmentSeconds})`,
    '-c:a', 'copy',
    '-f', 'hls', '-hls_time', String(segmentSeconds), '-hls_playlist_type', 'vod', '-hls_flags', 'independent_segments',
    '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4', '-hls_segment_filename', `${outDir}/seg%d.m4s`,
    `${outDir}/index.m3u8`,
  ]
}
