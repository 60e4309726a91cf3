/**
 * Channels and who owns them (`channels` in MongoDB; the name is the URL, unique). A user makes
 * their channel from the dashboard; a channel made by `shing stream-key create` has no owner
 * until an admin gives it one.
 */
import {MongoServerError, type Collection, type Db} from 'mongodb'

import {CHANNEL_PATTERN} from '../contract/index.js'
import {FieldError} from '../platform/field-error.js'
import {CHANNELS_COLLECTION} from './stream-keys.js'

/** How many channels a user may own (an admin setting later; one until then). */
export const MAX_CHANNELS_PER_USER = 1
export const TITLE_MAX_LENGTH = 140

export interface ChannelDoc {
  name: string
  createdAt: Date
  /** The owner's user id; absent for a channel made from the terminal. */
  ownerId?: string
  /** The live title, shown on the channel page and the front page. */
  title?: string
}

export class ChannelInputError extends FieldError<'name' | 'title'> {
  override name = 'ChannelInputError'
}

export function channelNameProblem(name: string): string | undefined {
  if (!CHANNEL_PATTERN.test(name)) return 'Use 1-63 of a-z, 0-9, _ and -, starting with a letter or digit (it is the channel\'s address).'
  return undefined
}

export function titleProblem(title: string): string | undefined {
  if (title.length > TITLE_MAX_LENGTH) return `Keep the title to ${TITLE_MAX_LENGTH} characters.`
  return undefined
}

export class Channels {
  readonly collection: Collection<ChannelDoc>

  constructor(db: Db) {
    this.collection = db.collection<ChannelDoc>(CHANNELS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({name: 1}, {unique: true})
    await this.collection.createIndex({ownerId: 1})
  }

  byName(name: string): Promise<ChannelDoc | null> {
    return this.collection.findOne({name})
  }

  byOwner(ownerId: string): Promise<ChannelDoc[]> {
    return this.collection.find({ownerId}).sort({createdAt: 1}).toArray()
  }

  /** The channel if `userId` owns it, else null (someone else's looks the same as none). */
  async owned(name: string, userId: string): Promise<ChannelDoc | null> {
    if (!CHANNEL_PATTERN.test(name)) return null
    return this.collection.findOne({name, ownerId: userId})
  }

  async create(input: {name: string; title: string; ownerId: string}): Promise<ChannelDoc> {
    const name = input.name.trim().toLowerCase()
    const title = input.title.trim()
    const problem = channelNameProblem(name)
    if (problem !== undefined) throw new ChannelInputError('name', problem)
    const long = titleProblem(title)
    if (long !== undefined) throw new ChannelInputError('title', long)
    if ((await this.collection.countDocuments({ownerId: input.ownerId})) >= MAX_CHANNELS_PER_USER) {
      throw new ChannelInputError('name', `You have ${MAX_CHANNELS_PER_USER === 1 ? 'a channel already' : `${MAX_CHANNELS_PER_USER} channels already`}: this site allows ${MAX_CHANNELS_PER_USER} per account.`)
    }
    const channel: ChannelDoc = {name, createdAt: new Date(), ownerId: input.ownerId, ...(title === '' ? {} : {title})}
    try {
      await this.collection.insertOne(channel)
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) throw new ChannelInputError('name', 'That channel name is taken; choose another.', true)
      throw error
    }
    return channel
  }

  async setTitle(name: string, title: string): Promise<void> {
    const trimmed = title.trim()
    const problem = titleProblem(trimmed)
    if (problem !== undefined) throw new ChannelInputError('title', problem)
    await this.collection.updateOne({name}, trimmed === '' ? {$unset: {title: ''}} : {$set: {title: trimmed}})
  }
}
