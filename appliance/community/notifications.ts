/**
 * Notifications (MongoDB `notifications`): one document per recipient and event, unique by
 * userId + key, so telling someone twice (a retried job, two webs) is telling them once. `notify`
 * is the one way in, from the web and from worker jobs alike: it records them, tells each web
 * through Redis which bells changed (the web holding a user's socket sends the new count), and
 * queues a `notify.mail` job for the recipients who want this kind by e-mail (the job decides,
 * claims and sends; a digest collects the others daily).
 */
import {randomBytes} from 'node:crypto'

import type {Redis} from 'ioredis'
import {MongoBulkWriteError, ObjectId, type AnyBulkWriteOperation, type Collection, type Db, type Filter} from 'mongodb'

import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'

export const NOTIFICATIONS_COLLECTION = 'notifications'
export const NOTIFICATION_SETTINGS_COLLECTION = 'notification_settings'

export const notificationKinds = ['live', 'schedule', 'follower', 'mention', 'reply', 'moderation', 'call'] as const
export type NotificationKind = (typeof notificationKinds)[number]

export interface NotificationInput {
  kind: NotificationKind
  /** One per recipient and event: the same key twice for a user is one notification (idempotent). e.g. `reply:<commentId>` */
  key: string
  userIds: string[]
  /** The username who caused it. */
  actor?: string
  /** The channel it is about. */
  channel?: string
  /** Short plain text (escaped wherever shown). */
  text: string
  /** A path on the site it leads to, e.g. /c/<channel>/posts/<id> */
  url: string
}

export interface NotifyDeps {
  db: Db
  redis: Redis
  jobs: JobQueues
  log: Logger
}

export interface NotificationDoc {
  _id: ObjectId
  userId: string
  key: string
  kind: NotificationKind
  actor?: string
  channel?: string
  text: string
  url: string
  at: Date
  readAt?: Date
  /** When it went out by mail (alone or in a digest): claimed before the mail is queued, so never twice. */
  mailedAt?: Date
}

/** How someone wants a kind: in the site only, also by e-mail at once, or in a daily digest mail. */
export const deliveryChoices = ['site', 'email', 'digest'] as const
export type DeliveryChoice = (typeof deliveryChoices)[number]

/** Going live is what followers asked to hear about; the rest stays in the site unless they ask. */
export const DEFAULT_DELIVERY: Record<NotificationKind, DeliveryChoice> = {live: 'email', schedule: 'site', follower: 'site', mention: 'site', reply: 'site', moderation: 'site', call: 'site'}

export const KIND_LABELS: Record<NotificationKind, string> = {
  live: 'A channel you follow goes live',
  schedule: 'A scheduled stream is about to start',
  follower: 'Someone follows your channel',
  mention: 'Someone mentions you',
  reply: 'Someone replies to you',
  moderation: 'A moderator acts against you',
  call: 'Someone invites you to a call',
}

/** What an unsubscribe link turns off: one kind's mail, or the daily digest. */
export type Unsubscribable = NotificationKind | 'digest'
export const isUnsubscribable = (what: string): what is Unsubscribable => what === 'digest' || (notificationKinds as readonly string[]).includes(what)
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,64}$/

interface SettingsDoc {
  /** The account's id. */
  _id: string
  /** The secret in this account's unsubscribe links: whoever holds a mail may turn its kind off, nothing else. */
  token: string
  delivery: Partial<Record<NotificationKind, DeliveryChoice>>
}

/** Redis channel where `notify` names the users whose unread count changed; every web listens. */
export const BELL_CHANNEL = 'shing:notifications:bell'
/** The bell shows at most this, then "99+". */
export const UNREAD_SHOWN_MAX = 99
export const PAGE_SIZE = 30
/** Notifications per notify.mail job, and users per message to the bells. */
const MAIL_BATCH = 500
const BELL_BATCH = 1000
/** A notification mail is sent only this long after the event (a retry much later leaves it to the page). */
export const MAIL_WITHIN_MS = 60 * 60_000

/** One batch, one job: queued again (a retried notify), the same ids make the same job id. */
export const notifyMailJobId = (sortedIds: readonly string[]): string => `notify.mail-${sortedIds[0]}-${sortedIds.length}`

export class Notifications {
  readonly collection: Collection<NotificationDoc>

  constructor(db: Db) {
    this.collection = db.collection<NotificationDoc>(NOTIFICATIONS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({userId: 1, key: 1}, {unique: true, name: 'user_key'})
    await this.collection.createIndex({userId: 1, at: -1}, {name: 'user_at'})
    // Housekeeping's expiry (housekeeping/notification-expiry.ts).
    await this.collection.createIndex({at: 1}, {name: 'at'})
  }

  /** Records one per user (already there: left as it is); answers the users for whom it is new. */
  async record(input: NotificationInput, userIds: string[], at = new Date()): Promise<string[]> {
    const fields = {
      key: input.key,
      kind: input.kind,
      ...(input.actor === undefined ? {} : {actor: input.actor}),
      ...(input.channel === undefined ? {} : {channel: input.channel}),
      text: input.text,
      url: input.url,
      at,
    }
    const operations: AnyBulkWriteOperation<NotificationDoc>[] = userIds.map((userId) => ({
      updateOne: {filter: {userId, key: input.key}, update: {$setOnInsert: {userId, ...fields}}, upsert: true},
    }))
    let upserted: Record<number, unknown>
    try {
      upserted = (await this.collection.bulkWrite(operations, {ordered: false})).upsertedIds
    } catch (error) {
      // Two at once for one user: the unique index keeps one; the other is "already there".
      if (!(error instanceof MongoBulkWriteError) || error.writeErrors === undefined) throw error
      const errors = Array.isArray(error.writeErrors) ? error.writeErrors : Object.values(error.writeErrors)
      if (errors.some((e) => e.code !== 11000)) throw error
      upserted = error.result.upsertedIds
    }
    return Object.keys(upserted).map((index) => userIds[Number(index)]!)
  }

  /** Unread, up to UNREAD_SHOWN_MAX + 1 (the bell says "99+" beyond). */
  unreadCount(userId: string): Promise<number> {
    return this.collection.countDocuments({userId, readAt: {$exists: false}}, {limit: UNREAD_SHOWN_MAX + 1})
  }

  /** Newest first, PAGE_SIZE at a time; `before`: the last id of the page before. */
  async list(userId: string, options: {before?: string; limit?: number} = {}): Promise<{items: NotificationDoc[]; next?: string}> {
    const limit = options.limit ?? PAGE_SIZE
    let filter: Filter<NotificationDoc> = {userId}
    if (options.before !== undefined && ObjectId.isValid(options.before)) {
      const last = await this.collection.findOne({userId, _id: new ObjectId(options.before)})
      if (last !== null) filter = {userId, $or: [{at: {$lt: last.at}}, {at: last.at, _id: {$lt: last._id}}]}
    }
    const items = await this.collection.find(filter).sort({at: -1, _id: -1}).limit(limit + 1).toArray()
    const more = items.length > limit
    const page = items.slice(0, limit)
    return {items: page, ...(more ? {next: page.at(-1)!._id.toHexString()} : {})}
  }

  byId(userId: string, id: string): Promise<NotificationDoc | null> {
    if (!ObjectId.isValid(id)) return Promise.resolve(null)
    return this.collection.findOne({userId, _id: new ObjectId(id)})
  }

  /** Marks one read; true when it was unread. */
  async markRead(userId: string, id: string): Promise<boolean> {
    if (!ObjectId.isValid(id)) return false
    return (await this.collection.updateOne({userId, _id: new ObjectId(id), readAt: {$exists: false}}, {$set: {readAt: new Date()}})).modifiedCount === 1
  }

  /** Marks every unread one read; answers how many. */
  async markAllRead(userId: string): Promise<number> {
    return (await this.collection.updateMany({userId, readAt: {$exists: false}}, {$set: {readAt: new Date()}})).modifiedCount
  }

  /**
   * Claims one for its mail: true for the one caller that set `mailedAt` (the mail is then queued,
   * so a retry, or a second job, finds it claimed and sends nothing).
   */
  async claimForMail(id: ObjectId, at = new Date()): Promise<boolean> {
    return (await this.collection.updateOne({_id: id, mailedAt: {$exists: false}}, {$set: {mailedAt: at}})).modifiedCount === 1
  }

  /** Undoes claimForMail's claims made at `at` (their mail could not be queued). */
  async unclaimForMail(ids: ObjectId[], at: Date): Promise<void> {
    await this.collection.updateMany({_id: {$in: ids}, mailedAt: at}, {$unset: {mailedAt: ''}})
  }

  async removeAccount(userId: string): Promise<void> {
    await this.collection.deleteMany({userId})
  }
}

/** Each account's delivery choices per kind (`notification_settings`), and its unsubscribe token. */
export class NotificationSettings {
  readonly collection: Collection<SettingsDoc>

  constructor(db: Db) {
    this.collection = db.collection<SettingsDoc>(NOTIFICATION_SETTINGS_COLLECTION)
  }

  /** Every kind's choice, defaults filled in. */
  async delivery(userId: string): Promise<Record<NotificationKind, DeliveryChoice>> {
    const doc = await this.collection.findOne({_id: userId})
    return {...DEFAULT_DELIVERY, ...doc?.delivery}
  }

  /** One kind's choice for each of these users (one query). */
  async deliveryOf(userIds: string[], kind: NotificationKind): Promise<Map<string, DeliveryChoice>> {
    const docs = await this.collection.find({_id: {$in: userIds}}, {projection: {[`delivery.${kind}`]: 1}}).toArray()
    const chosen = new Map(docs.map((d) => [d._id, d.delivery?.[kind]]))
    return new Map(userIds.map((id) => [id, chosen.get(id) ?? DEFAULT_DELIVERY[kind]]))
  }

  async setDelivery(userId: string, delivery: Partial<Record<NotificationKind, DeliveryChoice>>): Promise<void> {
    const set = Object.fromEntries(Object.entries(delivery).map(([kind, choice]) => [`delivery.${kind}`, choice]))
    await this.ensure(userId)
    await this.collection.updateOne({_id: userId}, {$set: set})
  }

  /** The account's unsubscribe token (made the first time a mail needs one). */
  async token(userId: string): Promise<string> {
    return (await this.ensure(userId)).token
  }

  /**
   * The one-click unsubscribe, for the account whose token this is: one kind's mail off (in the
   * site only), or for 'digest' every kind that went to the digest. False for an unknown token.
   */
  async unsubscribe(userId: string, token: string, what: Unsubscribable): Promise<boolean> {
    if (!TOKEN_PATTERN.test(token)) return false
    const doc = await this.collection.findOne({_id: userId, token})
    if (doc === null) return false
    const kinds = what === 'digest' ? notificationKinds.filter((kind) => ({...DEFAULT_DELIVERY, ...doc.delivery})[kind] === 'digest') : [what]
    if (kinds.length > 0) await this.collection.updateOne({_id: userId, token}, {$set: Object.fromEntries(kinds.map((kind) => [`delivery.${kind}`, 'site']))})
    return true
  }

  async tokenMatches(userId: string, token: string): Promise<boolean> {
    return TOKEN_PATTERN.test(token) && (await this.collection.countDocuments({_id: userId, token}, {limit: 1})) === 1
  }

  async removeAccount(userId: string): Promise<void> {
    await this.collection.deleteOne({_id: userId})
  }

  private async ensure(userId: string): Promise<SettingsDoc> {
    const doc = await this.collection.findOneAndUpdate(
      {_id: userId},
      {$setOnInsert: {token: randomBytes(24).toString('base64url'), delivery: {}}},
      {upsert: true, returnDocument: 'after'},
    )
    return doc!
  }
}

/** Tells the webs that these users' unread counts changed (each web updates the bells it holds). */
export async function ringBells(redis: Redis, userIds: string[]): Promise<void> {
  for (let at = 0; at < userIds.length; at += BELL_BATCH) await redis.publish(BELL_CHANNEL, JSON.stringify({userIds: userIds.slice(at, at + BELL_BATCH)}))
}

/** Records them (unique per userId+key), updates each bell live, queues mail per the users' choices. Answers how many were new. */
export async function notify(deps: NotifyDeps, input: NotificationInput): Promise<number> {
  const userIds = [...new Set(input.userIds)].filter((id) => id !== '')
  if (userIds.length === 0) return 0
  const notifications = new Notifications(deps.db)
  const fresh = await notifications.record(input, userIds)
  await ringBells(deps.redis, fresh).catch((error: unknown) => deps.log.warn({err: (error as Error).message}, 'notifications: bells not rung (they update on the next page)'))
  // Mail: every recipient who wants this kind at once and has not been mailed for it, new or not
  // (a retry after a crash between the record and the queue still mails; the job's claim keeps it to one).
  const delivery = await new NotificationSettings(deps.db).deliveryOf(userIds, input.kind)
  const mailed = userIds.filter((id) => delivery.get(id) === 'email')
  if (mailed.length > 0) {
    const pending = await notifications.collection
      .find({key: input.key, userId: {$in: mailed}, mailedAt: {$exists: false}, at: {$gt: new Date(Date.now() - MAIL_WITHIN_MS)}}, {projection: {_id: 1}})
      .toArray()
    const ids = pending.map(({_id}) => _id.toHexString()).sort()
    for (let at = 0; at < ids.length; at += MAIL_BATCH) {
      const batch = ids.slice(at, at + MAIL_BATCH)
      await deps.jobs.enqueue('notify.mail', {notificationIds: batch}, {jobId: notifyMailJobId(batch)})
    }
  }
  if (fresh.length > 0) deps.log.debug({kind: input.kind, key: input.key, fresh: fresh.length, mails: mailed.length}, 'notified')
  return fresh.length
}
