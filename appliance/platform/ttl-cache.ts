/**
 * Answers kept for a short time, per key: a page asked for a thousand times a second costs its
 * database one query per key per interval. A failed load is not kept; at most `maxEntries` keys
 * (the oldest go first).
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, {at: number; value: Promise<V>}>()

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key)
    if (hit !== undefined && this.now() - hit.at < this.ttlMs) return hit.value
    const value = load()
    this.entries.delete(key)
    this.entries.set(key, {at: this.now(), value})
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as K)
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key)
    })
    return value
  }

  /** The next get loads anew (this process changed what it holds). */
  forget(key: K): void {
    this.entries.delete(key)
  }
}
