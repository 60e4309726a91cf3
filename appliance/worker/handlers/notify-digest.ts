import {sendDigests} from '../../community/notification-mail.js'
import type {JobData, NotifyDigestResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** notify.digest: the daily mail of what is unread and not yet mailed, to those who chose it. */
export function notifyDigest(_data: JobData['notify.digest'], context: JobContext): Promise<NotifyDigestResult> {
  return sendDigests(context)
}
