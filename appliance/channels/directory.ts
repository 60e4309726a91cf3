/**
 * Which channels exist (`channels` in MongoDB: made on a user's dashboard, or by
 * `shing stream-key create`). Answers are cached for a minute (a "no" for
 * 3 s), so that a known channel stays known while MongoDB is briefly away.
 */
import type {Db} from 'mongodb'

import {CHANNELS_COLLECTION} from './stream-keys.js'

const NEGATIVE_TTL_MS = 3000

export class ChannelDirectory {
  private readonly known = new Map<string, {exists: boolean; at: number}>()

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws when MongoDB cannot say and the answer is not known from before. */
  async exists(name: string): Promise<boolean> {
    const cached = this.known.get(name)
    // A channel that does not exist yet may be made any moment (the dashboard): "no" is kept briefly.
    if (cached !== undefined && this.now() - cached.at < (cached.exists ? this.ttlMs : Math.min(this.ttlMs, NEGATIVE_TTL_MS))) return cached.exists
    try {
      const exists = (await this.db.collection(CHANNELS_COLLECTION).findOne({name}, {projection: {_id: 1}})) !== null
      if (this.known.size >= 10_000) this.known.clear()
      this.known.set(name, {exists, at: this.now()})
      return exists
    } catch (error) {
      if (cached?.exists === true) return true
      throw error
    }
  }

  /** A channel deleted here is gone from this replica at once (the others learn within the TTL). */
  forget(name: string): void {
    this.known.delete(name)
  }
}
