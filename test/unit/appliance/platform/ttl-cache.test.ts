import {describe, expect, it} from 'vitest'

import {TtlCache} from '../../../../appliance/platform/ttl-cache.js'

describe('TtlCache', () => {
  it('loads a key once per interval, again after it, and forgets a failed load', async () => {
    let now = 0
    let loads = 0
    const cache = new TtlCache<string, number>(1000, 10, () => now)
    const load = async (): Promise<number> => ++loads
    expect(await cache.get('a', load)).toBe(1)
    expect(await cache.get('a', load)).toBe(1)
    now = 1000
    expect(await cache.get('a', load)).toBe(2)
    await expect(cache.get('b', async () => Promise.reject(new Error('down')))).rejects.toThrow('down')
    expect(await cache.get('b', load)).toBe(3)
  })

  it('holds at most maxEntries keys, dropping the oldest', async () => {
    let loads = 0
    const cache = new TtlCache<number, number>(60_000, 2, () => 0)
    for (const key of [1, 2, 3]) await cache.get(key, async () => ++loads)
    expect(await cache.get(2, async () => ++loads)).toBe(2)
    expect(await cache.get(1, async () => ++loads)).toBe(4)
  })
})
