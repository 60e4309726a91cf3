import {describe, expect, it} from 'vitest'

import {frameGridArgs} from '../../../../appliance/media/frames.js'
import {
  heightOf,
  MAX_TILES,
  planTiles,
  posterSegment,
  previewsVtt,
  renditionFor,
  sheetLayout,
  tilePlace,
  tileStepSeconds,
  TILE_SIZE,
  timeline,
  vttTimestamp,
} from '../../../../appliance/vods/previews.js'

/** n segments of `seconds` each (the last one `last` long when given). */
const segments = (n: number, seconds: number, last?: number) =>
  timeline(Array.from({length: n}, (_, i) => ({name: `seg${i}.m4s`, duration: i === n - 1 && last !== undefined ? last : seconds})))

/** The cues of a previews map: times in seconds and the xywh fragment. */
function cues(vtt: string): {start: number; end: number; sheet: string; x: number; y: number; w: number; h: number}[] {
  const toSeconds = (t: string): number => t.split(':').reduce((sum, part) => sum * 60 + Number(part), 0)
  return [...vtt.matchAll(/^(\S+) --> (\S+)\n(sprite-\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$/gm)].map((m) => ({
    start: toSeconds(m[1]!),
    end: toSeconds(m[2]!),
    sheet: m[3]!,
    x: Number(m[4]),
    y: Number(m[5]),
    w: Number(m[6]),
    h: Number(m[7]),
  }))
}

describe('the tile step', () => {
  it('is 5 s for a short VOD of 2 s segments, and never shorter than a segment', () => {
    expect(tileStepSeconds(31, 2)).toBe(5)
    expect(tileStepSeconds(31, 6)).toBe(10)
    expect(tileStepSeconds(31, 2.002)).toBe(5)
  })

  it('grows with the VOD so that it has at most MAX_TILES tiles', () => {
    expect(tileStepSeconds(50 * 60, 2)).toBe(5)
    expect(tileStepSeconds(60 * 60, 2)).toBe(10)
    for (const hours of [1, 2, 4, 8, 24]) {
      const duration = hours * 3600
      expect(Math.ceil(duration / tileStepSeconds(duration, 2))).toBeLessThanOrEqual(MAX_TILES)
    }
  })
})

describe('tiles over a VOD', () => {
  it('cover the whole duration without gaps, each showing a segment that starts inside its interval', () => {
    const timed = segments(16, 2, 1) // 31 s
    const tiles = planTiles(timed, 5)
    expect(tiles).toHaveLength(7)
    expect(tiles[0]!.start).toBe(0)
    expect(tiles.at(-1)!.end).toBe(31)
    for (const [i, tile] of tiles.entries()) {
      if (i > 0) expect(tile.start).toBe(tiles[i - 1]!.end)
      const shown = timed.find((s) => s.name === tile.segment)!
      expect(shown.start).toBeGreaterThanOrEqual(tile.start)
      expect(shown.start).toBeLessThan(tile.end)
    }
    expect(tiles.map((t) => t.segment)).toEqual(['seg0.m4s', 'seg3.m4s', 'seg5.m4s', 'seg8.m4s', 'seg10.m4s', 'seg13.m4s', 'seg15.m4s'])
  })

  it('a segment longer than the step (an encoder restart) stands in for the tiles in which no segment starts', () => {
    const timed = timeline([
      {name: 'a.m4s', duration: 2},
      {name: 'long.m4s', duration: 12},
      {name: 'b.m4s', duration: 2},
    ])
    // [0,5): a; [5,10): inside long; [10,15): b starts at 14; [15,16): b.
    expect(planTiles(timed, 5).map((t) => t.segment)).toEqual(['a.m4s', 'long.m4s', 'b.m4s', 'b.m4s'])
  })

  it('no segments, no tiles', () => {
    expect(planTiles([], 5)).toEqual([])
  })
})

describe('sprite sheets', () => {
  it('10×10 tiles a sheet, row by row', () => {
    expect(tilePlace(0)).toEqual({sheet: 0, x: 0, y: 0})
    expect(tilePlace(9)).toEqual({sheet: 0, x: 9 * TILE_SIZE.width, y: 0})
    expect(tilePlace(10)).toEqual({sheet: 0, x: 0, y: TILE_SIZE.height})
    expect(tilePlace(99)).toEqual({sheet: 0, x: 9 * TILE_SIZE.width, y: 9 * TILE_SIZE.height})
    expect(tilePlace(123)).toEqual({sheet: 1, x: 3 * TILE_SIZE.width, y: 2 * TILE_SIZE.height})
  })

  it('a short last sheet has only the rows it needs; a VOD of a few tiles one row of them', () => {
    const layout = sheetLayout(Array.from({length: 250}, (_, i) => i))
    expect(layout.map((s) => [s.sheet, s.tiles.length, s.columns, s.rows])).toEqual([
      [0, 100, 10, 10],
      [1, 100, 10, 10],
      [2, 50, 10, 5],
    ])
    expect(sheetLayout([1, 2, 3, 4, 5, 6, 7]).map((s) => [s.columns, s.rows])).toEqual([[7, 1]])
  })
})

describe('the WebVTT map', () => {
  it('writes WebVTT timestamps with hours', () => {
    expect(vttTimestamp(0)).toBe('00:00:00.000')
    expect(vttTimestamp(3725.5)).toBe('01:02:05.500')
    expect(vttTimestamp(59.9996)).toBe('00:01:00.000')
  })

  it('one cue per tile, in order, covering the VOD, each rectangle inside its sheet', () => {
    const timed = segments(1000, 2, 1.5) // 1999.5 s: 400 tiles of 5 s, 4 sheets
    const tiles = planTiles(timed, tileStepSeconds(1999.5, 2))
    const layout = sheetLayout(tiles)
    const vtt = previewsVtt(tiles)
    expect(vtt.startsWith('WEBVTT\n\n')).toBe(true)
    const read = cues(vtt)
    expect(read).toHaveLength(tiles.length)
    expect(read[0]!.start).toBe(0)
    expect(read.at(-1)!.end).toBe(1999.5)
    for (const [i, cue] of read.entries()) {
      if (i > 0) expect(cue.start).toBe(read[i - 1]!.end)
      const sheet = layout[Number(/\d+/.exec(cue.sheet)![0])]!
      expect(cue.w).toBe(TILE_SIZE.width)
      expect(cue.h).toBe(TILE_SIZE.height)
      expect(cue.x + cue.w).toBeLessThanOrEqual(sheet.columns * TILE_SIZE.width)
      expect(cue.y + cue.h).toBeLessThanOrEqual(sheet.rows * TILE_SIZE.height)
    }
    expect(new Set(read.map((c) => c.sheet))).toEqual(new Set(['sprite-0.jpg', 'sprite-1.jpg', 'sprite-2.jpg', 'sprite-3.jpg']))
  })
})

describe('which pictures come from where', () => {
  it('the poster is a quarter in', () => {
    expect(posterSegment(segments(20, 2))?.name).toBe('seg5.m4s')
    expect(posterSegment(segments(1, 2))?.name).toBe('seg0.m4s')
    expect(posterSegment([])).toBeUndefined()
  })

  it('a picture comes from the smallest rendition at least as tall, else the tallest; audio has none', () => {
    const ladder = [
      {name: '720p', height: 720},
      {name: '240p', height: 240},
      {name: '480p', height: 480},
    ]
    expect(renditionFor(ladder, 360)?.name).toBe('480p')
    expect(renditionFor(ladder, 90)?.name).toBe('240p')
    expect(renditionFor(ladder, 1080)?.name).toBe('720p')
    expect(renditionFor([{name: 'audio', height: 0}, {name: 'a2', height: undefined}], 90)).toBeUndefined()
    expect(heightOf('1280x720')).toBe(720)
    expect(heightOf(undefined)).toBeUndefined()
  })

  it("ffmpeg's argv: one input per segment (init first), each first frame fitted into its tile, one grid", () => {
    const args = frameGridArgs({sources: [{init: '/t/init.mp4', segment: '/t/seg1.m4s'}, {init: '/t/init.mp4', segment: '/t/seg4.m4s'}], tile: {width: 160, height: 90}, columns: 2, rows: 1})
    expect(args.filter((a) => a.startsWith('concat:'))).toEqual(['concat:/t/init.mp4|/t/seg1.m4s', 'concat:/t/init.mp4|/t/seg4.m4s'])
    const graph = args[args.indexOf('-filter_complex') + 1]!
    expect(graph).toContain('[1:v:0]trim=end_frame=1,scale=160:90:force_original_aspect_ratio=decrease,pad=160:90')
    expect(graph).toContain('concat=n=2:v=1:a=0,tile=2x1[grid]')
    expect(() => frameGridArgs({sources: [], tile: {width: 1, height: 1}, columns: 1, rows: 1})).toThrow(/no source/)
  })
})
