/**
 * "A channel you follow went live": the channel.event listener queues one `notify.live` job per
 * broadcast, which tells the followers with live alerts on, a page of followers at a time (a
 * channel with 100,000 followers is 200 pages, not one huge write). A rerun, after a crash
 * half-way, tells no one twice: each follower's notification is keyed by the broadcast.
 */
import type {Db} from 'mongodb'

import {Channels} from '../channels/channels.js'
import {STREAMS_COLLECTION, type StreamDoc} from '../channels/stream-state.js'
import type {NotifyLiveResult} from '../jobs/types.js'
import type {ChannelEventListener} from './channel-events.js'
import {notifyFollowers} from './follower-notifications.js'
import type {NotifyDeps} from './notifications.js'

export const liveNotificationKey = (streamId: string): string => `live:${streamId}`

export const liveNotificationListener: ChannelEventListener = {
  name: 'notifications',
  handle: async (event, context) => {
    if (event.event !== 'live' || event.streamId === undefined) return 'nothing to tell'
    await context.jobs.enqueue('notify.live', {channel: event.channel, streamId: event.streamId})
    return 'followers to be told'
  },
}

async function ended(db: Db, streamId: string): Promise<boolean> {
  const stream = await db.collection<StreamDoc>(STREAMS_COLLECTION).findOne({streamId}, {projection: {endedAt: 1, live: 1}})
  return stream !== null && (stream.endedAt !== undefined || !stream.live)
}

/** notify.live: every follower of the channel with live alerts on gets one notification for this broadcast. */
export async function notifyLive(deps: NotifyDeps, data: {channel: string; streamId: string}): Promise<NotifyLiveResult> {
  // Over before its followers could be told: telling them now would send them to an offline channel.
  if (await ended(deps.db, data.streamId)) return {status: 'ended', followers: 0, notified: 0}
  const channel = await new Channels(deps.db).byName(data.channel)
  // Disabled by the site's moderators (after it went live, or by a race with the ingest): its followers are not sent to it.
  if (channel?.disabled !== undefined) return {status: 'disabled', followers: 0, notified: 0}
  const text = channel?.title === undefined ? `${data.channel} is live now` : `${data.channel} is live: ${channel.title}`
  const {followers, notified} = await notifyFollowers(deps, data.channel, {kind: 'live', key: liveNotificationKey(data.streamId), text, url: `/c/${data.channel}`})
  return {status: 'done', followers, notified}
}
