import {describe, expect, it} from 'vitest'

import {isLivePathError, parseLivePath, type LivePath} from '../../../../appliance/hls/live-paths.js'

const ok = (url: string): LivePath => {
  const parsed = parseLivePath(url)
  if (isLivePathError(parsed)) throw new Error(`${url}: ${parsed.message}`)
  return parsed
}

describe('parseLivePath', () => {
  it('knows every object of the contract layout', () => {
    expect(ok('/live/demo/master.m3u8')).toMatchObject({channel: 'demo', path: 'master.m3u8', kind: 'master', rendition: undefined})
    expect(ok('/live/demo/720p/index.m3u8')).toMatchObject({kind: 'playlist', rendition: '720p', blocking: undefined, query: ''})
    expect(ok('/live/demo/720p/init.mp4')).toMatchObject({kind: 'init', rendition: '720p'})
    expect(ok('/live/demo/360p/seg42.m4s')).toMatchObject({kind: 'segment', rendition: '360p', path: '360p/seg42.m4s'})
    expect(ok('/live/my-chan_1/1080p60/part7.3.m4s')).toMatchObject({channel: 'my-chan_1', kind: 'part', rendition: '1080p60'})
  })

  it('blocking reloads: _HLS_msn/_HLS_part parsed, the forwarded query normalised', () => {
    expect(ok('/live/demo/720p/index.m3u8?_HLS_part=2&_HLS_msn=10&cb=123')).toMatchObject({blocking: {msn: 10, part: 2}, query: '?_HLS_msn=10&_HLS_part=2'})
    expect(ok('/live/demo/720p/index.m3u8?_HLS_msn=10')).toMatchObject({blocking: {msn: 10, part: undefined}, query: '?_HLS_msn=10'})
    expect(ok('/live/demo/720p/index.m3u8?_HLS_msn=3&_HLS_skip=YES')).toMatchObject({query: '?_HLS_msn=3&_HLS_skip=YES'})
    expect(ok('/live/demo/720p/index.m3u8?_HLS_skip=v2')).toMatchObject({blocking: undefined, query: '?_HLS_skip=v2'})
  })

  it('media objects ignore the query: cache busters do not make new cache keys', () => {
    expect(ok('/live/demo/720p/seg1.m4s?t=99')).toMatchObject({query: '', path: '720p/seg1.m4s'})
  })

  it('bad directives are 400, as the LL-HLS spec says', () => {
    for (const query of ['_HLS_part=1', '_HLS_msn=-1', '_HLS_msn=abc', '_HLS_msn=1&_HLS_part=x', '_HLS_skip=no']) {
      expect(parseLivePath(`/live/demo/720p/index.m3u8?${query}`)).toMatchObject({status: 400})
    }
  })

  it('anything else is 404 before any lookup', () => {
    for (const url of ['/live/demo/index.m3u8', '/live/demo/720p/../../secret', '/live/Demo/master.m3u8', '/live/demo', '/live/demo/', '/live//master.m3u8', '/other/demo/master.m3u8', '/live/demo/720p/seg1.ts', '/live/demo/720p/seg.m4s']) {
      expect(parseLivePath(url), url).toMatchObject({status: 404})
    }
  })
})
