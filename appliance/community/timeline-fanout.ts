/**
 * A channel posted: its post goes into its followers' timelines by a job of its own (post.fanout,
 * one per post), which decides from the follower count whether to write it or leave it to be
 * merged in at read.
 */
import type {ChannelEventListener} from './channel-events.js'

export const timelineFanoutListener: ChannelEventListener = {
  name: 'timelines',
  handle: async (event, context) => {
    if (event.event !== 'post' || event.postId === undefined) return 'nothing to do'
    await context.jobs.enqueue('post.fanout', {postId: event.postId})
    return 'post.fanout queued'
  },
}
