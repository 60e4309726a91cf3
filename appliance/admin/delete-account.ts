/**
 * Deleting an account, with everything that is its own: its sessions end and its broadcasts stop
 * (as a ban does), then its channels go with their stream keys, images and past broadcasts (their
 * recordings leave S3 through the worker's vod.delete), their chat and followers and posts, schedule and webhooks, what it said in any chat, what it followed, liked and commented,
 * its access tokens, its home timeline (Redis), and the account. The audit log keeps a line of it; what others wrote
 * (reports, the audit log, chat moderation logs) stays.
 */
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {Users, type UserDoc} from '../accounts/users.js'
import {ACCESS_TOKENS_COLLECTION} from '../api/tokens.js'
import {Channels} from '../channels/channels.js'
import {ChatStore} from '../chat/store.js'
import {Follows} from '../community/follows.js'
import {removeAccountReactions, removeChannelPosts} from '../community/post-removal.js'
import {NotificationSettings, Notifications} from '../community/notifications.js'
import {Schedules} from '../community/schedule.js'
import {timelineKey} from '../community/timelines.js'
import {Webhooks} from '../community/webhooks.js'
import {deleteChannelImage} from '../channels/images.js'
import {CHANNELS_COLLECTION, STREAM_KEYS_COLLECTION} from '../channels/stream-keys.js'
import {markArchiveDeleted} from '../channels/stream-state.js'
import type {Storage} from '../platform/storage.js'
import {VODS_COLLECTION, type VodDoc} from '../vods/vods.js'
import {setAccountStatus} from './moderation.js'

export interface AccountRemoval {
  channels: string[]
  pastBroadcasts: number
  sessionsEnded: number
}

export interface DeleteAccountDeps {
  db: Db
  redis: Redis
  storage: Storage
  streamKeySecret: string
  /** Hands a deleted broadcast's archive to the worker (vod.delete). */
  deleteArchive: (channel: string, streamId: string) => Promise<void>
}

export async function deleteAccount(deps: DeleteAccountDeps, user: UserDoc): Promise<AccountRemoval> {
  const {db} = deps
  // First nobody can use it: sessions end, keys are revoked, live broadcasts end within seconds.
  const closed = await setAccountStatus(deps, user, 'suspended')
  const owned = await new Channels(db).byOwner(user._id.toHexString())
  const chat = new ChatStore(db)
  const follows = new Follows(db)
  let pastBroadcasts = 0
  for (const channel of owned) {
    const vods = await db.collection<VodDoc>(VODS_COLLECTION).find({channel: channel.name}, {projection: {streamId: 1}}).toArray()
    await db.collection<VodDoc>(VODS_COLLECTION).deleteMany({channel: channel.name})
    for (const vod of vods) {
      await markArchiveDeleted(db, vod.streamId)
      await deps.deleteArchive(channel.name, vod.streamId)
    }
    pastBroadcasts += vods.length
    for (const object of Object.values(channel.images ?? {})) {
      // S3 away: the image stays behind, linked from nothing (bytes only); the account still goes.
      if (object !== undefined) await deleteChannelImage(deps.storage, channel.name, object).catch(() => undefined)
    }
    await db.collection(STREAM_KEYS_COLLECTION).deleteMany({channel: channel.name})
    await chat.removeChannel(channel.name)
    await follows.removeChannel(channel.name)
    await removeChannelPosts(db, deps.storage, channel.name)
    // Its schedule, and its webhooks with their secrets and their deliveries.
    await new Schedules(db).removeChannel(channel.name)
    await new Webhooks(db).removeChannel(channel.name)
    await db.collection(CHANNELS_COLLECTION).deleteOne({name: channel.name})
  }
  await chat.removeAccount(user._id.toHexString())
  await follows.removeAccount(user._id.toHexString())
  await removeAccountReactions(db, user._id.toHexString())
  // Its home timeline (a cache in Redis; it would only expire).
  await deps.redis.del(timelineKey(user._id.toHexString()))
  // Its notifications, and its mail choices with the token its unsubscribe links carry.
  await new Notifications(db).removeAccount(user._id.toHexString())
  await new NotificationSettings(db).removeAccount(user._id.toHexString())
  await db.collection(ACCESS_TOKENS_COLLECTION).deleteMany({userId: user._id.toHexString()})
  await new Users(db).remove(user._id)
  return {channels: owned.map((c) => c.name), pastBroadcasts, sessionsEnded: closed.sessionsEnded}
}
