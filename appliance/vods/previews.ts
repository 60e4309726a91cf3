/**
 * A VOD's poster and scrubbing previews: where they live (dvr/<channel>/<streamId>/previews/),
 * and the maths of the sprite sheets (one small tile every few seconds, 10×10 tiles a sheet) and
 * of the WebVTT map a player reads to find the tile of a moment (`sprite-0.jpg#xywh=x,y,w,h`).
 * Pure: the vod.previews job (worker/handlers/vod-previews.ts) does the I/O.
 */
import {dvrPrefix} from './dvr-archive.js'

/** The folder under the broadcast's archive. */
export const PREVIEWS_FOLDER = 'previews'
export const POSTER_NAME = 'poster.jpg'
export const VTT_NAME = 'previews.vtt'
export const spriteName = (sheet: number): string => `sprite-${sheet}.jpg`

export const POSTER_SIZE = {width: 640, height: 360} as const
export const TILE_SIZE = {width: 160, height: 90} as const
export const SHEET_COLUMNS = 10
export const SHEET_ROWS = 10
const TILES_PER_SHEET = SHEET_COLUMNS * SHEET_ROWS

/** The tile intervals taken, shortest first: the shortest that keeps a VOD to MAX_TILES tiles. */
const TILE_STEPS = [5, 10, 15, 20, 30, 60, 120, 300] as const
const LONGEST_STEP = 300
/** Six sheets: a player loads one sheet at a time (the one under the pointer), a job decodes one frame per tile. */
export const MAX_TILES = 600

/** dvr/<channel>/<streamId>/previews */
export const previewsPrefix = (channel: string, streamId: string): string => `${dvrPrefix(channel, streamId)}/${PREVIEWS_FOLDER}`

/** What a VOD document records once its previews exist (VodDoc.previews). */
export interface VodPreviews {
  /** Sprite sheets: sprite-0.jpg … sprite-<sheets-1>.jpg. */
  sheets: number
  tiles: number
  /** Seconds each tile stands for. */
  tileSeconds: number
  madeAt: Date
}

/** A segment on the VOD's timeline: it starts where the ones before it end (as players count). */
export interface TimedSegment {
  name: string
  start: number
  duration: number
}

export interface Tile {
  index: number
  /** The moment it stands for: [start, end) on the VOD's timeline, in seconds. */
  start: number
  end: number
  /** The segment whose first frame (a keyframe) it shows. */
  segment: string
}

export interface TilePlace {
  sheet: number
  x: number
  y: number
}

/** Playlist segments (in order, with their durations) placed on the timeline. */
export function timeline(segments: readonly {name: string; duration: number}[]): TimedSegment[] {
  let start = 0
  return segments.map((s) => {
    const timed = {name: s.name, start, duration: s.duration}
    start += s.duration
    return timed
  })
}

/**
 * How many seconds a tile stands for: at least the segments' length (a tile shows a segment's
 * first frame, so a shorter step would repeat pictures), 5 s for a VOD up to 50 minutes, longer
 * steps for longer VODs so that there are at most MAX_TILES tiles.
 */
export function tileStepSeconds(durationSeconds: number, longestSegmentSeconds: number): number {
  const step = TILE_STEPS.find((s) => s >= longestSegmentSeconds - 1e-6 && Math.ceil(durationSeconds / s - 1e-6) <= MAX_TILES)
  return step ?? LONGEST_STEP
}

const EPSILON = 1e-6

/**
 * One tile per step over the VOD's duration. Each shows the first segment that starts inside its
 * interval (so the picture is from the moment the tile stands for), or failing that the segment
 * the interval begins in.
 */
export function planTiles(segments: readonly TimedSegment[], stepSeconds: number): Tile[] {
  const last = segments.at(-1)
  if (last === undefined || stepSeconds <= 0) return []
  const duration = last.start + last.duration
  const count = Math.max(1, Math.ceil(duration / stepSeconds - EPSILON))
  const tiles: Tile[] = []
  let cursor = 0
  for (let index = 0; index < count; index++) {
    const start = index * stepSeconds
    const end = Math.min(duration, start + stepSeconds)
    // Segments are in order and so are tiles: the search goes on from where the last one stopped.
    while (cursor < segments.length - 1 && segments[cursor]!.start + segments[cursor]!.duration <= start + EPSILON) cursor++
    const containing = segments[cursor]!
    const startsInside = containing.start >= start - EPSILON ? containing : segments[cursor + 1]
    const shown = startsInside !== undefined && startsInside.start < end - EPSILON && startsInside.start >= start - EPSILON ? startsInside : containing
    tiles.push({index, start, end, segment: shown.name})
  }
  return tiles
}

/** Where tile `index` sits: its sheet, and its top-left corner in it. */
export function tilePlace(index: number): TilePlace {
  const inSheet = index % TILES_PER_SHEET
  return {sheet: Math.floor(index / TILES_PER_SHEET), x: (inSheet % SHEET_COLUMNS) * TILE_SIZE.width, y: Math.floor(inSheet / SHEET_COLUMNS) * TILE_SIZE.height}
}

/** The sheets `tiles` tiles need: each sheet's tiles (in order) and its grid (a short last sheet has fewer rows). */
export function sheetLayout<T>(tiles: readonly T[]): {sheet: number; tiles: T[]; columns: number; rows: number}[] {
  const sheets: {sheet: number; tiles: T[]; columns: number; rows: number}[] = []
  for (let first = 0; first < tiles.length; first += TILES_PER_SHEET) {
    const some = tiles.slice(first, first + TILES_PER_SHEET)
    sheets.push({sheet: first / TILES_PER_SHEET, tiles: some, columns: Math.min(SHEET_COLUMNS, some.length), rows: Math.ceil(some.length / SHEET_COLUMNS)})
  }
  return sheets
}

/** 3725.5 → 01:02:05.500 (WebVTT's timestamp, hours always written). */
export function vttTimestamp(seconds: number): string {
  const millis = Math.max(0, Math.round(seconds * 1000))
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0')
  return `${pad(Math.floor(millis / 3_600_000))}:${pad(Math.floor(millis / 60_000) % 60)}:${pad(Math.floor(millis / 1000) % 60)}.${pad(millis % 1000, 3)}`
}

/** The WebVTT map: one cue per tile, its text the sheet (relative to the VTT) and the tile's rectangle. */
export function previewsVtt(tiles: readonly Tile[]): string {
  const cues = tiles.map((t) => {
    const place = tilePlace(t.index)
    return `${vttTimestamp(t.start)} --> ${vttTimestamp(t.end)}\n${spriteName(place.sheet)}#xywh=${place.x},${place.y},${TILE_SIZE.width},${TILE_SIZE.height}`
  })
  return `WEBVTT\n\n${cues.join('\n\n')}\n`
}

/** The segment the poster is taken from: a quarter into the broadcast (past an opening card, before the goodbyes). */
export function posterSegment(segments: readonly TimedSegment[]): TimedSegment | undefined {
  const last = segments.at(-1)
  if (last === undefined) return undefined
  const at = (last.start + last.duration) / 4
  return segments.find((s) => s.start + s.duration > at + EPSILON) ?? last
}

/** A rendition's picture height from its RESOLUTION (1280x720 → 720); undefined for audio. */
export const heightOf = (resolution: string | undefined): number | undefined => {
  const m = /^\d+x(\d+)$/.exec(resolution ?? '')
  return m === null ? undefined : Number(m[1])
}

/**
 * Which rendition a picture of `height` pixels is decoded from: the smallest at least that tall
 * (least to decode, nothing upscaled), else the tallest there is. Undefined when none has video.
 */
export function renditionFor<R extends {height?: number | undefined}>(renditions: readonly R[], height: number): R | undefined {
  const withVideo = renditions.filter((r) => r.height !== undefined && r.height > 0).sort((a, b) => a.height! - b.height!)
  return withVideo.find((r) => r.height! >= height) ?? withVideo.at(-1)
}
