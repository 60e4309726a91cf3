import {mailNotifications} from '../../community/notification-mail.js'
import type {JobData, NotifyMailResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** notify.mail: notifications by mail, to those who still want them and were not mailed them yet. */
export function notifyMail({notificationIds}: JobData['notify.mail'], context: JobContext): Promise<NotifyMailResult> {
  return mailNotifications(notificationIds, context)
}
