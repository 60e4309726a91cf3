/**
 * How many people one account may have notified of a mention in a while: a comment may name ten
 * people, and sixty comments a minute pass the write limit, so without a budget one account could
 * ring six hundred bells a minute. Counted in Redis per sender (a fixed window from the first
 * mention): the people beyond the budget are not told; what was written still posts.
 */
import type {Redis} from 'ioredis'

export const MENTIONED_PER_WINDOW = 20
export const MENTION_WINDOW_S = 600

export const mentionBudgetKey = (senderId: string): string => `shing:mention-budget:${senderId}`

/** The first of these that the sender's budget still covers (those are counted against it). */
export async function withinMentionBudget(redis: Redis, senderId: string, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return []
  const key = mentionBudgetKey(senderId)
  const replies = await redis.multi().incrby(key, userIds.length).expire(key, MENTION_WINDOW_S, 'NX').exec()
  const used = Number(replies?.[0]?.[1] ?? Number.POSITIVE_INFINITY)
  const before = used - userIds.length
  return userIds.slice(0, Math.max(0, MENTIONED_PER_WINDOW - before))
}
