/**
 * What the encoder sends, measured all through a broadcast for the streamer's dashboard: the
 * bitrate, the frames per second that arrive, the keyframe interval, the picture size, and the
 * frames that did not arrive (fewer than the encoder said it sends: OBS dropping frames because
 * the upload or the encoder cannot keep up). Over a sliding window; pure (the ingest feeds it
 * node-media-server's packets and the encoder's metadata).
 */
import type {EncoderStats} from '../contract/index.js'
import type {LadderTop, SourceMetadata, SourcePacket} from './source.js'

/** The window the figures are measured over. */
export const METER_WINDOW_MS = 10_000

interface Sample {
  at: number
  bytes: number
}

export class LiveMeter {
  private video: Array<Sample & {dts: number}> = []
  private audio: Sample[] = []
  private keyframes: number[] = []
  private metadata: SourceMetadata | undefined
  private lastMediaAt: number | undefined
  /** Times the media stopped arriving for 2 s or more (the connection stalled). */
  private stalls = 0

  constructor(private readonly windowMs = METER_WINDOW_MS) {}

  setMetadata(metadata: SourceMetadata): void {
    this.metadata = metadata
  }

  push(packet: SourcePacket, now: number): void {
    const media = (packet.codec_type === 9 && (packet.flags === 3 || packet.flags === 4)) || (packet.codec_type === 8 && packet.flags === 1)
    if (!media) return
    if (this.lastMediaAt !== undefined && now - this.lastMediaAt >= 2000) this.stalls += 1
    this.lastMediaAt = now
    if (packet.codec_type === 9) {
      this.video.push({at: now, bytes: packet.size, dts: packet.dts})
      if (packet.flags === 3) this.keyframes.push(packet.dts)
    } else {
      this.audio.push({at: now, bytes: packet.size})
    }
    this.prune(now)
  }

  private prune(now: number): void {
    const oldest = now - this.windowMs
    const firstFresh = <T extends {at: number}>(list: T[]): number => {
      let i = 0
      while (i < list.length && list[i]!.at < oldest) i++
      return i
    }
    if (this.video.length > 0 && this.video[0]!.at < oldest) this.video = this.video.slice(firstFresh(this.video))
    if (this.audio.length > 0 && this.audio[0]!.at < oldest) this.audio = this.audio.slice(firstFresh(this.audio))
    // Keyframes by media time: the last few are enough to know the interval.
    if (this.keyframes.length > 8) this.keyframes = this.keyframes.slice(-8)
  }

  stats(now: number, top: LadderTop): EncoderStats {
    this.prune(now)
    const m = this.metadata
    // Media time spanned by the window's frames, so that a burst after a stall does not read as a high rate.
    const spanS = (list: Sample[]): number => (list.length > 1 ? (list.at(-1)!.at - list[0]!.at) / 1000 : 0)
    const kbps = (list: Sample[]): number | undefined => {
      const s = spanS(list)
      return s >= 2 ? Math.round((list.reduce((sum, x) => sum + x.bytes, 0) * 8) / s / 1000) : undefined
    }
    const videoSpan = this.video.length > 1 ? (this.video.at(-1)!.dts - this.video[0]!.dts) / 1000 : 0
    const fps = videoSpan >= 2 ? Math.round(((this.video.length - 1) / videoSpan) * 10) / 10 : undefined
    const gaps = this.keyframes.slice(1).map((t, i) => (t - this.keyframes[i]!) / 1000)
    const keyframeInterval = gaps.length > 0 ? Math.round(Math.max(...gaps.slice(-4)) * 10) / 10 : undefined
    const declaredFps = typeof m?.videoFramerate === 'number' && m.videoFramerate > 0 ? m.videoFramerate : undefined
    const droppedPercent = fps !== undefined && declaredFps !== undefined ? Math.max(0, Math.round((1 - fps / declaredFps) * 100)) : undefined
    const stats: EncoderStats = {
      at: new Date(now).toISOString(),
      ...(typeof m?.videoWidth === 'number' && typeof m.videoHeight === 'number' && m.videoWidth > 0 ? {width: m.videoWidth, height: m.videoHeight} : {}),
      ...(fps === undefined ? {} : {fps}),
      ...(declaredFps === undefined ? {} : {declaredFps}),
      ...(kbps(this.video) === undefined ? {} : {videoKbps: kbps(this.video)}),
      ...(kbps(this.audio) === undefined ? {} : {audioKbps: kbps(this.audio)}),
      ...(keyframeInterval === undefined ? {} : {keyframeIntervalSeconds: keyframeInterval}),
      ...(droppedPercent === undefined ? {} : {droppedPercent}),
      stalls: this.stalls,
      warnings: [],
    }
    stats.warnings = liveWarnings(stats, top, this.video.length > 0 && this.lastMediaAt !== undefined && now - this.lastMediaAt < 2000)
    return stats
  }
}

/** What to change in OBS, in plain words, from what arrives now. */
export function liveWarnings(stats: EncoderStats, top: LadderTop, videoFlowing: boolean): string[] {
  const out: string[] = []
  const seg = top.segmentSeconds
  const interval = stats.keyframeIntervalSeconds
  if (interval !== undefined && (interval > seg * 2 || interval < seg / 2)) {
    out.push(`Keyframes every ${interval} s, far from the ${seg} s segments: viewers wait longer to start. Set OBS's Keyframe Interval to ${seg} s.`)
  }
  if (stats.videoKbps !== undefined && stats.videoKbps > top.videoKbps * 2) {
    out.push(`Video at ${stats.videoKbps} kbit/s, far above the top quality (${top.videoKbps} kbit/s): the extra costs your upload and nobody sees it. Set OBS's bitrate to about ${Math.round(top.videoKbps * 1.5)} kbit/s.`)
  }
  if (stats.fps !== undefined && stats.fps > top.fps * 1.5) {
    out.push(`${Math.round(stats.fps)} fps into a ${top.fps} fps ladder: the extra frames are dropped here. Set OBS's FPS to ${top.fps}.`)
  }
  if (stats.droppedPercent !== undefined && stats.droppedPercent >= 10) {
    out.push(`About ${stats.droppedPercent}% of the frames OBS announced do not arrive: your upload or your encoder cannot keep up. Lower the bitrate or the resolution in OBS.`)
  }
  if (!videoFlowing && stats.width !== undefined) out.push('No video arrived for the last 2 s: check OBS and your connection.')
  return out
}
