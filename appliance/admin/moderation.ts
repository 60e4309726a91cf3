/**
 * What a suspension or a ban does, at once and everywhere: the account's sessions end (every web
 * replica), its channels' stream keys are revoked, and their live broadcasts end within seconds
 * (the ingest checks each live key at every heartbeat). Reactivating gives the login back; the
 * streamer makes new keys.
 */
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {RedisSessionStore} from '../accounts/sessions.js'
import {Users, type AccountStatus, type UserDoc} from '../accounts/users.js'
import {Channels} from '../channels/channels.js'
import {StreamKeys} from '../channels/stream-keys.js'
import {StreamStates} from '../channels/stream-state.js'

export interface StatusChange {
  sessionsEnded: number
  keysRevoked: number
  broadcastsEnded: string[]
}

export async function setAccountStatus(deps: {db: Db; redis: Redis; streamKeySecret: string}, user: UserDoc, status: AccountStatus): Promise<StatusChange> {
  await new Users(deps.db).setStatus(user._id, status)
  if (status === 'active') return {sessionsEnded: 0, keysRevoked: 0, broadcastsEnded: []}
  const id = user._id.toHexString()
  const sessionsEnded = await new RedisSessionStore(deps.redis).endAll(id)
  const keys = new StreamKeys({db: deps.db, redis: deps.redis, secret: deps.streamKeySecret})
  const states = new StreamStates(deps.redis)
  let keysRevoked = 0
  const broadcastsEnded: string[] = []
  for (const channel of await new Channels(deps.db).byOwner(id)) {
    keysRevoked += (await keys.revoke(channel.name)).revoked.length
    const live = await states.get(channel.name)
    if (live !== undefined) {
      await states.requestEnd(channel.name, live.streamId)
      broadcastsEnded.push(channel.name)
    }
  }
  return {sessionsEnded, keysRevoked, broadcastsEnded}
}
