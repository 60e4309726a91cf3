import {describe, expect, it} from 'vitest'

import {answeredReloads, nextReload, reloadName} from '../../../../appliance/relay/held-reloads.js'

/** A media playlist as the packager writes it: complete segments (the last ones with their parts), then the current segment's parts. */
function playlist(complete: number[], partsOf: Record<number, number>, hint?: string): string {
  const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-MAP:URI="init.mp4"']
  for (const n of complete) {
    for (let i = 0; i < (partsOf[n] ?? 0); i++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="part${n}.${i}.m4s"`)
    lines.push('#EXTINF:2.000,', `seg${n}.m4s`)
  }
  const current = Math.max(...complete) + 1
  for (let i = 0; i < (partsOf[current] ?? 0); i++) lines.push(`#EXT-X-PART:DURATION=0.5,URI="part${current}.${i}.m4s"`)
  if (hint !== undefined) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${hint}"`)
  return `${lines.join('\n')}\n`
}

describe('held reloads: what a playlist answers and what a player asks next', () => {
  it('asks for the next part of the current segment, as hls.js does', () => {
    const text = playlist([10, 11, 12], {11: 4, 12: 4, 13: 2}, 'part13.2.m4s')
    expect(nextReload(text)).toEqual({msn: 13, part: 2})
  })

  it('asks for part 0 of the next segment when the last part ended a segment', () => {
    expect(nextReload(playlist([10, 11, 12], {11: 4, 12: 4}, 'part13.0.m4s'))).toEqual({msn: 13, part: 0})
  })

  it('asks for the next whole segment when the playlist has no parts', () => {
    expect(nextReload(playlist([10, 11], {}))).toEqual({msn: 12, part: undefined})
    expect(nextReload('#EXTM3U\n')).toBeUndefined()
  })

  it('answers every listed part and complete segment of the newest three media sequence numbers, never the hint', () => {
    const names = answeredReloads(playlist([8, 9, 10, 11, 12], {11: 4, 12: 4, 13: 2}, 'part13.2.m4s')).map(reloadName)
    expect(names).toEqual(['11-', '12-', '11-0', '11-1', '11-2', '11-3', '12-0', '12-1', '12-2', '12-3', '13-0', '13-1'])
    expect(names).not.toContain('13-2')
  })
})
