/**
 * Webhooks in a channel's events: 'live', 'offline' and 'post' each queue one webhook.deliver job
 * per webhook of the channel that wants it (the job's id per webhook and event: a retried
 * channel.event queues none again).
 */
import type {ChannelEventListener} from './channel-events.js'
import {Webhooks} from './webhooks.js'

export const webhookListener: ChannelEventListener = {
  name: 'webhooks',
  handle: async (event, context) => {
    const subscribed = await new Webhooks(context.db).subscribed(event.channel, event.event)
    for (const webhook of subscribed) {
      await context.jobs.enqueue('webhook.deliver', {
        webhookId: webhook._id.toHexString(),
        channel: event.channel,
        event: event.event,
        ...(event.streamId === undefined ? {} : {streamId: event.streamId}),
        ...(event.postId === undefined ? {} : {postId: event.postId}),
        at: event.at,
      })
    }
    return `${subscribed.length} ${subscribed.length === 1 ? 'webhook' : 'webhooks'} queued`
  },
}
