import {describe, expect, it} from 'vitest'

import {bestVariant, continuousRuns, parseMasterPlaylist, parseMediaPlaylist} from '../../../../appliance/vods/archive-playlists.js'
import {archiveMaster, archivePlaylist} from '../../../../appliance/vods/dvr-archive.js'

describe('reading archived playlists back', () => {
  it('the master as the ingest writes it: every rendition, the best by bandwidth', () => {
    const master = archiveMaster([
      {name: '480p', bandwidth: 1_096_000, resolution: '854x480', codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30},
      {name: '720p', bandwidth: 2_628_000, resolution: '1280x720', codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30},
    ])
    const variants = parseMasterPlaylist(master)
    expect(variants).toEqual([
      {uri: '480p/index.m3u8', name: '480p', bandwidth: 1_096_000, resolution: '854x480', codecs: 'avc1.64001f,mp4a.40.2'},
      {uri: '720p/index.m3u8', name: '720p', bandwidth: 2_628_000, resolution: '1280x720', codecs: 'avc1.64001f,mp4a.40.2'},
    ])
    expect(bestVariant(variants)?.name).toBe('720p')
    expect(bestVariant([])).toBeUndefined()
  })

  it('a media playlist: its segments, where a new encode or a gap starts, its length, closed or not', () => {
    const text = archivePlaylist(
      [
        {msn: 0, duration: 2, name: 'seg0.m4s'},
        {msn: 1, duration: 2, name: 'seg1.m4s'},
        {msn: 2, duration: 1.5, name: 'seg2.m4s', discontinuity: true},
        {msn: 4, duration: 2, name: 'seg4.m4s'},
      ],
      true,
    )
    const playlist = parseMediaPlaylist(text)
    expect(playlist.closed).toBe(true)
    expect(playlist.durationSeconds).toBeCloseTo(7.5, 3)
    expect(playlist.segments.map((s) => [s.name, s.discontinuity])).toEqual([
      ['seg0.m4s', false],
      ['seg1.m4s', false],
      ['seg2.m4s', true],
      ['seg4.m4s', true],
    ])
    expect(continuousRuns(playlist.segments).map((run) => run.map((s) => s.name))).toEqual([['seg0.m4s', 'seg1.m4s'], ['seg2.m4s'], ['seg4.m4s']])
    expect(parseMediaPlaylist(archivePlaylist([{msn: 0, duration: 2, name: 'seg0.m4s'}], false)).closed).toBe(false)
    expect(continuousRuns([])).toEqual([])
  })
})
