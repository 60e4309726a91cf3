import {addToTimelines, forEachFollowerPage, Timelines} from '../../community/timelines.js'
import {Follows} from '../../community/follows.js'
import {Posts} from '../../community/posts.js'
import type {JobData, JobRun, PostFanoutResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** Where a try got to: the last follow (its _id) gone over, how many were, and how many of their timelines existed. */
interface FanoutCheckpoint {
  after: string
  done: number
  timelines?: number
}

const checkpointOf = (value: Record<string, unknown> | undefined): FanoutCheckpoint | undefined =>
  typeof value?.after === 'string' && /^[a-f0-9]{24}$/.test(value.after) && typeof value.done === 'number'
    ? {after: value.after, done: value.done, ...(typeof value.timelines === 'number' ? {timelines: value.timelines} : {})}
    : undefined

/**
 * post.fanout: a new post into each follower's home timeline that exists (one never read is built
 * from MongoDB when it is, with the post), a page of followers at a time, each
 * page recorded in the job so that a try after a crash resumes after it (a page written twice
 * leaves the post there once). A channel with more followers than the threshold is marked to be
 * merged in at read instead; a post deleted meanwhile stops the run (its unfanout takes out what
 * was written).
 */
export async function postFanout(data: JobData['post.fanout'], context: JobContext, run: JobRun): Promise<PostFanoutResult> {
  const posts = new Posts(context.db)
  const post = await posts.byId(data.postId)
  if (post === null) return {status: 'skipped', postId: data.postId, reason: 'post deleted'}
  const {fanoutMaxFollowers, length} = context.community.timelines
  const resumed = checkpointOf(run.resumeFrom)
  if (resumed === undefined) {
    const followers = await new Follows(context.db).count(post.channel)
    if (followers > fanoutMaxFollowers) {
      await new Timelines(context.db, context.redis, context.community.timelines, context.log).markPulled(post.channel)
      return {status: 'pulled', postId: data.postId, channel: post.channel, followers}
    }
  }
  let done = resumed?.done ?? 0
  let timelines = resumed?.timelines ?? 0
  const entry = {id: data.postId, ms: post.createdAt.getTime()}
  try {
    await forEachFollowerPage(context.db, post.channel, resumed?.after, async (userIds, lastId) => {
      if (run.signal.aborted) throw new Error('the worker is stopping')
      timelines += await addToTimelines(context.redis, userIds, entry, length)
      done += userIds.length
      await run.checkpoint({after: lastId, done, timelines} satisfies FanoutCheckpoint)
      // Deleted while we write: stop after this page (post.unfanout takes out what was written).
      if ((await posts.collection.findOne({_id: post._id}, {projection: {_id: 1}})) === null) throw new PostDeleted()
    })
  } catch (error) {
    if (error instanceof PostDeleted) return {status: 'skipped', postId: data.postId, reason: 'post deleted'}
    throw error
  }
  context.log.debug({postId: data.postId, channel: post.channel, followers: done, timelines, resumedAfter: resumed?.done ?? 0}, 'post fanned out')
  return {status: 'done', postId: data.postId, channel: post.channel, followers: done, timelines, resumedAfter: resumed?.done ?? 0}
}

class PostDeleted extends Error {}
