/**
 * Who follows which channel (MongoDB `follows`), each follow with its "tell me when it goes live"
 * switch. One document per account and channel (a unique index): following twice is following.
 */
import {MongoServerError, type Collection, type Db} from 'mongodb'

export const FOLLOWS_COLLECTION = 'follows'

export interface FollowDoc {
  userId: string
  channel: string
  /** Tell them when the channel goes live (notifications read this). */
  notify: boolean
  at: Date
}

export class Follows {
  readonly collection: Collection<FollowDoc>

  constructor(db: Db) {
    this.collection = db.collection<FollowDoc>(FOLLOWS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({userId: 1, channel: 1}, {unique: true, name: 'follower_channel'})
    await this.collection.createIndex({channel: 1, at: -1}, {name: 'channel_followers'})
  }

  /** Follows (notify on, unless asked otherwise); true when they did not follow before. */
  async follow(userId: string, channel: string, notify = true): Promise<boolean> {
    try {
      const result = await this.collection.updateOne({userId, channel}, {$setOnInsert: {userId, channel, notify, at: new Date()}}, {upsert: true})
      return result.upsertedCount === 1
    } catch (error) {
      // Two clicks at once: the unique index keeps one, and the second is simply "already".
      if (error instanceof MongoServerError && error.code === 11000) return false
      throw error
    }
  }

  async unfollow(userId: string, channel: string): Promise<boolean> {
    return (await this.collection.deleteOne({userId, channel})).deletedCount === 1
  }

  /** Turns the live notification on or off; false when they do not follow. */
  async setNotify(userId: string, channel: string, notify: boolean): Promise<boolean> {
    return (await this.collection.updateOne({userId, channel}, {$set: {notify}})).matchedCount === 1
  }

  get(userId: string, channel: string): Promise<FollowDoc | null> {
    return this.collection.findOne({userId, channel})
  }

  count(channel: string): Promise<number> {
    return this.collection.countDocuments({channel})
  }

  /** What an account follows, newest first (at most 500). */
  following(userId: string): Promise<FollowDoc[]> {
    return this.collection.find({userId}).sort({at: -1}).limit(500).toArray()
  }

  /** A deleted channel loses its followers; a deleted account its follows. */
  async removeChannel(channel: string): Promise<void> {
    await this.collection.deleteMany({channel})
  }

  async removeAccount(userId: string): Promise<void> {
    await this.collection.deleteMany({userId})
  }
}
