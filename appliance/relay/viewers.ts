/**
 * What a relay reports as its load: viewers (distinct clients that asked for a playlist lately:
 * every player reloads one every part or segment) and egress (bytes sent per second lately).
 */

/** Distinct viewers (and the channels they watch) seen within windowMs. */
export class ViewerTracker {
  private readonly seen = new Map<string, {channel: string; at: number}>()

  constructor(
    readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a playlist request; true when the viewer is new (or came back after the window). */
  see(viewer: string, channel: string): boolean {
    const now = this.now()
    const key = `${channel}\n${viewer}`
    const last = this.seen.get(key)
    // Re-inserted so the map stays ordered by last sight: pruning stops at the first fresh one.
    this.seen.delete(key)
    this.seen.set(key, {channel, at: now})
    return last === undefined || now - last.at > this.windowMs
  }

  viewers(): number {
    this.prune()
    return this.seen.size
  }

  /** Channels with at least one viewer. */
  streams(): number {
    this.prune()
    return new Set([...this.seen.values()].map((v) => v.channel)).size
  }

  private prune(): void {
    const oldest = this.now() - this.windowMs
    for (const [key, {at}] of this.seen) {
      if (at >= oldest) break
      this.seen.delete(key)
    }
  }
}

/** Bytes sent, in one-second buckets; the rate is over the last windowSeconds complete seconds. */
export class EgressMeter {
  private readonly buckets = new Map<number, number>()
  private total = 0

  constructor(
    readonly windowSeconds = 5,
    private readonly now: () => number = Date.now,
  ) {}

  add(bytes: number): void {
    const second = Math.floor(this.now() / 1000)
    const bucket = this.buckets.get(second)
    if (bucket === undefined) {
      // A new second: drop the buckets no rate will read again.
      for (const old of this.buckets.keys()) if (old < second - this.windowSeconds) this.buckets.delete(old)
    }
    this.buckets.set(second, (bucket ?? 0) + bytes)
    this.total += bytes
  }

  totalBytes(): number {
    return this.total
  }

  bitsPerSecond(): number {
    const current = Math.floor(this.now() / 1000)
    let bytes = 0
    for (const [second, count] of this.buckets) {
      if (second < current - this.windowSeconds) this.buckets.delete(second)
      else if (second < current) bytes += count
    }
    return Math.round((bytes * 8) / this.windowSeconds)
  }
}
