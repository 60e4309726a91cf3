import {describe, expect, it} from 'vitest'

import {ByteLru, SingleFlight} from '../../../../appliance/relay/cache.js'

const buffers = (maxBytes: number, now: () => number = Date.now): ByteLru<Buffer> => new ByteLru<Buffer>(maxBytes, (b) => b.length, now)

describe('ByteLru', () => {
  it('never holds more than its bound: the least recently used go first', () => {
    const cache = buffers(100)
    cache.set('a', Buffer.alloc(40))
    cache.set('b', Buffer.alloc(40))
    expect(cache.get('a')?.length).toBe(40) // a is now the most recent
    cache.set('c', Buffer.alloc(40))
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBeDefined()
    expect(cache.get('c')).toBeDefined()
    expect(cache.stats()).toEqual({bytes: 80, entries: 2, maxBytes: 100, evictions: 1})
  })

  it('evicts as many entries as a big value needs, and refuses one larger than the whole cache', () => {
    const cache = buffers(100)
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, Buffer.alloc(25))
    expect(cache.set('big', Buffer.alloc(90))).toBe(true)
    expect(cache.stats()).toMatchObject({bytes: 90, entries: 1, evictions: 4})
    expect(cache.set('huge', Buffer.alloc(101))).toBe(false)
    expect(cache.get('huge')).toBeUndefined()
    expect(cache.stats().bytes).toBe(90)
  })

  it('replacing a key counts its bytes once', () => {
    const cache = buffers(100)
    cache.set('a', Buffer.alloc(60))
    cache.set('a', Buffer.alloc(70))
    expect(cache.stats()).toMatchObject({bytes: 70, entries: 1, evictions: 0})
  })

  it('an entry with a TTL is a miss once it expires, and sweep frees its bytes', () => {
    let now = 1000
    const cache = buffers(100, () => now)
    cache.set('playlist', Buffer.alloc(10), 250)
    cache.set('segment', Buffer.alloc(20))
    now += 249
    expect(cache.get('playlist')).toBeDefined()
    now += 1
    expect(cache.get('playlist')).toBeUndefined()
    cache.set('other', Buffer.alloc(5), 100)
    now += 100
    expect(cache.sweep()).toBe(1)
    expect(cache.stats()).toMatchObject({bytes: 20, entries: 1})
  })

  it('refuses a bound that is not positive', () => {
    expect(() => buffers(0)).toThrow(RangeError)
  })
})

describe('SingleFlight', () => {
  it('runs the work once for concurrent callers, then frees the key', async () => {
    const flights = new SingleFlight<number>()
    let runs = 0
    let release: (value: number) => void = () => undefined
    const work = async (): Promise<number> => {
      runs++
      return new Promise<number>((resolve) => (release = resolve))
    }
    const first = flights.run('k', work)
    const second = flights.run('k', work)
    expect(first.joined).toBe(false)
    expect(second.joined).toBe(true)
    expect(flights.size).toBe(1)
    release(7)
    expect(await Promise.all([first.promise, second.promise])).toEqual([7, 7])
    expect(runs).toBe(1)
    expect(flights.size).toBe(0)
    const third = flights.run('k', async () => 8)
    expect(third.joined).toBe(false)
    expect(await third.promise).toBe(8)
  })

  it('a failure reaches every caller and does not stick', async () => {
    const flights = new SingleFlight<number>()
    const failing = async (): Promise<number> => {
      throw new Error('upstream down')
    }
    const a = flights.run('k', failing)
    const b = flights.run('k', failing)
    await expect(a.promise).rejects.toThrow('upstream down')
    await expect(b.promise).rejects.toThrow('upstream down')
    expect(await flights.run('k', async () => 1).promise).toBe(1)
  })
})
