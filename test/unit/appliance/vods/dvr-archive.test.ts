import {describe, expect, it} from 'vitest'

import {archiveMaster, archivePlaylist} from '../../../../appliance/vods/dvr-archive.js'

describe('DVR playlists', () => {
  const segments = [
    {msn: 0, duration: 2, name: 'seg0.m4s'},
    {msn: 1, duration: 2.002, name: 'seg1.m4s'},
    {msn: 3, duration: 1.5, name: 'seg3.m4s'},
  ]

  it('while live: an EVENT playlist without an end, gaps marked as discontinuities', () => {
    const text = archivePlaylist(segments, false)
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:EVENT')
    expect(text).not.toContain('#EXT-X-ENDLIST')
    expect(text).toContain('#EXT-X-MAP:URI="init.mp4"')
    expect(text.split('\n').filter((l) => l === '#EXT-X-DISCONTINUITY')).toHaveLength(1)
    expect(text).toMatch(/#EXTINF:2\.002,\nseg1\.m4s\n#EXT-X-DISCONTINUITY\n#EXTINF:1\.500,\nseg3\.m4s/)
    expect(text).toContain('#EXT-X-TARGETDURATION:3')
  })

  it('closed: a VOD playlist that ends', () => {
    const text = archivePlaylist(segments, true)
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:VOD')
    expect(text.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true)
  })

  it('the master lists each rendition with its bandwidth and resolution', () => {
    const text = archiveMaster([
      {name: '720p', bandwidth: 2_628_000, resolution: '1280x720', codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30},
      {name: '360p', bandwidth: 664_000, resolution: '640x360'},
    ])
    expect(text).toContain('#EXT-X-STREAM-INF:BANDWIDTH=2628000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000\n720p/index.m3u8')
    expect(text).toContain('360p/index.m3u8')
  })
})
