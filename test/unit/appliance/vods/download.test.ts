import {describe, expect, it} from 'vitest'

import {PREPARING_GIVES_UP_MS, vodDownloadFileName, vodDownloadKey, vodDownloadState, vodDownloadUrl} from '../../../../appliance/vods/download.js'

describe("a VOD's downloadable MP4", () => {
  const vod = {channel: 'alice', streamId: '20261206T140215Z-9f3a1c2b'}

  it('lives beside its archive, is served under /vod/ and saved under the channel and start time', () => {
    expect(vodDownloadKey(vod.channel, vod.streamId)).toBe('dvr/alice/20261206T140215Z-9f3a1c2b/download.mp4')
    expect(vodDownloadUrl(vod.channel, vod.streamId)).toBe('/vod/alice/20261206T140215Z-9f3a1c2b/download.mp4')
    expect(vodDownloadFileName(vod.channel, vod.streamId)).toBe('alice-2026-12-06-1402.mp4')
  })

  it('is none until asked, preparing until made (or until the request is old), then ready with its size', () => {
    const now = Date.parse('2026-12-06T15:00:00Z')
    expect(vodDownloadState(vod, now)).toEqual({state: 'none'})
    expect(vodDownloadState({...vod, download: {state: 'preparing', requestedAt: new Date(now - 5000)}}, now)).toEqual({state: 'preparing'})
    expect(vodDownloadState({...vod, download: {state: 'preparing', requestedAt: new Date(now - PREPARING_GIVES_UP_MS - 1)}}, now)).toEqual({state: 'none'})
    const ready = {state: 'ready', key: vodDownloadKey(vod.channel, vod.streamId), rendition: '720p', bytes: 1234, durationSeconds: 60, madeAt: new Date(now)} as const
    expect(vodDownloadState({...vod, download: ready}, now)).toEqual({state: 'ready', url: vodDownloadUrl(vod.channel, vod.streamId), bytes: 1234})
  })
})
