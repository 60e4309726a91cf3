/**
 * Home timelines: each account's is a Redis sorted set (`shing:timeline:<userId>`) of post ids,
 * scored by the post's time in ms, capped at `community.timelines.length`. A channel with at most
 * `fanoutMaxFollowers` followers has each new post written into its followers' sets by the worker
 * (post.fanout); a bigger one is "pulled": its posts are merged in from MongoDB when a timeline is
 * read. Read newest first, paged by a cursor of (time, id) — the posts' own order — so that posts
 * arriving while someone pages only ever appear above the first page.
 *
 * Redis is a cache of MongoDB here: a timeline that is missing (Redis restarted, the key was
 * evicted) is rebuilt from the posts of the channels the account follows when it is next read, and
 * a channel followed since the last read has its recent posts merged in then. The set's top member,
 * scored +inf, says up to which follow it was built (`synced:<ms>`); a set without it is rebuilt
 * all the same.
 *
 * Only timelines that are read are kept: the fan-out writes into those that exist (an account that
 * never opens /home costs nothing), and each expires TIMELINE_TTL_MS after its last read. The posts
 * of a disabled channel stay in the sets but are left out of every read, so that they show again
 * when it is enabled.
 */
import type {Redis} from 'ioredis'
import {ObjectId, type Collection, type Db} from 'mongodb'

import type {CommunitySettings} from '../contract/community.js'
import type {Logger} from '../platform/logger.js'
import {CHANNELS_COLLECTION} from '../channels/stream-keys.js'
import type {ChannelDoc} from '../channels/channels.js'
import {FOLLOWS_COLLECTION, type FollowDoc} from './follows.js'
import {Posts, type PostCursor, type PostDoc} from './posts.js'

export const TIMELINE_KEY_PREFIX = 'shing:timeline'
export const timelineKey = (userId: string): string => `${TIMELINE_KEY_PREFIX}:${userId}`
const buildLockKey = (userId: string): string => `${TIMELINE_KEY_PREFIX}-build:${userId}`
const SYNCED = 'synced:'
/** Held at +inf while a missing timeline is built, so that the fan-out meanwhile writes into it. */
const BUILDING = 'building'
/** A timeline not read for this long goes (rebuilt from MongoDB if its account comes back). */
export const TIMELINE_TTL_MS = 14 * 24 * 3600_000
/** How long a reader may take to rebuild one timeline before another may try. */
const BUILD_LOCK_MS = 30_000
/** The most entries one round of a page reads (rounds after the first read further). */
const MAX_ROUND = 1000
/** Followers written per Redis script call of a fan-out, and per checkpoint. */
export const FANOUT_PAGE = 1000
/** Follows read per MongoDB batch: fewer round trips (a batch costs FerretDB more than its size does). */
const FANOUT_READ_BATCH = 5000

/** Channels whose posts are merged in at read (MongoDB, so that it outlives a Redis restart). */
export const PULLED_CHANNELS_COLLECTION = 'timeline_pulled_channels'
interface PulledChannelDoc {
  _id: string
  /** When its follower count was first found above the threshold at a post. */
  since: Date
}

export type TimelineSettings = CommunitySettings['timelines']

/** One post of a timeline, before its document is read: its time and id (the cursor's order). */
interface Entry {
  ms: number
  id: string
  doc?: PostDoc
}

/** Newer first: by time, then by id (24 hex digits compare as the ObjectIds do). */
const newerFirst = (a: Entry, b: Entry): number => b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

export interface TimelinePage {
  posts: PostDoc[]
  /** Where the next (older) page starts; absent at the end. */
  next?: PostCursor
  /** The account follows no channel. */
  followsNothing: boolean
}

/** ZADD and cap into each key that exists (KEYS: the timelines; ARGV: score, post id, length); answers how many. */
const ADD_TO_EXISTING = `local written = 0
for _, key in ipairs(KEYS) do
  if redis.call('exists', key) == 1 then
    redis.call('zadd', key, ARGV[1], ARGV[2])
    redis.call('zremrangebyrank', key, 0, -(tonumber(ARGV[3]) + 2))
    written = written + 1
  end
end
return written`

/**
 * Writes one post into those of these timelines that exist (ZADD is idempotent: written twice, it
 * is there once), capping each at `length` posts (plus its +inf marker); one script call, so that
 * a timeline cannot expire between its check and its write. A missing one gets it when it is built
 * from MongoDB at its next read. Answers how many were written into.
 */
export async function addToTimelines(redis: Redis, userIds: readonly string[], post: {id: string; ms: number}, length: number): Promise<number> {
  if (userIds.length === 0) return 0
  return Number(await redis.eval(ADD_TO_EXISTING, userIds.length, ...userIds.map(timelineKey), post.ms, post.id, length))
}

export async function removeFromTimelines(redis: Redis, userIds: readonly string[], postId: string): Promise<void> {
  if (userIds.length === 0) return
  const pipeline = redis.pipeline()
  for (const userId of userIds) pipeline.zrem(timelineKey(userId), postId)
  await execOrThrow(pipeline)
}

/** Runs a pipeline (or MULTI); throws its first error, else answers its replies. */
async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? []
  const failed = results.find(([error]) => error !== null)
  if (failed !== undefined) throw failed[0]!
  return results.map(([, value]) => value)
}

/**
 * A channel's followers, FANOUT_PAGE at a time in _id order, from just after `after` (an earlier
 * try's last page): one MongoDB cursor for the whole run. While one page is written the next is
 * read, and pages are handed over one after another (a page starts once the one before is done),
 * so that a checkpoint after a page covers every page before it.
 */
export async function forEachFollowerPage(db: Db, channel: string, after: string | undefined, page: (userIds: string[], lastId: string) => Promise<void>): Promise<void> {
  const follows = db.collection<FollowDoc>(FOLLOWS_COLLECTION)
  const filter = after === undefined ? {channel} : {channel, _id: {$gt: new ObjectId(after)}}
  const cursor = follows.find(filter, {projection: {userId: 1}}).sort({_id: 1}).batchSize(FANOUT_READ_BATCH)
  let userIds: string[] = []
  let lastId = after ?? ''
  let writing: Promise<void> = Promise.resolve()
  try {
    for await (const follow of cursor) {
      userIds.push(follow.userId)
      lastId = follow._id.toHexString()
      if (userIds.length === FANOUT_PAGE) {
        await writing
        writing = page(userIds, lastId)
        // Its failure is thrown where it is awaited; until then it is not "unhandled".
        writing.catch(() => undefined)
        userIds = []
      }
    }
    await writing
    if (userIds.length > 0) await page(userIds, lastId)
  } finally {
    await writing.catch(() => undefined)
    await cursor.close()
  }
}

/** The fan-out pages a channel's followers in _id order: an index for that, beside follows.ts's own. */
export async function ensureTimelineIndexes(db: Db): Promise<void> {
  await db.collection<FollowDoc>(FOLLOWS_COLLECTION).createIndex({channel: 1, _id: 1}, {name: 'channel_fanout'})
}

export class Timelines {
  private readonly posts: Posts
  private readonly follows: Collection<FollowDoc>
  private readonly pulled: Collection<PulledChannelDoc>
  private readonly channelDocs: Collection<ChannelDoc>

  constructor(
    db: Db,
    private readonly redis: Redis,
    private readonly settings: TimelineSettings,
    private readonly log: Logger,
  ) {
    this.posts = new Posts(db)
    this.follows = db.collection<FollowDoc>(FOLLOWS_COLLECTION)
    this.pulled = db.collection<PulledChannelDoc>(PULLED_CHANNELS_COLLECTION)
    this.channelDocs = db.collection<ChannelDoc>(CHANNELS_COLLECTION)
  }

  /** Whether this channel is merged in at read (never fanned out since it was marked). */
  async isPulled(channel: string): Promise<boolean> {
    return (await this.pulled.countDocuments({_id: channel}, {limit: 1})) > 0
  }

  /**
   * A channel too big to fan out: merged in at read from now on. It stays so (its posts written
   * meanwhile are in no timeline; a post fanned out later as well is shown once).
   */
  async markPulled(channel: string): Promise<void> {
    await this.pulled.updateOne({_id: channel}, {$setOnInsert: {since: new Date()}}, {upsert: true})
  }

  /** A page of an account's home timeline, newest first, older than `before`. */
  async page(userId: string, options: {before?: PostCursor; limit: number}): Promise<TimelinePage> {
    const follows = await this.follows.find({userId}, {projection: {channel: 1, at: 1}}).toArray()
    if (follows.length === 0) return {posts: [], followsNothing: true}
    const all = follows.map((f) => f.channel)
    // A disabled channel's posts are shown nowhere; they stay in the set (enabled again, they are back).
    const [disabledDocs, pulledDocs] = await Promise.all([
      this.channelDocs.find({name: {$in: all}, disabled: {$exists: true}}, {projection: {_id: 0, name: 1}}).toArray(),
      this.pulled.find({_id: {$in: all}}, {projection: {_id: 1}}).toArray(),
    ])
    const disabled = new Set(disabledDocs.map((c) => c.name))
    const channels = all.filter((c) => !disabled.has(c))
    const followed = new Set(all)
    const pulled = new Set(pulledDocs.map((c) => c._id).filter((c) => !disabled.has(c)))
    const inRedis = await this.sync(userId, follows, pulled)

    const key = timelineKey(userId)
    const posts: PostDoc[] = []
    let cursor = options.before
    // A round comes up short only where posts it found were deleted or unfollowed (dropped here,
    // and from the timeline) or are a disabled channel's (left in it): more rounds, each reading
    // twice as far as the one before (a disabled channel may hold most of the set), fill the page.
    for (let round = 0; round < 8; round++) {
      const want = Math.min((options.limit - posts.length) * 2 ** round, MAX_ROUND)
      const fromRedis = inRedis ? await this.range(key, cursor, want) : []
      // Past the end of the Redis set (or without one), MongoDB has the rest of every channel;
      // the pulled channels come from it always.
      const mongoChannels = !inRedis || fromRedis.length < want ? channels : [...pulled]
      const fromMongo = mongoChannels.length === 0 ? [] : await this.posts.ofChannels(mongoChannels, {...(cursor === undefined ? {} : {before: cursor}), limit: want})
      const entries = new Map<string, Entry>()
      for (const entry of fromRedis) entries.set(entry.id, entry)
      for (const doc of fromMongo) entries.set(doc._id.toHexString(), {ms: doc.createdAt.getTime(), id: doc._id.toHexString(), doc})
      const chosen = [...entries.values()].sort(newerFirst).slice(0, want)
      if (chosen.length === 0) return {posts, followsNothing: false}
      const missing = chosen.filter((e) => e.doc === undefined).map((e) => new ObjectId(e.id))
      const docs = new Map((missing.length === 0 ? [] : await this.posts.collection.find({_id: {$in: missing}}).toArray()).map((d) => [d._id.toHexString(), d]))
      const stale: string[] = []
      // The page may fill before the round's end: the cursor is then the last entry it took.
      let used = 0
      while (used < chosen.length && posts.length < options.limit) {
        const entry = chosen[used++]!
        const doc = entry.doc ?? docs.get(entry.id)
        // Deleted (its unfanout may not have reached this timeline yet) or of a channel no longer followed.
        if (doc === undefined || !followed.has(doc.channel)) stale.push(entry.id)
        else if (!disabled.has(doc.channel)) posts.push(doc)
      }
      if (stale.length > 0 && inRedis) await this.redis.zrem(key, ...stale)
      const last = chosen[used - 1]!
      cursor = {createdAt: new Date(last.ms), id: last.id}
      if (used === chosen.length && chosen.length < want) return {posts, followsNothing: false}
      if (posts.length === options.limit) break
    }
    return {posts, next: cursor!, followsNothing: false}
  }

  /** Up to `limit` entries of the set older than the cursor, newest first (its marker left out). */
  private async range(key: string, before: PostCursor | undefined, limit: number): Promise<Entry[]> {
    const entries: Entry[] = []
    let max = '(+inf'
    if (before !== undefined) {
      const ms = before.createdAt.getTime()
      // The same millisecond as the cursor: those of lower id come first (REV lists ties by id, descending).
      const ties = await this.redis.zrange(key, String(ms), String(ms), 'BYSCORE', 'REV')
      for (const id of ties) if (id < before.id) entries.push({ms, id})
      max = `(${ms}`
    }
    if (entries.length >= limit) return entries.slice(0, limit)
    const flat = await this.redis.zrange(key, max, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit - entries.length, 'WITHSCORES')
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push({id: flat[i]!, ms: Number(flat[i + 1])})
    return entries
  }

  /**
   * Makes the Redis set hold what fan-out would have put there: all of it when it is missing (or
   * has no marker), the recent posts of channels followed since it was built otherwise. Answers
   * whether the set can be read; false while another reader builds it (this page then comes from
   * MongoDB alone).
   */
  private async sync(userId: string, follows: readonly Pick<FollowDoc, 'channel' | 'at'>[], pulled: ReadonlySet<string>): Promise<boolean> {
    const key = timelineKey(userId)
    // Read: it lives on for another TIMELINE_TTL_MS (the lookup and the refresh in one round trip).
    const [markers] = (await execOrThrow(this.redis.pipeline().zrange(key, '+inf', '+inf', 'BYSCORE').pexpire(key, TIMELINE_TTL_MS))) as [string[], number]
    const marker = markers.find((m) => m.startsWith(SYNCED))
    const synced = marker === undefined ? undefined : Number(marker.slice(SYNCED.length))
    const newest = follows.reduce((max, f) => Math.max(max, f.at.getTime()), 0)
    if (synced !== undefined && newest <= synced) return true
    const channels = follows.filter((f) => !pulled.has(f.channel) && (synced === undefined || f.at.getTime() > synced)).map((f) => f.channel)

    const token = new ObjectId().toHexString()
    if ((await this.redis.set(buildLockKey(userId), token, 'PX', BUILD_LOCK_MS, 'NX')) === null) return false
    try {
      const started = Date.now()
      // Missing: it exists from now on, so that a post fanned out while MongoDB is read is not lost.
      if (synced === undefined) await execOrThrow(this.redis.multi().zadd(key, '+inf', BUILDING).pexpire(key, TIMELINE_TTL_MS))
      const entries: Entry[] = []
      let before: PostCursor | undefined
      while (channels.length > 0 && entries.length < this.settings.length) {
        const batch = await this.posts.ofChannels(channels, {...(before === undefined ? {} : {before}), limit: this.settings.length - entries.length})
        for (const doc of batch) entries.push({ms: doc.createdAt.getTime(), id: doc._id.toHexString()})
        if (batch.length === 0) break
        const last = batch.at(-1)!
        before = {createdAt: last.createdAt, id: last._id.toHexString()}
      }
      const write = this.redis.multi()
      for (let i = 0; i < entries.length; i += 500) write.zadd(key, ...entries.slice(i, i + 500).flatMap((e) => [e.ms, e.id]))
      write.zremrangebyscore(key, '+inf', '+inf')
      write.zadd(key, '+inf', `${SYNCED}${newest}`)
      write.zremrangebyrank(key, 0, -(this.settings.length + 2))
      write.pexpire(key, TIMELINE_TTL_MS)
      await execOrThrow(write)
      this.log.debug({userId, posts: entries.length, channels: channels.length, rebuilt: synced === undefined, ms: Date.now() - started}, 'timeline synced')
      return true
    } finally {
      await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, buildLockKey(userId), token)
    }
  }
}
