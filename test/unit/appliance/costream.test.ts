import {describe, expect, it} from 'vitest'

import type {CallPeerView} from '../../../appliance/contract/index.js'
import {canvasOf, chooseTiles, compositorArgs, publisherArgs, tileRects, type CompositorPlan} from '../../../appliance/ingest/costream.js'

const peer = (id: string, name: string, producers: CallPeerView['producers'] = []): CallPeerView => ({peer: id, name, producers})
const cam = (id: string, paused = false): CallPeerView['producers'][number] => ({id, kind: 'video', source: 'camera', paused})
const mic = (id: string, paused = false): CallPeerView['producers'][number] => ({id, kind: 'audio', source: 'mic', paused})

describe('the studio compositor', () => {
  it('tiles a 16:9 picture at the ladder top: 1 fills it, 2 side by side, 4 in a grid', () => {
    const canvas = canvasOf(720)
    expect(canvas).toEqual({width: 1280, height: 720})
    expect(tileRects(1, canvas)).toEqual([{x: 0, y: 0, width: 1280, height: 720}])
    expect(tileRects(2, canvas)).toEqual([{x: 0, y: 0, width: 640, height: 720}, {x: 640, y: 0, width: 640, height: 720}])
    expect(tileRects(4, canvas).map((r) => [r.x, r.y])).toEqual([[0, 0], [640, 0], [0, 360], [640, 360]])
    // Odd sizes round to even ones (H.264 in 4:2:0 needs them).
    expect(canvasOf(361)).toEqual({width: 640, height: 360})
  })

  it('puts the host first, then the others in the order they came, up to the layout; a screen share before the camera; paused ones left out', () => {
    const peers = [
      peer('a', 'gus', [cam('a-cam'), mic('a-mic')]),
      peer('b', 'host', [cam('b-cam'), {id: 'b-screen', kind: 'video', source: 'screen', paused: false}, mic('b-mic', true)]),
      peer('c', 'gia', [cam('c-cam', true), mic('c-mic')]),
      peer('costream-x-1', 'broadcast'),
      peer('d', 'late', [cam('d-cam')]),
    ]
    const tiles = chooseTiles(peers, 'host', 4)
    expect(tiles.map((t) => t.peer.name)).toEqual(['host', 'gus', 'gia', 'late'])
    expect(tiles[0]).toMatchObject({video: 'b-screen'})
    expect(tiles[0]!.audio).toBeUndefined()
    expect(tiles[2]!.video).toBeUndefined()
    expect(tiles[2]!.audio).toBe('c-mic')
    expect(chooseTiles(peers, 'host', 2).map((t) => t.peer.name)).toEqual(['host', 'gus'])
    // The host away: the others fill the picture.
    expect(chooseTiles(peers, 'nobody', 1).map((t) => t.peer.name)).toEqual(['gus'])
  })

  const plan: CompositorPlan = {layout: 4, tiles: [0, undefined, 2], audio: [1, 3], rtp: true, canvas: {width: 1280, height: 720}, fps: 30, videoKbps: 3000, segmentSeconds: 2, offsetSeconds: 12.5}

  it('overlays each tile with a picture on the background, mixes every voice with silence, and goes on from the last timestamps', () => {
    const args = compositorArgs(plan)
    const graph = args[args.indexOf('-filter_complex') + 1]!
    expect(graph).toContain('color=c=0x111827:s=1280x720:r=30')
    expect(graph).toContain('[0:0]scale=w=640:h=360')
    expect(graph).toContain('[0:2]scale=w=640:h=360')
    // Tile 1 has no picture: two overlays, not three.
    expect(graph.match(/overlay=/g)).toHaveLength(2)
    expect(graph).toContain('overlay=x=0+(640-overlay_w)/2:y=360+(360-overlay_h)/2')
    expect(graph).toContain('[a0][a1][silence]amix=inputs=3')
    expect(args.slice(args.indexOf('-output_ts_offset'), args.indexOf('-output_ts_offset') + 2)).toEqual(['-output_ts_offset', '12.500'])
    expect(args).toContain('-reinit_filter')
    expect(args.slice(-3)).toEqual(['-f', 'mpegts', 'pipe:1'])
    expect(args[args.indexOf('-g') + 1]).toBe('60')
  })

  it('with nothing to show, paces itself on its own background and silence', () => {
    const args = compositorArgs({...plan, tiles: [], audio: [], rtp: false})
    expect(args).not.toContain('sdp')
    expect(args.filter((a) => a === '-re')).toHaveLength(2)
    expect(args[args.indexOf('-filter_complex') + 1]).toContain('[silence]amix=inputs=1')
  })

  it('publishes MPEG-TS from stdin as it comes', () => {
    const args = publisherArgs('rtmp://127.0.0.1:1935/live/x')
    expect(args).toContain('copy')
    expect(args.slice(-3)).toEqual(['-f', 'flv', 'rtmp://127.0.0.1:1935/live/x'])
  })
})
