/**
 * The relay's memory: a least-recently-used cache bounded by bytes, and a single-flight map that
 * turns concurrent requests for one key into one upstream fetch.
 */

interface Entry<V> {
  value: V
  bytes: number
  /** Epoch ms after which the entry is a miss (playlists); undefined: until evicted (media). */
  expiresAt: number | undefined
}

export interface ByteLruStats {
  bytes: number
  entries: number
  maxBytes: number
  evictions: number
}

/**
 * Holds at most maxBytes of values. A Map keeps insertion order, so re-inserting on every hit
 * makes its first key the least recently used: eviction is O(1) per entry.
 */
export class ByteLru<V> {
  private readonly entries = new Map<string, Entry<V>>()
  private bytes = 0
  private evictions = 0

  constructor(
    readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
    private readonly now: () => number = Date.now,
    /** Told of every entry that leaves (evicted, expired, replaced, deleted): the relay's files go with it. */
    private readonly onRemove: (key: string, value: V) => void = () => undefined,
  ) {
    if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${maxBytes}`)
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.remove(key, entry)
      return undefined
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.value
  }

  /**
   * Stores the value (ttlMs: how long it stays valid) and evicts the least recently used entries
   * until everything fits. A value larger than the whole cache is not stored: returns false.
   */
  set(key: string, value: V, ttlMs?: number): boolean {
    return this.setSized(key, value, this.sizeOf(value), ttlMs)
  }

  /** As set, with the size given (a file's, known only when it was written). */
  setSized(key: string, value: V, bytes: number, ttlMs?: number): boolean {
    const old = this.entries.get(key)
    if (old !== undefined) this.remove(key, old)
    if (bytes > this.maxBytes) return false
    while (this.bytes + bytes > this.maxBytes) {
      const oldest = this.entries.entries().next()
      if (oldest.done === true) break
      this.remove(oldest.value[0], oldest.value[1])
      this.evictions++
    }
    this.entries.set(key, {value, bytes, expiresAt: ttlMs === undefined ? undefined : this.now() + ttlMs})
    this.bytes += bytes
    return true
  }

  delete(key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined) this.remove(key, entry)
  }

  /** Drops expired entries now (they would otherwise wait for a lookup or eviction). */
  sweep(): number {
    const now = this.now()
    let dropped = 0
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
        this.remove(key, entry)
        dropped++
      }
    }
    return dropped
  }

  stats(): ByteLruStats {
    return {bytes: this.bytes, entries: this.entries.size, maxBytes: this.maxBytes, evictions: this.evictions}
  }

  /** Removes every entry whose key starts with prefix (a broadcast that ended). */
  deletePrefix(prefix: string): number {
    let dropped = 0
    for (const [key, entry] of this.entries) {
      if (!key.startsWith(prefix)) continue
      this.remove(key, entry)
      dropped++
    }
    return dropped
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key)
    this.bytes -= entry.bytes
    this.onRemove(key, entry.value)
  }
}

/**
 * One run of `work` per key at a time: callers that arrive while it runs share its promise
 * (`joined` tells them so). The key is free again as soon as the work settles.
 */
export class SingleFlight<T> {
  private readonly pending = new Map<string, Promise<T>>()

  run(key: string, work: () => Promise<T>): {promise: Promise<T>; joined: boolean} {
    const running = this.pending.get(key)
    if (running !== undefined) return {promise: running, joined: true}
    const promise = (async () => {
      try {
        return await work()
      } finally {
        this.pending.delete(key)
      }
    })()
    this.pending.set(key, promise)
    return {promise, joined: false}
  }

  get size(): number {
    return this.pending.size
  }
}
