/**
 * Channels and who owns them (`channels` in MongoDB; the name is the URL, unique). A user makes
 * their channel from the dashboard; a channel made by `shing stream-key create` has no owner
 * until an admin gives it one.
 */
import {MongoServerError, type Collection, type Db} from 'mongodb'

import {CHANNEL_PATTERN, type ChannelCategory, type ChannelLanguage} from '../contract/index.js'
import {FieldError} from '../platform/field-error.js'
import type {ChannelImageKind} from './images.js'
import type {ChannelProfile} from './profile.js'
import {CHANNELS_COLLECTION} from './stream-keys.js'

export const TITLE_MAX_LENGTH = 140

export interface ChannelDoc {
  name: string
  createdAt: Date
  /** The owner's user id; absent for a channel made from the terminal. */
  ownerId?: string
  /** The live title, shown on the channel page and the front page. */
  title?: string
  /** The profile (dashboard): plain text, shown escaped with its line breaks. */
  description?: string
  category?: ChannelCategory
  tags?: string[]
  language?: ChannelLanguage
  mature?: boolean
  /** The object name (under channels/<name>/ in S3) of each image the streamer uploaded. */
  images?: Partial<Record<ChannelImageKind, string>>
  /** Set by a moderator (admin area): the channel cannot go live, its page says so, no list shows it. */
  disabled?: ChannelDisabled
  /** Real-time playback (WHEP) offered beside LL-HLS: the owner's choice in the dashboard. */
  realtime?: boolean
  /** The studio's call room (co-streaming): its link lets guests in; a new one shuts the old out. */
  studioRoom?: string
}

/** Who disabled a channel, when, and why (the reason is shown to its owner). */
export interface ChannelDisabled {
  at: Date
  by: string
  reason: string
}

/** Whether a channel offers real-time playback (its broadcasts are also sent to an SFU). */
export async function realtimeOn(db: Db, channel: string): Promise<boolean> {
  const doc = await db.collection<ChannelDoc>(CHANNELS_COLLECTION).findOne({name: channel}, {projection: {realtime: 1}, maxTimeMS: 2000})
  return doc?.realtime === true
}

/** What every list of channels asks: a disabled channel is in none. */
const LISTED = {disabled: {$exists: false}} as const

/** What lists of channels show of each (front page, browse, search). */
export type ChannelCard = Pick<ChannelDoc, 'name' | 'title' | 'category' | 'images' | 'mature'>
const CARD_PROJECTION = {_id: 0, name: 1, title: 1, category: 1, images: 1, mature: 1} as const
const LIST_LIMIT = 100

/** Text typed into a search box as a regular expression that matches it literally. */
export const literalPattern = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

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
    await this.collection.createIndex({category: 1, name: 1})
    await this.collection.createIndex({studioRoom: 1}, {sparse: true})
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

  /** A new channel of `ownerId`, who may own `limit` (the site's setting). */
  async create(input: {name: string; title: string; ownerId: string; limit: number}): Promise<ChannelDoc> {
    const name = input.name.trim().toLowerCase()
    const title = input.title.trim()
    const problem = channelNameProblem(name)
    if (problem !== undefined) throw new ChannelInputError('name', problem)
    const long = titleProblem(title)
    if (long !== undefined) throw new ChannelInputError('title', long)
    if ((await this.collection.countDocuments({ownerId: input.ownerId})) >= input.limit) {
      throw new ChannelInputError('name', `You have ${input.limit === 1 ? 'a channel already' : `${input.limit} channels already`}: this site allows ${input.limit} per account.`)
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

  /** Channels whose name or title holds `query` (any case), by name. */
  search(query: string): Promise<ChannelCard[]> {
    const pattern = literalPattern(query.trim())
    return this.collection
      .find({...LISTED, $or: [{name: {$regex: literalPattern(query.trim().toLowerCase())}}, {title: {$regex: pattern, $options: 'i'}}]}, {projection: CARD_PROJECTION})
      .sort({name: 1})
      .limit(LIST_LIMIT)
      .toArray()
  }

  inCategory(category: ChannelCategory): Promise<ChannelCard[]> {
    return this.collection.find({category, ...LISTED}, {projection: CARD_PROJECTION}).sort({name: 1}).limit(LIST_LIMIT).toArray()
  }

  /** The cards of these channels (the live ones, the latest broadcasts' ones), by name; a disabled one has none. */
  async cards(names: readonly string[]): Promise<Map<string, ChannelCard>> {
    const found = await this.collection.find({name: {$in: [...names]}, ...LISTED}, {projection: CARD_PROJECTION}).toArray()
    return new Map(found.map((c) => [c.name, c]))
  }

  /** How many channels each category holds (categories with none are left out). */
  async categoryCounts(): Promise<Map<ChannelCategory, number>> {
    const rows = await this.collection.aggregate<{_id: ChannelCategory; count: number}>([{$match: {category: {$exists: true}, ...LISTED}}, {$group: {_id: '$category', count: {$sum: 1}}}]).toArray()
    return new Map(rows.map((r) => [r._id, r.count]))
  }

  /** Sets every profile field at once: one left empty is removed. */
  async setProfile(name: string, profile: ChannelProfile): Promise<void> {
    const fields = ['description', 'category', 'tags', 'language', 'mature', 'realtime'] as const
    const $set: Partial<ChannelDoc> = {}
    const $unset: Partial<Record<(typeof fields)[number], ''>> = {}
    for (const field of fields) {
      if (profile[field] === undefined) $unset[field] = ''
      else Object.assign($set, {[field]: profile[field]})
    }
    await this.collection.updateOne({name}, {...(Object.keys($set).length === 0 ? {} : {$set}), ...(Object.keys($unset).length === 0 ? {} : {$unset})})
  }

  /** Records a new image's object name; the previous one's name, which the caller deletes. */
  async setImage(name: string, kind: ChannelImageKind, object: string | undefined): Promise<string | undefined> {
    // The whole document back: FerretDB, which the tests run on, takes no projection in findAndModify.
    const before = await this.collection.findOneAndUpdate({name}, object === undefined ? {$unset: {[`images.${kind}`]: ''}} : {$set: {[`images.${kind}`]: object}})
    const previous = before?.images?.[kind]
    return previous === object ? undefined : previous
  }

  /** Disables the channel (its stream keys and a live broadcast are the caller's: admin/channel-moderation.ts); false if it was already. */
  async disable(name: string, disabled: ChannelDisabled): Promise<boolean> {
    const result = await this.collection.updateOne({name, disabled: {$exists: false}}, {$set: {disabled}})
    return result.modifiedCount === 1
  }

  /** false if it was not disabled. */
  async enable(name: string): Promise<boolean> {
    const result = await this.collection.updateOne({name, disabled: {$exists: true}}, {$unset: {disabled: ''}})
    return result.modifiedCount === 1
  }

  async setTitle(name: string, title: string): Promise<void> {
    const trimmed = title.trim()
    const problem = titleProblem(trimmed)
    if (problem !== undefined) throw new ChannelInputError('title', problem)
    await this.collection.updateOne({name}, trimmed === '' ? {$unset: {title: ''}} : {$set: {title: trimmed}})
  }
}
