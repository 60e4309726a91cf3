/**
 * What goes of posts when an account or a channel goes: a channel's posts with their comments,
 * likes and pictures; an account's own likes and comments on others' posts (their counts moved
 * back). A picture S3 would not remove now is linked from nothing, and housekeeping takes it.
 */
import type {Db} from 'mongodb'

import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'
import type {Storage} from '../platform/storage.js'
import {removeAllPostImages} from './post-images.js'
import {PostComments, PostLikes} from './post-reactions.js'
import {Posts, type PostDoc} from './posts.js'

export interface PostRemovalDeps {
  db: Db
  storage: Storage
  jobs: JobQueues
  log: Logger
}

/**
 * One post deleted (by its channel's owner, or by the site's moderators on a report): the document
 * first (nothing links to it from then on), its comments and likes, its place in every home
 * timeline (post.unfanout), then its pictures. Whatever S3 does not remove now is linked from
 * nothing, and housekeeping takes it.
 */
export async function removePost({db, storage, jobs, log}: PostRemovalDeps, post: PostDoc): Promise<void> {
  const posts = new Posts(db)
  const postId = post._id.toHexString()
  await posts.remove(post._id)
  await Promise.all([new PostComments(db, posts).removePost(post._id), new PostLikes(db, posts).removePost(post._id)])
  await jobs.enqueue('post.unfanout', {postId, channel: post.channel}).catch((err: Error) => log.error({postId, err: err.message}, 'post deleted, but its removal from timelines could not be queued'))
  await removeAllPostImages(storage, postId).catch((err: Error) => log.warn({postId, err: err.message}, "the deleted post's pictures stay in S3 until housekeeping"))
}

export async function removeChannelPosts(db: Db, storage: Storage, channel: string): Promise<number> {
  const posts = new Posts(db)
  const likes = new PostLikes(db, posts)
  const comments = new PostComments(db, posts)
  const ids = await posts.idsOfChannel(channel)
  for (const id of ids) {
    await Promise.all([comments.removePost(id), likes.removePost(id)])
    await posts.remove(id)
    // S3 away: the pictures stay, linked from nothing, until housekeeping.
    await removeAllPostImages(storage, id.toHexString()).catch(() => undefined)
  }
  return ids.length
}

export async function removeAccountReactions(db: Db, userId: string): Promise<void> {
  const posts = new Posts(db)
  const likes = new PostLikes(db, posts)
  const comments = new PostComments(db, posts)
  for (const like of await likes.collection.find({userId}).toArray()) await likes.unlike(like.postId, userId)
  for (const comment of await comments.collection.find({authorId: userId}).toArray()) await comments.remove(comment)
}
