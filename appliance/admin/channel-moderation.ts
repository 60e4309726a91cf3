/**
 * What disabling a channel does, at once and everywhere: the channel is marked (no list shows it,
 * its page says it is disabled, its owner's dashboard says why), every stream key of it is refused
 * from the next check on (the ingest checks at publish and at each heartbeat of a live broadcast,
 * so a live one ends within seconds), and its open reports are closed. Enabling undoes the first
 * two; its keys publish again.
 */
import type {Redis} from 'ioredis'
import {ObjectId, type Db} from 'mongodb'

import {Users} from '../accounts/users.js'
import {Channels, literalPattern, type ChannelDisabled} from '../channels/channels.js'
import {StreamKeys} from '../channels/stream-keys.js'
import {StreamStates} from '../channels/stream-state.js'
import {Reports} from './reports.js'

/** The longest reason a moderator gives (its owner reads it on the dashboard). */
export const DISABLE_REASON_MAX = 300

export interface ModerationDeps {
  db: Db
  redis: Redis
  streamKeySecret: string
}

export interface DisableResult {
  /** false: it was disabled already (nothing changed). */
  disabled: boolean
  broadcastEnded: boolean
  reportsClosed: number
}

export async function disableChannel(deps: ModerationDeps, channel: string, by: string, reason: string): Promise<DisableResult> {
  const disabled = await new Channels(deps.db).disable(channel, {at: new Date(), by, reason})
  if (!disabled) return {disabled, broadcastEnded: false, reportsClosed: 0}
  await new StreamKeys({db: deps.db, redis: deps.redis, secret: deps.streamKeySecret}).recache(channel)
  // The key check ends it anyway; asking too ends it even while its key's answer is being cached.
  const states = new StreamStates(deps.redis)
  const live = await states.get(channel)
  if (live !== undefined) await states.requestEnd(channel, live.streamId)
  const reportsClosed = await new Reports(deps.db).closeChannel(channel, by, 'channel-disabled')
  return {disabled, broadcastEnded: live !== undefined, reportsClosed}
}

/** false: it was not disabled. */
export async function enableChannel(deps: ModerationDeps, channel: string): Promise<boolean> {
  const enabled = await new Channels(deps.db).enable(channel)
  if (enabled) await new StreamKeys({db: deps.db, redis: deps.redis, secret: deps.streamKeySecret}).recache(channel)
  return enabled
}

/** One channel as the admin area lists it. */
export interface ModeratedChannel {
  name: string
  owner?: string
  title?: string
  disabled?: ChannelDisabled
}

const LIST_LIMIT = 100

/**
 * Channels whose name holds `query` (disabled ones too), by name; with no query, the disabled
 * channels and those in `alsoNames` (the live ones). Each with its owner's username.
 */
export async function findChannels(db: Db, query: string, alsoNames: readonly string[]): Promise<ModeratedChannel[]> {
  const channels = new Channels(db)
  const filter =
    query === '' ? {$or: [{disabled: {$exists: true}}, {name: {$in: [...alsoNames]}}]} : {name: {$regex: literalPattern(query.trim().toLowerCase())}}
  const found = await channels.collection.find(filter, {projection: {_id: 0, name: 1, ownerId: 1, title: 1, disabled: 1}}).sort({name: 1}).limit(LIST_LIMIT).toArray()
  const ownerIds = [...new Set(found.flatMap((c) => (c.ownerId !== undefined && ObjectId.isValid(c.ownerId) ? [c.ownerId] : [])))]
  const owners = new Map(
    (await new Users(db).collection.find({_id: {$in: ownerIds.map((id) => new ObjectId(id))}}, {projection: {username: 1}}).toArray()).map((u) => [u._id.toHexString(), u.username]),
  )
  return found.map((c) => {
    const owner = c.ownerId === undefined ? undefined : owners.get(c.ownerId)
    return {name: c.name, ...(owner === undefined ? {} : {owner}), ...(c.title === undefined ? {} : {title: c.title}), ...(c.disabled === undefined ? {} : {disabled: c.disabled})}
  })
}
