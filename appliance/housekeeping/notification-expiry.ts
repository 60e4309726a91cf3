/**
 * Old notifications go: read ones after 90 days, unread ones after a year (nobody looks that far
 * back, and the bell's count stays about what is recent). Deleted by time on the `at` index
 * (FerretDB has no TTL index; see chat-expiry.ts).
 */
import type {Db} from 'mongodb'

import {NOTIFICATIONS_COLLECTION, type NotificationDoc} from '../community/notifications.js'
import type {HousekeepingResult} from '../jobs/types.js'

const DAY_MS = 24 * 3600 * 1000
export const READ_NOTIFICATION_DAYS = 90
export const UNREAD_NOTIFICATION_DAYS = 365

export async function expireNotifications(db: Db, {now, dryRun}: {now: Date; dryRun: boolean}): Promise<HousekeepingResult['notifications']> {
  const old = {
    $or: [
      {at: {$lt: new Date(now.getTime() - UNREAD_NOTIFICATION_DAYS * DAY_MS)}},
      {at: {$lt: new Date(now.getTime() - READ_NOTIFICATION_DAYS * DAY_MS)}, readAt: {$exists: true}},
    ],
  }
  const notifications = db.collection<NotificationDoc>(NOTIFICATIONS_COLLECTION)
  const count = dryRun ? await notifications.countDocuments(old) : (await notifications.deleteMany(old)).deletedCount
  return {readDays: READ_NOTIFICATION_DAYS, unreadDays: UNREAD_NOTIFICATION_DAYS, count}
}
