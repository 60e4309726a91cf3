/**
 * The schedule's part in a channel's events and jobs: when the channel goes live near a planned
 * time, that entry becomes the broadcast's (the 'live' listener); shortly before a planned time,
 * the followers with live alerts on are reminded (schedule.remind).
 */
import {Channels} from '../channels/channels.js'
import type {ScheduleRemindResult} from '../jobs/types.js'
import type {ChannelEventListener} from './channel-events.js'
import {notifyFollowers} from './follower-notifications.js'
import type {NotifyDeps} from './notifications.js'
import {entryId, Schedules} from './schedule.js'

export const scheduleNotificationKey = (entryId: string, startsAtMs: number): string => `schedule:${entryId}:${startsAtMs}`

export const scheduleLinkListener: ChannelEventListener = {
  name: 'schedule',
  handle: async (event, context) => {
    if (event.event !== 'live' || event.streamId === undefined) return 'nothing to link'
    const linked = await new Schedules(context.db).linkBroadcast(event.channel, event.streamId, new Date(event.at))
    return linked === null ? 'no scheduled broadcast near this time' : `linked to the scheduled ${linked._id.toHexString()}`
  },
}

/** schedule.remind: the entry's followers who asked are told it starts soon, unless it was removed, moved or is already live. */
export async function remindFollowers(deps: NotifyDeps, data: {entryId: string; startsAtMs: number}): Promise<ScheduleRemindResult> {
  const id = entryId(data.entryId)
  const entry = id === undefined ? null : await new Schedules(deps.db).byId(id)
  if (entry === null) return {status: 'skipped', entryId: data.entryId, reason: 'removed'}
  // Moved: the reminder of its new time does the telling.
  if (entry.startsAt.getTime() !== data.startsAtMs) return {status: 'skipped', entryId: data.entryId, reason: 'time changed'}
  // Live early: the went-live notification has told them.
  if (entry.streamId !== undefined) return {status: 'skipped', entryId: data.entryId, reason: 'already live'}
  // Disabled by the site's moderators: it cannot go live, so nobody is told it starts soon.
  if ((await new Channels(deps.db).byName(entry.channel))?.disabled !== undefined) return {status: 'skipped', entryId: data.entryId, reason: 'channel disabled'}
  const minutes = Math.max(0, Math.round((data.startsAtMs - Date.now()) / 60_000))
  const text = `${entry.channel}: “${entry.title}” starts ${minutes <= 0 ? 'now' : `in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`}`
  const {followers, notified} = await notifyFollowers(deps, entry.channel, {kind: 'schedule', key: scheduleNotificationKey(data.entryId, data.startsAtMs), text, url: `/c/${entry.channel}`})
  return {status: 'done', entryId: data.entryId, followers, notified}
}
