import {describe, expect, it} from 'vitest'

import {classifyObject, type References} from '../../../../appliance/housekeeping/references.js'
import {vodExpiresAt, vodExpiryCutoff} from '../../../../appliance/vods/retention.js'

const vod = '20250102T030405Z-9f3a1c2b'
const gone = '20240101T000000Z-00000000'
const refs: References = {
  archives: new Set([`alice/${vod}`]),
  clips: new Set(['abcdefghijkl']),
  clipSegments: new Set([`dvr/alice/${gone}/240p/init.mp4`, `dvr/alice/${gone}/240p/seg7.m4s`]),
  channels: new Set(['alice']),
  channelImages: new Set(['channels/alice/avatar-0123456789abcdef.webp']),
  postImages: new Set(['posts/0123456789abcdef01234567/0123456789abcdef.webp']),
}
const verdict = (key: string) => classifyObject(key, refs)

describe('what keeps an object in the bucket', () => {
  it("a broadcast's archive, and what is derived from it, while something holds the broadcast", () => {
    for (const name of ['master.m3u8', '240p/init.mp4', '240p/seg1.m4s', '240p/index.m3u8', 'download.mp4', 'previews/poster.jpg', 'previews/sprite-0.jpg', 'previews/previews.vtt']) {
      expect(verdict(`dvr/alice/${vod}/${name}`), name).toEqual({kind: 'archive', referenced: true})
    }
    expect(verdict(`dvr/alice/${gone}/master.m3u8`)).toEqual({kind: 'archive', referenced: false})
    // The same stream id under another channel is another archive.
    expect(verdict(`dvr/bob/${vod}/master.m3u8`)).toEqual({kind: 'archive', referenced: false})
  })

  it("a clip keeps the archive segments it plays, and only those, when its broadcast is gone", () => {
    expect(verdict(`dvr/alice/${gone}/240p/init.mp4`)).toEqual({kind: 'archive', referenced: true})
    expect(verdict(`dvr/alice/${gone}/240p/seg7.m4s`)).toEqual({kind: 'archive', referenced: true})
    expect(verdict(`dvr/alice/${gone}/240p/seg8.m4s`)).toEqual({kind: 'archive', referenced: false})
  })

  it("a clip's own objects while the clip exists", () => {
    expect(verdict('clips/abcdefghijkl/clip.mp4')).toEqual({kind: 'clip', referenced: true})
    expect(verdict('clips/abcdefghijkl/index.m3u8')).toEqual({kind: 'clip', referenced: true})
    expect(verdict('clips/zzzzzzzzzzzz/clip.mp4')).toEqual({kind: 'clip', referenced: false})
  })

  it("a live thumbnail while its channel exists", () => {
    expect(verdict('thumbs/live/alice.jpg')).toEqual({kind: 'live-thumbnail', referenced: true})
    expect(verdict('thumbs/live/deleted-channel.jpg')).toEqual({kind: 'live-thumbnail', referenced: false})
  })

  it('a channel image while its channel names it; a replaced one is not', () => {
    expect(verdict('channels/alice/avatar-0123456789abcdef.webp')).toEqual({kind: 'channel-image', referenced: true})
    expect(verdict('channels/alice/avatar-fedcba9876543210.webp')).toEqual({kind: 'channel-image', referenced: false})
    expect(verdict('channels/gone/banner-0123456789abcdef.webp')).toEqual({kind: 'channel-image', referenced: false})
  })

  it('a post\'s picture while its post names it; one removed in an edit, or of a deleted post, is not', () => {
    expect(verdict('posts/0123456789abcdef01234567/0123456789abcdef.webp')).toEqual({kind: 'post-image', referenced: true})
    expect(verdict('posts/0123456789abcdef01234567/fedcba9876543210.webp')).toEqual({kind: 'post-image', referenced: false})
    expect(verdict('posts/ffffffffffffffffffffffff/0123456789abcdef.webp')).toEqual({kind: 'post-image', referenced: false})
  })

  it('a key that is not of the layout is nobody\'s to remove', () => {
    for (const key of ['backup/site.tar', 'thumbs/other/alice.jpg', 'dvr/alice', `dvr/alice/${vod}`, 'dvr/Not A Channel/x/y', 'clips/abcdefghijkl', 'channels/alice/sub/x.webp', 'README']) {
      expect(verdict(key), key).toBeUndefined()
    }
  })
})

describe('VOD retention', () => {
  const now = new Date('2025-03-31T12:00:00Z')

  it('nothing expires while vodDays is 0', () => {
    expect(vodExpiryCutoff(0, now)).toBeUndefined()
    expect(vodExpiresAt({createdAt: now}, 0)).toBeUndefined()
  })

  it('a VOD goes vodDays after it was recorded, unless kept', () => {
    expect(vodExpiryCutoff(30, now)?.toISOString()).toBe('2025-03-01T12:00:00.000Z')
    expect(vodExpiresAt({createdAt: new Date('2025-03-01T12:00:00Z')}, 30)?.toISOString()).toBe('2025-03-31T12:00:00.000Z')
    expect(vodExpiresAt({createdAt: new Date('2025-03-01T12:00:00Z'), kept: true}, 30)).toBeUndefined()
  })
})
