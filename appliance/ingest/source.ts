/**
 * What a publisher sends, read from its first packets: which tracks (audio, video, or both),
 * their codecs, and the settings that hurt a live ladder (a keyframe interval far from the
 * segment length, B-frames, a bitrate above the ladder's top, more frames than the ladder keeps).
 * Pure: node-media-server's packets come in through `push`, decisions come out.
 */

/** An RTMP/FLV packet as node-media-server parses it (src/core/avpacket.js). */
export interface SourcePacket {
  /** 8 audio, 9 video, 18 script data. */
  codec_type: number
  /** FLV SoundFormat / CodecID, or an enhanced-RTMP FourCC as a number. */
  codec_id: number
  /** 0 audio header, 1 audio, 2 video header, 3 keyframe, 4 other frame, 5 metadata, 6 video metadata. */
  flags: number
  /** Milliseconds. */
  dts: number
  pts: number
  size: number
}

/** The onMetaData the encoder sent (OBS and ffmpeg do), as node-media-server copies it to the session. */
export interface SourceMetadata {
  videoCodec?: number | string
  videoWidth?: number
  videoHeight?: number
  videoFramerate?: number
  /** kbit/s */
  videoDatarate?: number
  audioCodec?: number | string
}

export type VideoCodec = 'h264' | 'hevc' | 'av1' | 'vp9' | 'flv1' | 'vp6' | 'screen' | 'other'
export type AudioCodec = 'aac' | 'mp3' | 'opus' | 'pcm' | 'adpcm' | 'nellymoser' | 'speex' | 'other'

export interface SourceTracks {
  video?: {codec: VideoCodec; codecId: number}
  audio?: {codec: AudioCodec; codecId: number}
}

const fourcc = (s: string): number => Buffer.from(s, 'latin1').readUInt32BE(0)
/** FLV's CodecID and SoundFormat values (and enhanced RTMP's FourCCs). */
const VIDEO_CODECS: Record<number, VideoCodec> = {
  2: 'flv1', 3: 'screen', 4: 'vp6', 5: 'vp6', 6: 'screen', 7: 'h264', 12: 'hevc',
  [fourcc('hvc1')]: 'hevc', [fourcc('av01')]: 'av1', [fourcc('vp09')]: 'vp9',
}
const AUDIO_CODECS: Record<number, AudioCodec> = {
  0: 'pcm', 1: 'adpcm', 2: 'mp3', 3: 'pcm', 4: 'nellymoser', 5: 'nellymoser', 6: 'nellymoser', 10: 'aac', 11: 'speex', 14: 'mp3',
  [fourcc('Opus')]: 'opus',
}
const VIDEO_NAMES: Record<VideoCodec, string> = {
  h264: 'H.264', hevc: 'HEVC (H.265)', av1: 'AV1', vp9: 'VP9', flv1: 'Sorenson H.263 (FLV1)', vp6: 'On2 VP6', screen: 'Screen Video', other: 'an unknown video codec',
}
const AUDIO_NAMES: Record<AudioCodec, string> = {
  aac: 'AAC', mp3: 'MP3', opus: 'Opus', pcm: 'PCM', adpcm: 'ADPCM', nellymoser: 'Nellymoser', speex: 'Speex', other: 'an unknown audio codec',
}

/** What the ladder decodes from RTMP (Debian's ffmpeg 5.1 reads neither enhanced RTMP nor FLV's odd codecs). */
export const SUPPORTED = {video: ['h264'] as VideoCodec[], audio: ['aac', 'mp3'] as AudioCodec[]}

export type SourceVerdict =
  | {ok: true; tracks: SourceTracks}
  /** reason: for the streamer (it goes into the RTMP refusal); fix: for the log. */
  | {ok: false; reason: string; fix: string}

/** Whether the ladder can take these tracks, and if not, why in words a streamer reads. */
export function judgeTracks(tracks: SourceTracks): SourceVerdict {
  if (tracks.video === undefined && tracks.audio === undefined) {
    return {ok: false, reason: 'No audio or video arrived: check that OBS has a source in its scene', fix: 'the encoder published no audio or video track'}
  }
  if (tracks.video !== undefined && !SUPPORTED.video.includes(tracks.video.codec)) {
    const name = VIDEO_NAMES[tracks.video.codec]
    return {ok: false, reason: `Video in ${name} is not supported: set the encoder to H.264 (x264, NVENC H.264)`, fix: `video codec ${name} (id ${tracks.video.codecId}); the ladder decodes H.264`}
  }
  if (tracks.audio !== undefined && !SUPPORTED.audio.includes(tracks.audio.codec)) {
    const name = AUDIO_NAMES[tracks.audio.codec]
    return {ok: false, reason: `Audio in ${name} is not supported: set the audio encoder to AAC`, fix: `audio codec ${name} (id ${tracks.audio.codecId}); the ladder decodes AAC and MP3`}
  }
  return {ok: true, tracks}
}

export interface LadderTop {
  fps: number
  videoKbps: number
  segmentSeconds: number
}

/**
 * Watches a publish: knows its tracks once it has seen both sequence headers, or one of them
 * and then media for a while without the other (an audio-only or video-only source), or time is
 * up. Then keeps looking at a few keyframe intervals to say what in the encoder's settings hurts.
 */
export class SourceInspector {
  private metadata: SourceMetadata | undefined
  private readonly seen = {video: undefined as number | undefined, audio: undefined as number | undefined}
  private firstMediaAt: number | undefined
  private readonly keyframes: number[] = []
  private bFrames = false
  private videoFrames: number[] = []
  private videoBytes = 0

  constructor(private readonly startedAt: number) {}

  setMetadata(metadata: SourceMetadata): void {
    this.metadata = metadata
  }

  push(packet: SourcePacket, now: number): void {
    if (packet.codec_type === 9) {
      this.seen.video ??= packet.codec_id
      if (packet.flags === 3 || packet.flags === 4) {
        this.firstMediaAt ??= now
        this.videoFrames.push(packet.dts)
        this.videoBytes += packet.size
        if (packet.pts !== packet.dts) this.bFrames = true
        if (packet.flags === 3) this.keyframes.push(packet.dts)
      }
    } else if (packet.codec_type === 8) {
      this.seen.audio ??= packet.codec_id
      if (packet.flags === 1) this.firstMediaAt ??= now
    }
  }

  private declared(): {video: boolean; audio: boolean} | undefined {
    const m = this.metadata
    if (m === undefined) return undefined
    const has = (v: number | string | undefined): boolean => v !== undefined && v !== 0 && v !== ''
    return {video: has(m.videoCodec), audio: has(m.audioCodec)}
  }

  /**
   * The tracks, once they are known; undefined while it is still too early to tell.
   * `waitMs`: how long after the first media to wait for a track that has not shown up.
   */
  tracks(now: number, waitMs = 1500, giveUpMs = 5000): SourceTracks | undefined {
    const declared = this.declared()
    const both = this.seen.video !== undefined && this.seen.audio !== undefined
    const matchesDeclared = declared !== undefined && (!declared.video || this.seen.video !== undefined) && (!declared.audio || this.seen.audio !== undefined) && (declared.video || declared.audio)
    const waitedAfterMedia = this.firstMediaAt !== undefined && now - this.firstMediaAt >= waitMs
    const timedOut = now - this.startedAt >= giveUpMs
    if (!both && !matchesDeclared && !waitedAfterMedia && !timedOut) return undefined
    const out: SourceTracks = {}
    if (this.seen.video !== undefined) out.video = {codec: VIDEO_CODECS[this.seen.video] ?? 'other', codecId: this.seen.video}
    if (this.seen.audio !== undefined) out.audio = {codec: AUDIO_CODECS[this.seen.audio] ?? 'other', codecId: this.seen.audio}
    return out
  }

  /** Enough seen to judge the settings: three keyframes, or 12 s of video. */
  settled(): boolean {
    const frames = this.videoFrames
    return this.keyframes.length >= 3 || (frames.length > 1 && frames.at(-1)! - frames[0]! >= 12_000)
  }

  /** What in the encoder's settings hurts the ladder, each with what to change in OBS. */
  warnings(top: LadderTop): string[] {
    const out: string[] = []
    const gaps = this.keyframes.slice(1).map((t, i) => (t - this.keyframes[i]!) / 1000)
    const interval = gaps.length > 0 ? Math.max(...gaps) : undefined
    const seg = top.segmentSeconds
    if (interval !== undefined && (interval > seg * 2 || interval < seg / 2)) {
      out.push(`keyframes every ${interval.toFixed(1)} s, far from the ${seg} s segments: set OBS's Keyframe Interval to ${seg} s`)
    } else if (interval === undefined && this.videoFrames.length > 1 && this.videoFrames.at(-1)! - this.videoFrames[0]! >= 12_000) {
      out.push(`no keyframe for 12 s: set OBS's Keyframe Interval to ${seg} s`)
    }
    if (this.bFrames) out.push('B-frames in the video: they add latency the ladder cannot remove; set OBS\'s B-frames to 0 (or the x264 tune to zerolatency)')
    const frames = this.videoFrames
    const spanS = frames.length > 1 ? (frames.at(-1)! - frames[0]!) / 1000 : 0
    const measuredFps = spanS >= 2 ? (frames.length - 1) / spanS : undefined
    const fps = this.metadata?.videoFramerate ?? measuredFps
    if (fps !== undefined && fps > top.fps * 1.5) {
      out.push(`${Math.round(fps)} fps into a ${top.fps} fps ladder: the extra frames are dropped after costing the upload; set OBS's FPS to ${top.fps}`)
    }
    const measuredKbps = spanS >= 2 ? (this.videoBytes * 8) / spanS / 1000 : undefined
    const kbps = this.metadata?.videoDatarate !== undefined && this.metadata.videoDatarate > 0 ? this.metadata.videoDatarate : measuredKbps
    if (kbps !== undefined && kbps > top.videoKbps * 2) {
      out.push(`video at ${Math.round(kbps)} kbit/s, far above the ladder's top (${top.videoKbps} kbit/s): set OBS's bitrate to about ${Math.round(top.videoKbps * 1.5)} kbit/s`)
    }
    return out
  }
}
