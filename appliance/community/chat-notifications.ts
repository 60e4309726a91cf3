/**
 * What chat tells people through their notifications: an @mention (of accounts that exist, not
 * the sender, at most a few per message: a message naming twenty people is not twenty
 * notifications), and a moderator's time-out or ban against them.
 */
import {USERNAME_PATTERN, type Users} from '../accounts/users.js'
import type {NotificationInput} from './notifications.js'

/** Mentions in one message that notify (the first ones). */
export const MENTIONS_PER_MESSAGE = 3
/** How much of the message a mention's notification quotes. */
const QUOTE_CHARS = 100

export type Notifier = (input: NotificationInput) => Promise<number>

/** The distinct usernames a message @mentions (case kept as written), the sender's own left out; at most MENTIONS_PER_MESSAGE. */
export function mentionedUsernames(text: string, sender: string): string[] {
  const found = new Map<string, string>()
  for (const match of text.matchAll(/(^|[^\w@])@([A-Za-z0-9][A-Za-z0-9_-]{2,29})(?![\w-])/g)) {
    const name = match[2]!
    const key = name.toLowerCase()
    if (key === sender.toLowerCase() || found.has(key) || !USERNAME_PATTERN.test(name)) continue
    found.set(key, name)
    if (found.size === MENTIONS_PER_MESSAGE) break
  }
  return [...found.values()]
}

const quote = (text: string): string => (text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS - 1)}…` : text)

/** Tells the accounts a chat message mentions; answers how many were told. */
export async function notifyMentions(notifier: Notifier, users: Users, message: {channel: string; messageId: string; sender: string; text: string}): Promise<number> {
  const names = mentionedUsernames(message.text, message.sender)
  if (names.length === 0) return 0
  const found = await Promise.all(names.map((name) => users.byUsername(name)))
  const userIds = found.filter((user) => user !== null && user.status === 'active').map((user) => user!._id.toHexString())
  if (userIds.length === 0) return 0
  return notifier({
    kind: 'mention',
    key: `mention:chat:${message.messageId}`,
    userIds,
    actor: message.sender,
    channel: message.channel,
    text: `${message.sender} mentioned you in ${message.channel}'s chat: "${quote(message.text)}"`,
    url: `/c/${message.channel}`,
  })
}

/** Tells someone a moderator timed them out or banned them in a channel's chat (each action its own notification). */
export function notifyChatModeration(notifier: Notifier, action: {channel: string; targetId: string; action: 'timeout' | 'ban'; duration?: string; at?: Date}): Promise<number> {
  const at = action.at ?? new Date()
  const text =
    action.action === 'ban'
      ? `You were banned from ${action.channel}'s chat by its moderators.`
      : `You were timed out of ${action.channel}'s chat for ${action.duration ?? 'a while'} by its moderators.`
  return notifier({
    kind: 'moderation',
    key: `moderation:chat-${action.action}:${action.channel}:${at.getTime()}`,
    userIds: [action.targetId],
    channel: action.channel,
    text,
    url: `/c/${action.channel}`,
  })
}
