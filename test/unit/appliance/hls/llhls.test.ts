import {describe, expect, it} from 'vitest'

import type {Fragment, InitSegment} from '../../../../appliance/hls/fmp4.js'
import {LlHlsPackager, type SegmentEvent} from '../../../../appliance/hls/llhls.js'

// The packager's logic on made-up fragments; test/integration/media runs it on real ffmpeg output.
const init: InitSegment = {
  bytes: Buffer.from('ftyp+moov'),
  tracks: [
    {id: 1, kind: 'video', timescale: 15360, codec: 'avc1.64001f', width: 1280, height: 720, defaultSampleDuration: 0, defaultSampleFlags: 0},
    {id: 2, kind: 'audio', timescale: 48000, codec: 'mp4a.40.2', defaultSampleDuration: 0, defaultSampleFlags: 0},
  ],
}

const fragment = (t: number, keyframe: boolean): Fragment => ({
  bytes: Buffer.from(`frag@${t}`),
  sequence: 0,
  tracks: [],
  decodeTime: t,
  duration: 0.5,
  keyframe,
})

function packager(): LlHlsPackager {
  let clock = Date.UTC(2026, 0, 1)
  const p = new LlHlsPackager({
    renditions: [{name: '720p', height: 720, fps: 30, bandwidth: 2_890_800}],
    segmentSeconds: 2,
    partSeconds: 0.5,
    windowSegments: 3,
    firstMediaSequence: 100,
    now: () => (clock += 10),
  })
  p.setInit('720p', init)
  return p
}

/** Parts of 0.5 s, a keyframe every 2 s, from `from` to `to` seconds. */
function feed(p: LlHlsPackager, from: number, to: number): void {
  for (let t = from; t < to; t += 0.5) p.pushFragment('720p', fragment(t, t % 2 === 0))
}

describe('LlHlsPackager', () => {
  it('groups parts into segments that start on keyframes and lists them with parts and a preload hint', () => {
    const p = packager()
    const segments: SegmentEvent[] = []
    p.on('segment', (s) => segments.push(s))
    feed(p, 0, 5)
    expect(segments.map((s) => [s.msn, s.duration, s.bytes.toString()])).toEqual([
      [100, 2, 'frag@0frag@0.5frag@1frag@1.5'],
      [101, 2, 'frag@2frag@2.5frag@3frag@3.5'],
    ])
    const playlist = p.mediaPlaylist('720p')
    expect(playlist).toContain('#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.500\n')
    expect(playlist).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500\n')
    expect(playlist).toContain('#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-MAP:URI="init.mp4"\n')
    expect(playlist).toContain(
      '#EXT-X-PART:DURATION=0.500,URI="part101.0.m4s",INDEPENDENT=YES\n' +
        '#EXT-X-PART:DURATION=0.500,URI="part101.1.m4s"\n' +
        '#EXT-X-PART:DURATION=0.500,URI="part101.2.m4s"\n' +
        '#EXT-X-PART:DURATION=0.500,URI="part101.3.m4s"\n' +
        '#EXTINF:2.000,\nseg101.m4s\n',
    )
    // The segment in progress: its parts, then the hint for the next one.
    expect(playlist.endsWith(
      '#EXT-X-PART:DURATION=0.500,URI="part102.0.m4s",INDEPENDENT=YES\n' +
        '#EXT-X-PART:DURATION=0.500,URI="part102.1.m4s"\n' +
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part102.2.m4s"\n',
    )).toBe(true)
    expect(playlist.match(/#EXT-X-PROGRAM-DATE-TIME:/g)).toHaveLength(3)
    // A full segment: the next part is the keyframe that starts the next segment.
    feed(p, 5, 6)
    expect(p.mediaPlaylist('720p')).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part103.0.m4s"\n')
  })

  it('keeps a bounded window of segments', async () => {
    const p = packager()
    feed(p, 0, 20)
    expect(p.segments('720p').map((s) => s.msn)).toEqual([106, 107, 108])
    expect(p.mediaPlaylist('720p')).toContain('#EXT-X-MEDIA-SEQUENCE:106\n')
    expect((await p.handle('720p/seg105.m4s')).status).toBe(404)
    const seg = await p.handle('720p/seg108.m4s')
    expect(seg.status).toBe(200)
    expect(seg.headers['cache-control']).toContain('immutable')
    expect(seg.headers['content-type']).toBe('video/iso.segment')
  })

  it('holds a blocking reload until the part exists, and refuses one too far ahead with 400', async () => {
    const p = packager()
    feed(p, 0, 2.5) // segment 100 done, part 101.0 there
    expect((await p.handle('720p/index.m3u8', new URLSearchParams({_HLS_msn: '101', _HLS_part: '0'}))).status).toBe(200)

    let answered = false
    const pending = p.handle('720p/index.m3u8', new URLSearchParams({_HLS_msn: '101', _HLS_part: '1'})).then((r) => {
      answered = true
      return r
    })
    await new Promise((r) => setTimeout(r, 20))
    expect(answered).toBe(false)
    p.pushFragment('720p', fragment(2.5, false))
    const response = await pending
    expect(response.status).toBe(200)
    expect(response.body).toContain('URI="part101.1.m4s"')
    expect(response.body).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part101.2.m4s"')

    // A whole segment: held until seg101 is complete, i.e. until the next keyframe part.
    const whole = p.waitFor('720p', 101, undefined, 5000)
    feed(p, 3, 4)
    expect(p.has('720p', 101)).toBe(false)
    p.pushFragment('720p', fragment(4, true))
    expect(await whole).toBe(true)

    expect((await p.handle('720p/index.m3u8', new URLSearchParams({_HLS_msn: '105'}))).status).toBe(400)
    expect((await p.handle('720p/index.m3u8', new URLSearchParams({_HLS_part: '1'}))).status).toBe(400)
  })

  it('holds a request for the hinted part until it comes', async () => {
    const p = packager()
    feed(p, 0, 1)
    const pending = p.handle('720p/part100.2.m4s')
    p.pushFragment('720p', fragment(1, false))
    const response = await pending
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('frag@1')
  })

  it('serves a master playlist with codecs, resolution and frame rate from the init segment', async () => {
    const response = await packager().handle('master.m3u8')
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toBe('application/vnd.apple.mpegurl')
    expect(response.body).toContain(
      '#EXT-X-STREAM-INF:BANDWIDTH=2890800,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000\n720p/index.m3u8\n',
    )
  })

  it('ends: the last segment is finished, waiters are answered, the playlist has ENDLIST and no hint', async () => {
    const p = packager()
    feed(p, 0, 3)
    const waiting = p.waitFor('720p', 110, 0, 5000)
    const ended: SegmentEvent[] = []
    p.on('segment', (s) => ended.push(s))
    p.end()
    expect(await waiting).toBe(true)
    expect(ended.map((s) => [s.msn, s.duration])).toEqual([[101, 1]])
    const playlist = p.mediaPlaylist('720p')
    expect(playlist.endsWith('#EXTINF:1.000,\nseg101.m4s\n#EXT-X-ENDLIST\n')).toBe(true)
    expect(playlist).not.toContain('PRELOAD-HINT')
    expect(() => p.pushFragment('720p', fragment(3, false))).toThrow(/ended/)
  })
})

describe('a restarted encode (a rendition shed)', () => {
  function twoRenditions(): LlHlsPackager {
    let clock = Date.UTC(2026, 0, 1)
    const p = new LlHlsPackager({
      renditions: [
        {name: '720p', height: 720, fps: 30, bandwidth: 2_890_800},
        {name: '360p', height: 360, fps: 30, bandwidth: 730_000},
      ],
      segmentSeconds: 2,
      partSeconds: 0.5,
      windowSegments: 3,
      firstMediaSequence: 100,
      now: () => (clock += 10),
    })
    for (const r of ['720p', '360p']) p.setInit(r, init)
    return p
  }
  const both = (p: LlHlsPackager, from: number, to: number): void => {
    for (let t = from; t < to; t += 0.5) for (const r of ['720p', '360p']) p.pushFragment(r, fragment(t, t % 2 === 0))
  }

  it('drops the rendition from the master and its URLs; the kept one carries on with EXT-X-DISCONTINUITY, its timestamps starting over', async () => {
    const p = twoRenditions()
    const events: SegmentEvent[] = []
    p.on('segment', (s) => events.push(s))
    both(p, 0, 5)
    p.restartEncode(['360p'])
    p.dropRendition('720p')
    expect(p.masterPlaylist()).not.toContain('720p')
    expect((await p.handle('720p/index.m3u8')).status).toBe(404)
    // The new ffmpeg's timestamps start at 0 again.
    for (let t = 0; t < 4.5; t += 0.5) p.pushFragment('360p', fragment(t, t % 2 === 0))
    const playlist = p.mediaPlaylist('360p')
    const lines = playlist.split('\n')
    const at = lines.indexOf('#EXT-X-DISCONTINUITY')
    expect(at).toBeGreaterThan(0)
    // The segment in progress at the restart was closed short (1 s), the next one starts the new encode.
    expect(events.filter((e) => e.rendition === '360p').map((e) => [e.msn, e.duration, e.discontinuity])).toEqual([
      [100, 2, false],
      [101, 2, false],
      [102, 1, false],
      [103, 2, true],
      [104, 2, false],
    ])
    expect(() => p.dropRendition('360p')).toThrow(/last rendition/)
  })

  it('counts discontinuities that left the window (EXT-X-DISCONTINUITY-SEQUENCE)', () => {
    const p = twoRenditions()
    both(p, 0, 2.5)
    p.restartEncode(['720p', '360p'])
    both(p, 0, 12.5)
    const playlist = p.mediaPlaylist('360p')
    expect(playlist).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:1\n')
    expect(playlist).not.toContain('#EXT-X-DISCONTINUITY\n')
  })
})
