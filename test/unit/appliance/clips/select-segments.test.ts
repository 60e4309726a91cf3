import {describe, expect, it} from 'vitest'

import {clipPlaylist} from '../../../../appliance/clips/clip-media.js'
import {clipTitle} from '../../../../appliance/clips/clips.js'
import {MIN_PART_SECONDS, selectClipSegments} from '../../../../appliance/clips/select-segments.js'
import {archivePlaylist, type ArchivedSegment} from '../../../../appliance/vods/dvr-archive.js'
import {parseMediaPlaylist} from '../../../../appliance/vods/archive-playlists.js'

/** An archive's playlist as the ingest writes it (dvr-archive.ts), parsed back as the worker reads it. */
function archive(msns: readonly number[], options: {restartAt?: number; closed?: boolean; duration?: number} = {}) {
  const segments: ArchivedSegment[] = msns.map((msn) => ({msn, duration: options.duration ?? 2, name: `seg${msn}.m4s`, ...(msn === options.restartAt ? {discontinuity: true} : {})}))
  return parseMediaPlaylist(archivePlaylist(segments, options.closed ?? false)).segments
}
const range = (from: number, to: number): number[] => Array.from({length: to - from + 1}, (_, i) => from + i)
const names = (selection: ReturnType<typeof selectClipSegments>): string[] => (selection.ok ? selection.segments.map((s) => s.name) : [])

describe('selectClipSegments', () => {
  it('the last 30 s of a live broadcast: the newest whole segments that add up to 30 s', () => {
    const selection = selectClipSegments(archive(range(0, 59)), {seconds: 30})
    expect(selection.ok).toBe(true)
    expect(names(selection)).toEqual(range(45, 59).map((n) => `seg${n}.m4s`))
    expect(selection).toMatchObject({startOffsetSeconds: 90, durationSeconds: 30})
    expect(selection.ok && selection.notice).toBeFalsy()
  })

  it('segments that do not divide the length: as few as reach it, so within one segment of it', () => {
    const selection = selectClipSegments(archive(range(0, 40), {duration: 4}), {seconds: 30})
    expect(names(selection)).toHaveLength(8)
    expect(selection.ok && selection.durationSeconds).toBe(32)
  })

  it('a broadcast younger than the length asked: all of it, and the clip says so', () => {
    const selection = selectClipSegments(archive(range(0, 5)), {seconds: 30})
    expect(selection).toMatchObject({ok: true, durationSeconds: 12, startOffsetSeconds: 0})
    expect(selection.ok && selection.notice).toMatch(/12 s old/)
  })

  it('refuses when almost nothing is archived yet', () => {
    const selection = selectClipSegments(archive([0, 1]), {seconds: 30})
    expect(selection).toMatchObject({ok: false})
    expect(!selection.ok && selection.reason).toMatch(/at least 5 s/)
    expect(selectClipSegments([], {seconds: 30})).toMatchObject({ok: false, reason: expect.stringMatching(/Nothing/)})
  })

  it('a range of a VOD: every segment that overlaps it, from the keyframe at or before its start', () => {
    const selection = selectClipSegments(archive(range(0, 99), {closed: true}), {seconds: 30, startSeconds: 61})
    // 61 s falls in seg30 (60–62); 91 s is the end, inside seg45 (90–92).
    expect(names(selection)).toEqual(range(30, 45).map((n) => `seg${n}.m4s`))
    expect(selection).toMatchObject({startOffsetSeconds: 60, durationSeconds: 32})
  })

  it('a range running past the end of the VOD is cut there, and says so', () => {
    const selection = selectClipSegments(archive(range(0, 19), {closed: true}), {seconds: 30, startSeconds: 30})
    expect(names(selection)).toEqual(range(15, 19).map((n) => `seg${n}.m4s`))
    expect(selection.ok && selection.notice).toMatch(/shorter than asked/)
    expect(selectClipSegments(archive(range(0, 19), {closed: true}), {seconds: 30, startSeconds: 40})).toMatchObject({ok: false, reason: expect.stringMatching(/40 s long/)})
  })

  it('never glues across a lost segment: keeps the longest uninterrupted part and says so', () => {
    // seg20 was lost: the playlist marks a discontinuity before seg21.
    const segments = archive([...range(0, 19), ...range(21, 40)])
    expect(segments.find((s) => s.name === 'seg21.m4s')?.discontinuity).toBe(true)
    // 30 s from 34 s: seg17–19 (6 s) before the gap, seg21–32 (24 s) after it.
    const selection = selectClipSegments(segments, {seconds: 30, startSeconds: 34})
    expect(names(selection)).toEqual(range(21, 32).map((n) => `seg${n}.m4s`))
    expect(selection).toMatchObject({ok: true, startOffsetSeconds: 40, durationSeconds: 24})
    expect(selection.ok && selection.notice).toMatch(/interrupted.*24 s of the 30 s asked/)
  })

  it('never glues across an encoder restart either (live: the newest part when the two are equal)', () => {
    const selection = selectClipSegments(archive(range(0, 29), {restartAt: 22}), {seconds: 30})
    // The last 30 s: seg15–21 (14 s) then the restart, seg22–29 (16 s).
    expect(names(selection)).toEqual(range(22, 29).map((n) => `seg${n}.m4s`))
    const even = selectClipSegments(archive(range(0, 29), {restartAt: 22}), {seconds: 32})
    expect(names(even)[0]).toBe('seg22.m4s')
  })

  it('refuses a range where no uninterrupted part is long enough', () => {
    // Restarts every 2 segments (4 s): no part reaches MIN_PART_SECONDS.
    const segments = archive(range(0, 29)).map((s, i) => ({...s, discontinuity: i % 2 === 0 && i > 0}))
    expect(MIN_PART_SECONDS).toBeGreaterThan(4)
    const selection = selectClipSegments(segments, {seconds: 30, startSeconds: 10})
    expect(selection).toMatchObject({ok: false, reason: expect.stringMatching(/interrupted/)})
  })

  it('a discontinuity just before the window does not split it', () => {
    const segments = archive([...range(0, 9), ...range(11, 40)])
    const selection = selectClipSegments(segments, {seconds: 30, startSeconds: 20})
    expect(selection.ok && selection.notice).toBeUndefined()
    expect(names(selection)[0]).toBe('seg11.m4s')
  })
})

describe("the clip's playlist", () => {
  it('a closed VOD playlist of the archive segments by name, behind the rendition\'s init', () => {
    const text = clipPlaylist([{name: 'seg45.m4s', duration: 2}, {name: 'seg46.m4s', duration: 1.5}])
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:VOD')
    expect(text).toContain('#EXT-X-MAP:URI="init.mp4"')
    expect(text).toMatch(/#EXTINF:2\.000,\nseg45\.m4s\n#EXTINF:1\.500,\nseg46\.m4s\n#EXT-X-ENDLIST\n$/)
    expect(parseMediaPlaylist(text)).toMatchObject({closed: true, durationSeconds: 3.5})
  })
})

describe('clip names', () => {
  it('tidies spaces and control characters; refuses empty and over-long names', () => {
    expect(clipTitle('  what a\n\tplay  ')).toEqual({title: 'what a play'})
    expect(clipTitle('   ')).toEqual({problem: expect.stringMatching(/name/)})
    expect(clipTitle('x'.repeat(101))).toEqual({problem: expect.stringMatching(/100/)})
    expect(clipTitle('é'.repeat(100))).toEqual({title: 'é'.repeat(100)})
  })
})
