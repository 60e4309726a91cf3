/**
 * A post's channel.event (followers' timelines, notifications, webhooks), queued when it is
 * published and marked on the post (`eventQueuedAt`): a post whose event could not be queued (Redis
 * away at that moment) is queued again by housekeeping (housekeeping/post-events.ts). The event's
 * job id is the post's, so a post queued twice is told once.
 */
import type {JobQueues} from '../jobs/queues.js'
import type {PostDoc, Posts} from './posts.js'

export async function queuePostEvent(jobs: Pick<JobQueues, 'enqueue'>, posts: Posts, post: Pick<PostDoc, '_id' | 'channel' | 'createdAt'>): Promise<void> {
  await jobs.enqueue('channel.event', {channel: post.channel, event: 'post', postId: post._id.toHexString(), at: post.createdAt.toISOString()})
  await posts.eventQueued(post._id)
}
