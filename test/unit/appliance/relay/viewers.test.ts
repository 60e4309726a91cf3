import {describe, expect, it} from 'vitest'

import {EgressMeter, ViewerTracker} from '../../../../appliance/relay/viewers.js'

describe('ViewerTracker', () => {
  it('counts distinct viewers and their channels within the window', () => {
    let now = 0
    const tracker = new ViewerTracker(10_000, () => now)
    expect(tracker.see('v1', 'a')).toBe(true)
    expect(tracker.see('v1', 'a')).toBe(false)
    tracker.see('v2', 'a')
    tracker.see('v3', 'b')
    expect(tracker.viewers()).toBe(3)
    expect(tracker.streams()).toBe(2)
    now = 6000
    tracker.see('v1', 'a')
    now = 12_000
    expect(tracker.viewers()).toBe(1)
    expect(tracker.streams()).toBe(1)
    now = 16_001
    expect(tracker.viewers()).toBe(0)
    expect(tracker.see('v1', 'a')).toBe(true)
  })
})

describe('EgressMeter', () => {
  it('averages the bytes of the last complete seconds', () => {
    let now = 100_000
    const meter = new EgressMeter(5, () => now)
    for (let s = 0; s < 5; s++) {
      meter.add(1_000_000)
      now += 1000
    }
    expect(meter.bitsPerSecond()).toBe(8_000_000)
    meter.add(999) // the current second does not count yet
    expect(meter.bitsPerSecond()).toBe(8_000_000)
    now += 10_000
    expect(meter.bitsPerSecond()).toBe(0)
    expect(meter.totalBytes()).toBe(5_000_999)
  })
})
