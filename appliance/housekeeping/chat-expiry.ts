/**
 * Chat history past retention.chatDays (0 keeps it all). A MongoDB TTL index would do this by
 * itself, but its period is fixed in the index while chatDays is a setting, and FerretDB (the
 * MongoDB-wire server the tests run) refuses TTL indexes ("expireAfterSeconds is not implemented
 * yet", v1.24): housekeeping deletes by time instead, on the `at` index.
 */
import type {Db} from 'mongodb'

import {CHAT_COLLECTIONS, type ChatMessageDoc} from '../chat/store.js'
import type {HousekeepingResult} from '../jobs/types.js'

const DAY_MS = 24 * 3600 * 1000

export async function expireChat(db: Db, {now, chatDays, dryRun}: {now: Date; chatDays: number; dryRun: boolean}): Promise<HousekeepingResult['chatMessages']> {
  if (chatDays === 0) return {chatDays, count: 0}
  const old = {at: {$lt: new Date(now.getTime() - chatDays * DAY_MS)}}
  const messages = db.collection<ChatMessageDoc>(CHAT_COLLECTIONS.messages)
  const count = dryRun ? await messages.countDocuments(old) : (await messages.deleteMany(old)).deletedCount
  return {chatDays, count}
}
