import {mailNotification} from '../../community/notification-mail.js'
import type {JobData, NotifyMailResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** notify.mail: one notification by mail, if its recipient still wants it and it was not mailed yet. */
export function notifyMail({notificationId}: JobData['notify.mail'], context: JobContext): Promise<NotifyMailResult> {
  return mailNotification(notificationId, context)
}
