/**
 * The pull-once logic with the origin replaced by a function (the real HTTP path is in
 * test/integration/appliance/relay.test.ts): coalescing, caching by kind, following a moved stream.
 */
import pino from 'pino'
import {describe, expect, it} from 'vitest'

import type {StreamState} from '../../../../appliance/contract/index.js'
import {ByteLru} from '../../../../appliance/relay/cache.js'
import {OriginUnreachableError, StreamStateCache, type OriginRequest, type OriginResponse} from '../../../../appliance/relay/origin.js'
import {isLivePathError, parseLivePath, type LivePath} from '../../../../appliance/hls/live-paths.js'
import {RelayPull, newestMedia, type CachedObject, type UpstreamKind} from '../../../../appliance/relay/pull.js'

const state = (origin: string, streamId = 's1'): StreamState => ({
  channel: 'demo',
  streamId,
  since: '2024-01-01T00:00:00Z',
  ingestId: 'i1',
  origin,
  renditions: [{name: '720p', height: 720, bandwidth: 1}],
})

const live = (url: string): LivePath => {
  const parsed = parseLivePath(url)
  if (isLivePathError(parsed)) throw new Error(parsed.message)
  return parsed
}

function setup(options: {states: Record<string, StreamState | undefined>; origins: Record<string, (request: OriginRequest) => Promise<OriginResponse>>}) {
  const current: {state: StreamState | undefined} = {state: options.states.demo}
  const states = new StreamStateCache(async () => current.state, 60_000)
  const upstream: UpstreamKind[] = []
  const failures: UpstreamKind[] = []
  const cache = new ByteLru<CachedObject>(1024 * 1024, (o) => o.body.length)
  const pull = new RelayPull({
    states,
    cache,
    fetch: async (request) => {
      const origin = options.origins[request.origin]
      if (origin === undefined) throw new OriginUnreachableError(`${request.origin}: ECONNREFUSED`, false)
      return origin(request)
    },
    log: pino({level: 'silent'}),
    onUpstream: (kind) => upstream.push(kind),
    onUpstreamFailure: (kind) => failures.push(kind),
  })
  return {pull, current, upstream, failures, cache}
}

const ok = (text: string, contentType = 'video/mp4'): OriginResponse => ({status: 200, body: Buffer.from(text), contentType, cacheControl: undefined})

describe('RelayPull', () => {
  it('coalesces concurrent requests for one object and caches it', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const {pull, upstream} = setup({
      states: {demo: state('a:1')},
      origins: {'a:1': async (r) => (await gate, ok(`bytes of ${r.path}`))},
    })
    const many = Array.from({length: 50}, () => pull.pull(live('/live/demo/720p/seg3.m4s')))
    release()
    const results = await Promise.all(many)
    expect(upstream).toEqual(['segment'])
    expect(results.map((r) => (r.type === 'object' ? r.source : r.error)).sort()).toEqual([...Array<string>(49).fill('joined'), 'miss'])
    const later = await pull.pull(live('/live/demo/720p/seg3.m4s'))
    expect(later).toMatchObject({type: 'object', source: 'hit', object: {contentType: 'video/mp4', cacheControl: 'public, max-age=31536000, immutable'}})
    expect(upstream).toEqual(['segment'])
  })

  it('one upstream request per distinct blocking reload', async () => {
    const {pull, upstream} = setup({states: {demo: state('a:1')}, origins: {'a:1': async (r) => ok(`playlist for ${r.query}`, 'application/vnd.apple.mpegurl')}})
    const a = await Promise.all(Array.from({length: 10}, () => pull.pull(live('/live/demo/720p/index.m3u8?_HLS_msn=5&_HLS_part=1'))))
    await Promise.all(Array.from({length: 10}, () => pull.pull(live('/live/demo/720p/index.m3u8?_HLS_msn=5&_HLS_part=2'))))
    expect(upstream).toEqual(['blocking-playlist', 'blocking-playlist'])
    expect(a[0]).toMatchObject({type: 'object', object: {body: Buffer.from('playlist for ?_HLS_msn=5&_HLS_part=1')}})
  })

  it('offline without state; unknown renditions and origin 404s are not found', async () => {
    const {pull, current, upstream} = setup({states: {demo: state('a:1')}, origins: {'a:1': async () => ({status: 404, body: Buffer.alloc(0), contentType: undefined, cacheControl: undefined})}})
    expect(await pull.pull(live('/live/demo/1080p/index.m3u8'))).toMatchObject({type: 'error', status: 404, error: 'not found'})
    expect(upstream).toEqual([])
    expect(await pull.pull(live('/live/demo/720p/seg9.m4s'))).toMatchObject({type: 'error', status: 404, error: 'not found'})
    current.state = undefined
    const offline = setup({states: {demo: undefined}, origins: {}})
    expect(await offline.pull.pull(live('/live/demo/master.m3u8'))).toMatchObject({type: 'error', status: 404, error: 'offline'})
  })

  it('a dead origin: follows the stream to its new ingest, or reports 502 / offline', async () => {
    const {pull, current, upstream, failures} = setup({states: {demo: state('dead:1')}, origins: {'b:1': async () => ok('from b')}})
    current.state = state('dead:1')
    // Prime the state cache with the dead origin, then move the stream.
    expect(await pull.pull(live('/live/demo/720p/seg1.m4s'))).toMatchObject({type: 'error', status: 502})
    current.state = state('b:1', 's2')
    expect(await pull.pull(live('/live/demo/720p/seg1.m4s'))).toMatchObject({type: 'object', object: {body: Buffer.from('from b')}})
    // The cached state still named the dead ingest: it failed once more, then Redis said b.
    expect(upstream).toEqual(['segment', 'segment', 'segment'])
    expect(failures).toEqual(['segment', 'segment'])
    current.state = undefined
    const gone = setup({states: {demo: state('dead:1')}, origins: {}})
    gone.current.state = state('dead:1')
    const pending = gone.pull.pull(live('/live/demo/720p/seg1.m4s'))
    gone.current.state = undefined
    expect(await pending).toMatchObject({type: 'error', status: 404, error: 'offline'})
  })
})

describe('StreamStateCache', () => {
  it('reads each channel once per TTL, concurrent lookups included, and re-reads after invalidate', async () => {
    let now = 0
    let reads = 0
    const cache = new StreamStateCache(async () => (reads++, state('a:1')), 1000, () => now)
    await Promise.all([cache.get('demo'), cache.get('demo'), cache.get('demo')])
    expect(reads).toBe(1)
    now = 999
    await cache.get('demo')
    expect(reads).toBe(1)
    now = 1000
    await cache.get('demo')
    expect(reads).toBe(2)
    cache.invalidate('demo')
    await cache.get('demo')
    expect(reads).toBe(3)
    expect(cache.liveChannels()).toBe(1)
  })

  it('keeps a live channel on its last state while Redis cannot be read; an unknown one throws', async () => {
    let now = 0
    let failing = false
    const cache = new StreamStateCache(async () => {
      if (failing) throw new Error('redis down')
      return state('a:1')
    }, 1000, () => now)
    await cache.get('demo')
    failing = true
    now = 5000
    expect(await cache.get('demo')).toMatchObject({origin: 'a:1'})
    await expect(cache.get('other')).rejects.toThrow('redis down')
  })
})

describe('newestMedia', () => {
  it('lists init and the newest two media sequence numbers of an LL-HLS playlist, never the preload hint', () => {
    const playlist = [
      '#EXTM3U',
      '#EXT-X-MAP:URI="init.mp4"',
      '#EXTINF:2.000,',
      'seg100.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="part101.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.5,URI="part101.1.m4s"',
      '#EXTINF:2.000,',
      'seg101.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="part102.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part102.1.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=102,LAST-PART=0',
      '',
    ].join('\n')
    expect(newestMedia(playlist)).toEqual([
      {name: 'init.mp4', kind: 'init'},
      {name: 'part101.0.m4s', kind: 'part'},
      {name: 'part101.1.m4s', kind: 'part'},
      {name: 'seg101.m4s', kind: 'segment'},
      {name: 'part102.0.m4s', kind: 'part'},
    ])
  })

  it('ignores names it does not know (paths, other servers) rather than fetch them', () => {
    expect(newestMedia('#EXTM3U\n#EXTINF:2,\n../../etc/passwd\n#EXTINF:2,\nhttp://elsewhere/seg1.m4s\n')).toEqual([])
  })
})
