import {forEachFollowerPage, removeFromTimelines, Timelines} from '../../community/timelines.js'
import type {JobData, JobRun, PostUnfanoutResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/**
 * post.unfanout: a deleted post out of every follower's timeline, a page at a time (ZREM of what
 * is not there is nothing: a retry simply goes over them again). Those who unfollowed meanwhile
 * keep it in their set, where the timeline's reader drops it (it finds no post). A channel merged
 * in at read is skipped: its posts were not written into timelines (one that was, before it grew,
 * is dropped by the reader the same way).
 */
export async function postUnfanout(data: JobData['post.unfanout'], context: JobContext, run: JobRun): Promise<PostUnfanoutResult> {
  if (await new Timelines(context.db, context.redis, context.community.timelines, context.log).isPulled(data.channel)) {
    return {status: 'skipped', postId: data.postId, channel: data.channel, reason: 'pulled channel'}
  }
  let followers = 0
  await forEachFollowerPage(context.db, data.channel, undefined, async (userIds) => {
    if (run.signal.aborted) throw new Error('the worker is stopping')
    await removeFromTimelines(context.redis, userIds, data.postId)
    followers += userIds.length
  })
  return {status: 'done', postId: data.postId, channel: data.channel, followers}
}
