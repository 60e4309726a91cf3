/**
 * A channel's posts (MongoDB `posts`): what a streamer writes between broadcasts — Markdown,
 * rendered and sanitized once when written, up to four images, maybe a link to a VOD or clip.
 * Read newest first, paged by a cursor of (createdAt, _id) so that posts written while someone
 * pages never make a page repeat or skip one.
 */
import {ObjectId, type Collection, type Db, type Filter} from 'mongodb'

export const POSTS_COLLECTION = 'posts'
export const POST_IMAGES_MAX = 4
export const POSTS_PAGE_MAX = 100

export interface PostImage {
  /** S3 key: posts/<postId>/<hash>.webp */
  key: string
  width: number
  height: number
}

export interface PostLink {
  kind: 'vod' | 'clip'
  /** A VOD's streamId, a clip's clipId. */
  id: string
  channel: string
  title?: string
  /** Its poster's URL on this site, when it had one at write time (the card shows it). */
  poster?: string
}

export interface PostDoc {
  _id: ObjectId
  channel: string
  /** The channel owner's user id (or a moderator who posted). */
  authorId: string
  /** What they wrote. */
  markdown: string
  /** Rendered and sanitized once, at write (community/markdown.ts). */
  html: string
  images: PostImage[]
  link?: PostLink
  createdAt: Date
  editedAt?: Date
  likes: number
  comments: number
  /** When its channel.event was queued (followers' timelines, notifications, webhooks); absent: housekeeping queues it again (housekeeping/post-events.ts). */
  eventQueuedAt?: Date
}

/** Where a page of posts starts: the last post of the page before (exclusive). */
export interface PostCursor {
  createdAt: Date
  id: string
}

export interface PostPageOptions {
  before?: PostCursor
  limit: number
}

/** A post's id as written in a URL: 24 hex digits, or undefined for anything else. */
export function postObjectId(id: string): ObjectId | undefined {
  return /^[0-9a-f]{24}$/.test(id) ? new ObjectId(id) : undefined
}

/** The cursor after this post, as a URL carries it: `<ms>-<id>`. */
export const encodePostCursor = (post: Pick<PostDoc, '_id' | 'createdAt'>): string => `${post.createdAt.getTime()}-${post._id.toHexString()}`

export function decodePostCursor(text: string | undefined): PostCursor | undefined {
  const match = /^(\d{1,15})-([0-9a-f]{24})$/.exec(text ?? '')
  if (match === null) return undefined
  return {createdAt: new Date(Number(match[1])), id: match[2]!}
}

/** Posts strictly older than the cursor in (createdAt desc, _id desc) order. */
function olderThan(before: PostCursor | undefined): Filter<PostDoc> {
  if (before === undefined) return {}
  return {$or: [{createdAt: {$lt: before.createdAt}}, {createdAt: before.createdAt, _id: {$lt: new ObjectId(before.id)}}]}
}

export class Posts {
  readonly collection: Collection<PostDoc>

  constructor(db: Db) {
    this.collection = db.collection<PostDoc>(POSTS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({channel: 1, createdAt: -1, _id: -1}, {name: 'channel_newest'})
    // Housekeeping's look for recent posts whose channel.event was never queued.
    await this.collection.createIndex({createdAt: -1}, {name: 'newest'})
  }

  byId(id: string | ObjectId): Promise<PostDoc | null> {
    const _id = typeof id === 'string' ? postObjectId(id) : id
    if (_id === undefined) return Promise.resolve(null)
    return this.collection.findOne({_id})
  }

  /** A channel's posts, newest first. */
  ofChannel(channel: string, options: PostPageOptions): Promise<PostDoc[]> {
    return this.page({channel}, options)
  }

  /** The posts of several channels merged, newest first (a timeline built on read). */
  ofChannels(channels: string[], options: PostPageOptions): Promise<PostDoc[]> {
    if (channels.length === 0) return Promise.resolve([])
    return this.page({channel: {$in: channels}}, options)
  }

  private page(filter: Filter<PostDoc>, options: PostPageOptions): Promise<PostDoc[]> {
    const limit = Math.max(1, Math.min(POSTS_PAGE_MAX, Math.floor(options.limit)))
    return this.collection
      .find({...filter, ...olderThan(options.before)})
      .sort({createdAt: -1, _id: -1})
      .limit(limit)
      .toArray()
  }

  /** A new post; its id is chosen before (the images are stored under it first). */
  /** Its channel.event is queued: housekeeping need not queue it again. */
  async eventQueued(id: ObjectId, at = new Date()): Promise<void> {
    await this.collection.updateOne({_id: id}, {$set: {eventQueuedAt: at}})
  }

  async insert(post: PostDoc): Promise<void> {
    await this.collection.insertOne(post)
  }

  /** Replaces what was written; false when the post is gone. */
  async edit(id: ObjectId, change: {markdown: string; html: string; images: PostImage[]; link?: PostLink}): Promise<boolean> {
    const result = await this.collection.updateOne(
      {_id: id},
      {$set: {markdown: change.markdown, html: change.html, images: change.images, editedAt: new Date(), ...(change.link === undefined ? {} : {link: change.link})}, ...(change.link === undefined ? {$unset: {link: ''}} : {})},
    )
    return result.matchedCount === 1
  }

  async remove(id: ObjectId): Promise<boolean> {
    return (await this.collection.deleteOne({_id: id})).deletedCount === 1
  }

  /** Moves a counter (likes, comments) by delta; the callers' unique documents decide when. */
  async count(id: ObjectId, field: 'likes' | 'comments', delta: number): Promise<void> {
    await this.collection.updateOne({_id: id}, {$inc: {[field]: delta}})
  }

  /** Every post's id of a channel (a deleted channel's posts go, with their images). */
  async idsOfChannel(channel: string): Promise<ObjectId[]> {
    return (await this.collection.find({channel}, {projection: {_id: 1}}).toArray()).map((p) => p._id)
  }
}
