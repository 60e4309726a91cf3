/**
 * A channel's schedule of upcoming broadcasts (MongoDB `schedules`): what its streamer plans, when
 * (stored in UTC), and, once the channel went live near that time, the broadcast it became.
 */
import {ObjectId, type Collection, type Db} from 'mongodb'

import {isChannelCategory, type ChannelCategory} from '../contract/index.js'
import type {FieldErrors} from '../web/html.js'

export const SCHEDULES_COLLECTION = 'schedules'

export const SCHEDULE_TITLE_MAX_LENGTH = 140
/** How far ahead an entry may be planned. */
export const SCHEDULE_MAX_AHEAD_MS = 366 * 24 * 3600_000
/** Entries one channel may have planned at once. */
export const SCHEDULE_MAX_UPCOMING = 50
/** Going live from this long before an entry's start… */
export const LINK_BEFORE_MS = 30 * 60_000
/** …to this long after it makes the broadcast that entry's (and keeps an unlinked entry listed as due). */
export const LINK_AFTER_MS = 2 * 3600_000

export interface ScheduleDoc {
  _id: ObjectId
  channel: string
  title: string
  category?: ChannelCategory
  startsAt: Date
  createdAt: Date
  updatedAt: Date
  /** The broadcast it became (the channel went live near its time). */
  streamId?: string
}

export interface ScheduleInput {
  title: string
  startsAt: Date
  category?: ChannelCategory
}

/** What the dashboard's form sends: the time as the browser's script converted it to UTC, else the local field as UTC. */
export interface ScheduleForm {
  title: string
  category: string
  /** <input type="datetime-local">: "2027-01-05T20:30", the streamer's local time. */
  local: string
  /** The same instant in UTC (ISO 8601), filled in by the page's script from the browser's time zone. */
  utc: string
}

const LOCAL_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/

/** The form checked: an entry, or the message per field. */
export function parseScheduleForm(form: ScheduleForm, now = new Date()): {input: ScheduleInput; errors?: undefined} | {errors: FieldErrors; input?: undefined} {
  const errors: FieldErrors = {}
  const title = form.title.trim().replace(/\s+/g, ' ')
  if (title === '') errors.title = 'Say what the broadcast is about.'
  else if ([...title].length > SCHEDULE_TITLE_MAX_LENGTH) errors.title = `At most ${SCHEDULE_TITLE_MAX_LENGTH} characters.`
  const category = form.category.trim()
  if (category !== '' && !isChannelCategory(category)) errors.category = 'Choose a category from the list.'
  // The script's UTC value when there is one; without JavaScript the local field is read as UTC (the form says so).
  let startsAt: Date | undefined
  if (form.utc !== '' && !Number.isNaN(Date.parse(form.utc)) && /Z$|[+-]\d{2}:\d{2}$/.test(form.utc)) startsAt = new Date(form.utc)
  else if (LOCAL_PATTERN.test(form.local)) startsAt = new Date(`${form.local}Z`)
  if (startsAt === undefined || Number.isNaN(startsAt.getTime())) errors.startsAt = 'Give the date and time it starts.'
  else if (startsAt.getTime() <= now.getTime()) errors.startsAt = 'That time has passed: give one in the future.'
  else if (startsAt.getTime() - now.getTime() > SCHEDULE_MAX_AHEAD_MS) errors.startsAt = 'At most a year ahead.'
  if (Object.keys(errors).length > 0 || startsAt === undefined) return {errors}
  // Whole seconds: the reminder's key and the calendar carry no milliseconds.
  startsAt.setUTCMilliseconds(0)
  return {input: {title, startsAt, ...(category === '' ? {} : {category: category as ChannelCategory})}}
}

export class ScheduleLimitError extends Error {}

/** An entry's id from a path segment, or undefined when it is not one. */
export function entryId(id: string): ObjectId | undefined {
  return /^[a-f0-9]{24}$/.test(id) ? new ObjectId(id) : undefined
}

export class Schedules {
  readonly collection: Collection<ScheduleDoc>

  constructor(db: Db) {
    this.collection = db.collection<ScheduleDoc>(SCHEDULES_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({channel: 1, startsAt: 1}, {name: 'channel_starts'})
    await this.collection.createIndex({startsAt: 1}, {name: 'starts'})
  }

  async add(channel: string, input: ScheduleInput, now = new Date()): Promise<ScheduleDoc> {
    const planned = await this.collection.countDocuments({channel, startsAt: {$gt: now}})
    if (planned >= SCHEDULE_MAX_UPCOMING) throw new ScheduleLimitError(`A channel may plan at most ${SCHEDULE_MAX_UPCOMING} broadcasts ahead: remove one first.`)
    const doc: ScheduleDoc = {_id: new ObjectId(), channel, title: input.title, startsAt: input.startsAt, createdAt: now, updatedAt: now, ...(input.category === undefined ? {} : {category: input.category})}
    await this.collection.insertOne(doc)
    return doc
  }

  /** Changes an entry of that channel; the entry as it is now, or null when there is none. */
  async update(channel: string, id: ObjectId, input: ScheduleInput, now = new Date()): Promise<ScheduleDoc | null> {
    const set = {title: input.title, startsAt: input.startsAt, updatedAt: now, ...(input.category === undefined ? {} : {category: input.category})}
    return this.collection.findOneAndUpdate({_id: id, channel}, {$set: set, ...(input.category === undefined ? {$unset: {category: ''}} : {})}, {returnDocument: 'after'})
  }

  async remove(channel: string, id: ObjectId): Promise<boolean> {
    return (await this.collection.deleteOne({_id: id, channel})).deletedCount === 1
  }

  byId(id: ObjectId): Promise<ScheduleDoc | null> {
    return this.collection.findOne({_id: id})
  }

  /**
   * What a page lists, soonest first: entries still ahead, those whose time came less than
   * LINK_AFTER_MS ago (due, or live now), and none whose broadcast has ended (`isLive` says which
   * broadcasts are on now).
   */
  async upcoming(options: {channel?: string; limit: number; isLive: (channel: string, streamId: string) => boolean; now?: Date}): Promise<ScheduleDoc[]> {
    const now = options.now ?? new Date()
    const filter = {...(options.channel === undefined ? {} : {channel: options.channel}), startsAt: {$gt: new Date(now.getTime() - LINK_AFTER_MS)}}
    const docs = await this.collection.find(filter).sort({startsAt: 1}).limit(options.limit * 2 + 20).toArray()
    return docs.filter((d) => (d.streamId === undefined ? true : options.isLive(d.channel, d.streamId))).slice(0, options.limit)
  }

  /** The channel's entries for its calendar feed: from a month back, soonest first. */
  feed(channel: string, now = new Date()): Promise<ScheduleDoc[]> {
    return this.collection.find({channel, startsAt: {$gt: new Date(now.getTime() - 31 * 24 * 3600_000)}}).sort({startsAt: 1}).limit(200).toArray()
  }

  /**
   * The channel went live at `at`: the entry nearest in time whose start is within LINK_BEFORE_MS
   * after or LINK_AFTER_MS before it, not yet linked to another broadcast, becomes this one's. Run
   * twice, it finds the entry it linked the first time.
   */
  async linkBroadcast(channel: string, streamId: string, at: Date): Promise<ScheduleDoc | null> {
    const already = await this.collection.findOne({channel, streamId})
    if (already !== null) return already
    const candidates = await this.collection
      .find({channel, startsAt: {$gte: new Date(at.getTime() - LINK_AFTER_MS), $lte: new Date(at.getTime() + LINK_BEFORE_MS)}})
      .toArray()
    const free = candidates.filter((d) => d.streamId === undefined).sort((a, b) => Math.abs(a.startsAt.getTime() - at.getTime()) - Math.abs(b.startsAt.getTime() - at.getTime()))
    for (const entry of free) {
      // Only if still free: two broadcasts at once (a retry beside a new one) take one entry each.
      const linked = await this.collection.findOneAndUpdate({_id: entry._id, streamId: {$exists: false}}, {$set: {streamId}}, {returnDocument: 'after'})
      if (linked !== null) return linked
    }
    return null
  }

  /** A deleted channel's schedule goes with it. */
  async removeChannel(channel: string): Promise<void> {
    await this.collection.deleteMany({channel})
  }
}
