/**
 * Telling a channel's followers with live alerts on (went live, a scheduled stream about to
 * start): a page of followers at a time, so that a channel with 100,000 followers is 200 writes,
 * not one huge one. Pages go by user id (the follower_channel index): stable while people follow
 * and unfollow meanwhile. A rerun after a crash half-way tells no one twice: the input's key makes
 * each follower's notification one.
 */
import {Follows} from './follows.js'
import {notify, type NotificationInput, type NotifyDeps} from './notifications.js'

/** Followers told per write (and per Redis message to the bells). */
const FOLLOWERS_PER_PAGE = 500

export async function notifyFollowers(deps: NotifyDeps, channel: string, input: Omit<NotificationInput, 'userIds' | 'channel'>): Promise<{followers: number; notified: number}> {
  const follows = new Follows(deps.db).collection
  let followers = 0
  let notified = 0
  let after: string | undefined
  for (;;) {
    const page = await follows
      .find({channel, notify: true, ...(after === undefined ? {} : {userId: {$gt: after}})}, {projection: {userId: 1}})
      .sort({userId: 1})
      .limit(FOLLOWERS_PER_PAGE)
      .toArray()
    if (page.length === 0) break
    followers += page.length
    after = page.at(-1)!.userId
    notified += await notify(deps, {...input, channel, userIds: page.map((f) => f.userId)})
    if (page.length < FOLLOWERS_PER_PAGE) break
  }
  return {followers, notified}
}
