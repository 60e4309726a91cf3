import type {Rendition} from '../../appliance/contract/hardware-profile.js'

/**
 * Measured on a 2-core Debian 12 box of the kind Shing is tested on: 5 realtime 720p30
 * libx264 veryfast encodes fit. One "unit" is one 720p30 encode; a core holds 2.5.
 */
export const X264_UNITS_PER_CORE = 2.5
/** Headroom left for the muxer, uploads, and the rest of the box. */
export const CPU_HEADROOM = 0.8
/** Decoding the incoming 1080p30 stream, in units. */
export const DECODE_UNITS = 0.3

const UNIT_PIXEL_RATE = 1280 * 720 * 30

export function renditionWidth(height: number): number {
  return Math.round((height * 16) / 9 / 2) * 2
}

/** The CPU cost of transcoding one ladder, in 720p30-encode units (x264 scales with pixel rate). */
export function ladderUnits(ladder: Rendition[]): number {
  const encode = ladder.reduce((sum, r) => sum + (renditionWidth(r.height) * r.height * r.fps) / UNIT_PIXEL_RATE, 0)
  return encode + DECODE_UNITS
}

/** How many ladders of this shape run at realtime on `cores` cores with libx264 veryfast. */
export function x264LadderCapacity(cores: number, ladder: Rendition[]): number {
  return Math.floor((cores * X264_UNITS_PER_CORE * CPU_HEADROOM) / ladderUnits(ladder))
}
