/**
 * A channel's chat room as the server needs it for every message: its owner, settings and
 * moderators, read through a 2 s cache (a change shows on every web instance within that time;
 * the instance that made it forgets at once). And who may do what in it.
 */
import type {Db} from 'mongodb'

import type {Role} from '../contract/index.js'
import {chatPermissions, type ChatMessage, type ChatPermission, type ChatSettings} from '../contract/index.js'
import {Channels} from '../channels/channels.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {Follows} from '../community/follows.js'
import {ChatStore} from './store.js'

export interface ChatRoom {
  channel: string
  /** The owner's user id (absent for a channel made from the terminal). */
  ownerId?: string
  settings: ChatSettings
  /** Each moderator's user id and what the owner lets them do. */
  moderators: Map<string, ChatPermission[]>
}

/** Someone in a room: their account id and site role. */
export interface Member {
  id: string
  role: Role
}

/** What a member is here: the owner, one of the site's staff, a moderator, or a viewer. */
export function standingOf(room: ChatRoom, member: Member): {badge?: ChatMessage['badge']; permissions: ChatPermission[]} {
  if (member.id === room.ownerId) return {badge: 'owner', permissions: [...chatPermissions]}
  if (member.role === 'admin' || member.role === 'moderator') return {badge: 'staff', permissions: [...chatPermissions]}
  const granted = room.moderators.get(member.id)
  if (granted !== undefined) return {badge: 'moderator', permissions: granted}
  return {permissions: []}
}

/** Whether `actor` may act against `target` here: nobody acts against the owner, moderators not against each other or staff. */
export function mayActAgainst(room: ChatRoom, actor: Member, target: Member): string | undefined {
  if (target.id === room.ownerId) return 'Nobody can act against the channel\'s owner in their own chat.'
  if (target.id === actor.id) return 'You cannot do that to yourself.'
  const actorStanding = standingOf(room, actor).badge
  const targetStanding = standingOf(room, target).badge
  if (actorStanding === 'moderator' && (targetStanding === 'moderator' || targetStanding === 'staff')) return 'A moderator cannot act against another moderator; ask the owner.'
  return undefined
}

export class ChatRooms {
  readonly store: ChatStore
  readonly follows: Follows
  private readonly channels: Channels
  private readonly cache = new TtlCache<string, ChatRoom | null>(2000)

  constructor(db: Db) {
    this.store = new ChatStore(db)
    this.follows = new Follows(db)
    this.channels = new Channels(db)
  }

  /** The room, or null when there is no such channel (or it is disabled). */
  get(channel: string): Promise<ChatRoom | null> {
    return this.cache.get(channel, async () => {
      const [doc, settings, moderators] = await Promise.all([this.channels.byName(channel), this.store.settings(channel), this.store.moderatorsOf(channel)])
      if (doc === null || doc.disabled !== undefined) return null
      return {channel, ...(doc.ownerId === undefined ? {} : {ownerId: doc.ownerId}), settings, moderators: new Map(moderators.map((m) => [m.userId, m.permissions]))}
    })
  }

  /** This instance changed the room: the next get reads it anew. */
  forget(channel: string): void {
    this.cache.forget(channel)
  }
}
