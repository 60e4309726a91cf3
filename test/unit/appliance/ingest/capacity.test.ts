import {describe, expect, it} from 'vitest'

import {BoxCpu, CapacityMonitor} from '../../../../appliance/ingest/capacity.js'

describe('BoxCpu', () => {
  it("reads the box's busy share between two /proc/stat samples (idle and iowait are not busy)", () => {
    const lines = ['cpu  100 0 100 800 0 0 0 0 0 0', 'cpu  250 0 150 900 100 0 0 0 0 0']
    const cpu = new BoxCpu(() => `${lines.shift()}\ncpu0 1 2 3 4\n`)
    expect(cpu.sample()).toBeUndefined()
    expect(cpu.sample()).toBeCloseTo(200 / 400)
    expect(new BoxCpu(() => {
      throw new Error('no /proc')
    }).sample()).toBeUndefined()
  })
})

/** Feeds a monitor one sample a second: each ladder advancing `speed` media seconds per second. */
function drive(m: CapacityMonitor, seconds: number, ladders: Record<string, {speed: number; rungs: number}>, busy: number, from = 0): number {
  const out: Record<string, number> = {}
  for (let s = 0; s <= seconds; s++) {
    const now = (from + s) * 1000
    m.observe(now, {boxBusy: busy, ladders: Object.entries(ladders).map(([id, l]) => ({id, outTime: (out[id] = (out[id] ?? 0) + (s === 0 ? 0 : l.speed)), rungs: l.rungs, cpuMicros: (from + s) * 500_000}))})
  }
  return (from + seconds) * 1000
}

describe('CapacityMonitor', () => {
  it('ladders at realtime on a calm box: room, measured from what a ladder costs', () => {
    const m = new CapacityMonitor({cores: 2})
    const now = drive(m, 15, {a: {speed: 1, rungs: 3}}, 0.3)
    expect(m.state(now)).toEqual({full: false, behind: [], boxBusy: 0.3})
    // (0.9 − 0.3) × 2 idle cores over 0.5 core per ladder.
    expect(m.headroom(now)).toBe(2)
    expect(m.shedCandidate(now)).toBeUndefined()
  })

  it('a ladder behind realtime: full, and the stream with the most renditions sheds first, one at a time', () => {
    const m = new CapacityMonitor({cores: 2})
    const now = drive(m, 15, {a: {speed: 0.8, rungs: 3}, b: {speed: 0.85, rungs: 2}}, 1)
    expect(m.state(now)).toMatchObject({full: true, behind: ['a', 'b']})
    expect(m.headroom(now)).toBe(0)
    expect(m.shedCandidate(now)).toBe('a')
    m.recordShed(now)
    expect(m.shedCandidate(now + 5000)).toBeUndefined() // its effect is awaited
  })

  it("a saturated box sheds before a ladder slows down; a busy one only takes nothing new; the first seconds don't count", () => {
    const saturated = new CapacityMonitor({cores: 2})
    const t1 = drive(saturated, 15, {a: {speed: 1, rungs: 3}}, 0.99)
    expect(saturated.state(t1)).toMatchObject({full: true, behind: []})
    expect(saturated.shedCandidate(t1)).toBe('a')
    const busy = new CapacityMonitor({cores: 2})
    const t2 = drive(busy, 15, {a: {speed: 1, rungs: 3}}, 0.92)
    expect(busy.state(t2)).toMatchObject({full: true, reason: "the box's CPU is 92% busy"})
    expect(busy.shedCandidate(t2)).toBeUndefined()
    const warming = new CapacityMonitor({cores: 2})
    const t3 = drive(warming, 5, {a: {speed: 0.5, rungs: 3}}, 0.5)
    expect(warming.state(t3).behind).toEqual([])
  })
})
