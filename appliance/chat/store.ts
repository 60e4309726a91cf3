/**
 * What chat keeps in MongoDB: messages (with their channel, broadcast and time), each channel's
 * settings, moderators and bans, and its moderation log. Time-outs are short-lived and live in
 * Redis (flood.ts).
 */
import {ObjectId, type Collection, type Db} from 'mongodb'

import {CHAT_HISTORY, chatSettingsSchema, DEFAULT_CHAT_SETTINGS, type ChatMessage, type ChatPermission, type ChatSettings} from '../contract/index.js'

export const CHAT_COLLECTIONS = {
  messages: 'chat_messages',
  settings: 'chat_settings',
  moderators: 'chat_moderators',
  bans: 'chat_bans',
  log: 'chat_log',
} as const

export interface ChatMessageDoc {
  _id: ObjectId
  channel: string
  /** The broadcast it was said during (absent: the channel was offline). */
  streamId?: string
  userId: string
  user: string
  text: string
  at: Date
  badge?: ChatMessage['badge']
  /** Removed by a moderator (or with its author's ban): kept for the log, shown to nobody. */
  deletedAt?: Date
  deletedBy?: string
}

interface SettingsDoc extends Partial<ChatSettings> {
  _id: string
  updatedAt?: Date
  updatedBy?: string
}

export interface ModeratorDoc {
  channel: string
  userId: string
  user: string
  permissions: ChatPermission[]
  addedBy: string
  at: Date
}

export interface BanDoc {
  channel: string
  userId: string
  user: string
  by: string
  at: Date
}

/** One line of a channel's moderation log: who did what to whom, when. */
export interface ChatLogEntry {
  channel: string
  actor: string
  action: 'delete' | 'timeout' | 'ban' | 'unban' | 'settings' | 'moderator.add' | 'moderator.change' | 'moderator.remove'
  target?: string
  details?: string
  at: Date
}

export const messageView = (doc: ChatMessageDoc): ChatMessage => ({
  id: doc._id.toHexString(),
  channel: doc.channel,
  user: doc.user,
  text: doc.text,
  at: doc.at.toISOString(),
  ...(doc.badge === undefined ? {} : {badge: doc.badge}),
})

const VISIBLE = {deletedAt: {$exists: false}} as const

export class ChatStore {
  readonly messages: Collection<ChatMessageDoc>
  private readonly settingsDocs: Collection<SettingsDoc>
  readonly moderators: Collection<ModeratorDoc>
  readonly bans: Collection<BanDoc>
  readonly log: Collection<ChatLogEntry>

  constructor(db: Db) {
    this.messages = db.collection<ChatMessageDoc>(CHAT_COLLECTIONS.messages)
    this.settingsDocs = db.collection<SettingsDoc>(CHAT_COLLECTIONS.settings)
    this.moderators = db.collection<ModeratorDoc>(CHAT_COLLECTIONS.moderators)
    this.bans = db.collection<BanDoc>(CHAT_COLLECTIONS.bans)
    this.log = db.collection<ChatLogEntry>(CHAT_COLLECTIONS.log)
  }

  async ensureIndexes(): Promise<void> {
    await this.messages.createIndex({channel: 1, at: 1}, {name: 'channel_time'})
    await this.messages.createIndex({channel: 1, userId: 1}, {name: 'channel_author'})
    // Housekeeping drops history past the site's retention by time (housekeeping/chat-expiry.ts).
    await this.messages.createIndex({at: 1}, {name: 'time'})
    await this.moderators.createIndex({channel: 1, userId: 1}, {unique: true, name: 'channel_moderator'})
    await this.bans.createIndex({channel: 1, userId: 1}, {unique: true, name: 'channel_ban'})
    await this.log.createIndex({channel: 1, at: -1}, {name: 'channel_time'})
  }

  async add(message: Omit<ChatMessageDoc, '_id'>): Promise<ChatMessageDoc> {
    const doc = {_id: new ObjectId(), ...message}
    await this.messages.insertOne(doc)
    return doc
  }

  /** The last CHAT_HISTORY messages nobody removed, oldest first. */
  async recent(channel: string, limit = CHAT_HISTORY): Promise<ChatMessageDoc[]> {
    const docs = await this.messages.find({channel, ...VISIBLE}).sort({at: -1, _id: -1}).limit(limit).toArray()
    return docs.reverse()
  }

  /** What was said between two moments (a past broadcast), oldest first. */
  between(channel: string, from: Date, to: Date, limit = 20_000): Promise<ChatMessageDoc[]> {
    return this.messages.find({channel, at: {$gte: from, $lte: to}, ...VISIBLE}).sort({at: 1, _id: 1}).limit(limit).toArray()
  }

  /** Who wrote a message of this channel still shown (their user id). */
  async authorOf(channel: string, id: string): Promise<string | undefined> {
    const doc = await this.messages.findOne({_id: new ObjectId(id), channel, ...VISIBLE}, {projection: {userId: 1}})
    return doc?.userId
  }

  /** Removes one message (of this channel); its author, or undefined when there was none to remove. */
  async remove(channel: string, id: string, by: string): Promise<ChatMessageDoc | undefined> {
    const doc = await this.messages.findOne({_id: new ObjectId(id), channel, ...VISIBLE})
    if (doc === null) return undefined
    await this.messages.updateOne({_id: doc._id}, {$set: {deletedAt: new Date(), deletedBy: by}})
    return doc
  }

  /** Removes everything an account said in a channel (its ban); the ids removed. */
  async removeAllBy(channel: string, userId: string, by: string): Promise<string[]> {
    const docs = await this.messages.find({channel, userId, ...VISIBLE}, {projection: {_id: 1}}).toArray()
    if (docs.length === 0) return []
    await this.messages.updateMany({_id: {$in: docs.map((d) => d._id)}}, {$set: {deletedAt: new Date(), deletedBy: by}})
    return docs.map((d) => d._id.toHexString())
  }

  async settings(channel: string): Promise<ChatSettings> {
    const doc = await this.settingsDocs.findOne({_id: channel})
    if (doc === null) return DEFAULT_CHAT_SETTINGS
    // Settings written by an older version keep working: what they lack takes its default.
    return chatSettingsSchema.parse(Object.fromEntries(Object.keys(DEFAULT_CHAT_SETTINGS).map((key) => [key, doc[key as keyof ChatSettings] ?? DEFAULT_CHAT_SETTINGS[key as keyof ChatSettings]])))
  }

  async setSettings(channel: string, settings: ChatSettings, by: string): Promise<void> {
    await this.settingsDocs.updateOne({_id: channel}, {$set: {...settings, updatedAt: new Date(), updatedBy: by}}, {upsert: true})
  }

  moderatorsOf(channel: string): Promise<ModeratorDoc[]> {
    return this.moderators.find({channel}).sort({user: 1}).toArray()
  }

  /** Adds or changes a moderator; true when they were not one before. */
  async setModerator(moderator: ModeratorDoc): Promise<boolean> {
    const result = await this.moderators.updateOne(
      {channel: moderator.channel, userId: moderator.userId},
      {$set: {user: moderator.user, permissions: moderator.permissions}, $setOnInsert: {addedBy: moderator.addedBy, at: moderator.at}},
      {upsert: true},
    )
    return result.upsertedCount === 1
  }

  async removeModerator(channel: string, userId: string): Promise<boolean> {
    return (await this.moderators.deleteOne({channel, userId})).deletedCount === 1
  }

  async isBanned(channel: string, userId: string): Promise<boolean> {
    return (await this.bans.countDocuments({channel, userId}, {limit: 1})) > 0
  }

  /** True when they were not banned before. */
  async ban(ban: BanDoc): Promise<boolean> {
    const result = await this.bans.updateOne({channel: ban.channel, userId: ban.userId}, {$setOnInsert: ban}, {upsert: true})
    return result.upsertedCount === 1
  }

  async unban(channel: string, userId: string): Promise<boolean> {
    return (await this.bans.deleteOne({channel, userId})).deletedCount === 1
  }

  bansOf(channel: string): Promise<BanDoc[]> {
    return this.bans.find({channel}).sort({at: -1}).limit(500).toArray()
  }

  /** A deleted channel: its chat goes with it (messages, settings, moderators, bans, log). */
  async removeChannel(channel: string): Promise<void> {
    await Promise.all([
      this.messages.deleteMany({channel}),
      this.settingsDocs.deleteOne({_id: channel}),
      this.moderators.deleteMany({channel}),
      this.bans.deleteMany({channel}),
      this.log.deleteMany({channel}),
    ])
  }

  /** A deleted account: what it wrote in any chat, and its places as moderator and banned person, go. */
  async removeAccount(userId: string): Promise<number> {
    const [removed] = await Promise.all([this.messages.deleteMany({userId}), this.moderators.deleteMany({userId}), this.bans.deleteMany({userId})])
    return removed.deletedCount
  }

  async record(entry: Omit<ChatLogEntry, 'at'>): Promise<void> {
    await this.log.insertOne({...entry, at: new Date()})
  }

  logOf(channel: string, limit = 100): Promise<ChatLogEntry[]> {
    return this.log.find({channel}).sort({at: -1}).limit(limit).toArray()
  }
}
