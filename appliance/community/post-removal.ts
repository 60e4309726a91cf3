/**
 * What goes of posts when an account or a channel goes: a channel's posts with their comments,
 * likes and pictures; an account's own likes and comments on others' posts (their counts moved
 * back). A picture S3 would not remove now is linked from nothing, and housekeeping takes it.
 */
import type {Db} from 'mongodb'

import type {Storage} from '../platform/storage.js'
import {removeAllPostImages} from './post-images.js'
import {PostComments, PostLikes} from './post-reactions.js'
import {Posts} from './posts.js'

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
