/**
 * What viewers do with a post: like it (`post_likes`, one per account and post: a unique index
 * decides, and only a like that was new moves the post's count) and comment on it
 * (`post_comments`, one level: a reply is a comment on the same post that names whom it answers).
 */
import {MongoServerError, ObjectId, type Collection, type Db, type Filter} from 'mongodb'

import {encodePostCursor, Posts, type PostCursor} from './posts.js'

export const POST_LIKES_COLLECTION = 'post_likes'
export const POST_COMMENTS_COLLECTION = 'post_comments'
/** The most a comment may hold, in characters. */
export const COMMENT_MAX = 1000
/** Comments on a post's page: the newest this many, and "Earlier comments" for the ones before. */
export const COMMENTS_SHOWN = 200

export interface PostLikeDoc {
  postId: ObjectId
  userId: string
  at: Date
}

export interface CommentDoc {
  _id: ObjectId
  postId: ObjectId
  channel: string
  authorId: string
  author: string
  text: string
  /** The comment this one answers (on the same post): whom it names. */
  replyTo?: {commentId: string; userId: string; author: string}
  createdAt: Date
}

export class PostLikes {
  readonly collection: Collection<PostLikeDoc>

  constructor(
    db: Db,
    private readonly posts = new Posts(db),
  ) {
    this.collection = db.collection<PostLikeDoc>(POST_LIKES_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({postId: 1, userId: 1}, {unique: true, name: 'post_user'})
  }

  /** Likes the post; true when it was new (then, and only then, the count moves). */
  async like(postId: ObjectId, userId: string): Promise<boolean> {
    try {
      await this.collection.insertOne({postId, userId, at: new Date()})
    } catch (error) {
      // Liked already (a second click, or two at once): the index kept one.
      if (error instanceof MongoServerError && error.code === 11000) return false
      throw error
    }
    await this.posts.count(postId, 'likes', 1)
    return true
  }

  async unlike(postId: ObjectId, userId: string): Promise<boolean> {
    if ((await this.collection.deleteOne({postId, userId})).deletedCount !== 1) return false
    await this.posts.count(postId, 'likes', -1)
    return true
  }

  /** Which of these posts the account liked (their ids as hex). */
  async likedOf(userId: string, postIds: readonly ObjectId[]): Promise<Set<string>> {
    if (postIds.length === 0) return new Set()
    const liked = await this.collection.find({userId, postId: {$in: [...postIds]}}, {projection: {_id: 0, postId: 1}}).toArray()
    return new Set(liked.map((l) => l.postId.toHexString()))
  }

  async removePost(postId: ObjectId): Promise<void> {
    await this.collection.deleteMany({postId})
  }
}

export class PostComments {
  readonly collection: Collection<CommentDoc>

  constructor(
    db: Db,
    private readonly posts = new Posts(db),
  ) {
    this.collection = db.collection<CommentDoc>(POST_COMMENTS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({postId: 1, createdAt: 1}, {name: 'post_oldest'})
  }

  async add(comment: Omit<CommentDoc, '_id' | 'createdAt'>): Promise<CommentDoc> {
    const doc: CommentDoc = {_id: new ObjectId(), ...comment, createdAt: new Date()}
    await this.collection.insertOne(doc)
    await this.posts.count(comment.postId, 'comments', 1)
    return doc
  }

  byId(postId: ObjectId, id: string): Promise<CommentDoc | null> {
    if (!/^[0-9a-f]{24}$/.test(id)) return Promise.resolve(null)
    return this.collection.findOne({_id: new ObjectId(id), postId})
  }

  /**
   * A page of a post's comments, the oldest first as a conversation reads: the newest
   * COMMENTS_SHOWN, or those before a cursor; `earlier` is the cursor of the page before, if any.
   */
  async ofPost(postId: ObjectId, before?: PostCursor, limit = COMMENTS_SHOWN): Promise<{comments: CommentDoc[]; earlier?: string}> {
    const older: Filter<CommentDoc> =
      before === undefined ? {} : {$or: [{createdAt: {$lt: before.createdAt}}, {createdAt: before.createdAt, _id: {$lt: new ObjectId(before.id)}}]}
    const newestFirst = await this.collection.find({postId, ...older}).sort({createdAt: -1, _id: -1}).limit(limit + 1).toArray()
    const shown = newestFirst.slice(0, limit).reverse()
    return {comments: shown, ...(newestFirst.length > limit && shown[0] !== undefined ? {earlier: encodePostCursor(shown[0])} : {})}
  }

  async remove(comment: CommentDoc): Promise<boolean> {
    if ((await this.collection.deleteOne({_id: comment._id})).deletedCount !== 1) return false
    await this.posts.count(comment.postId, 'comments', -1)
    return true
  }

  async removePost(postId: ObjectId): Promise<void> {
    await this.collection.deleteMany({postId})
  }
}
