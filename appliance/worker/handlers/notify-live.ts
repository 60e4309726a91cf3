import {notifyLive as tellFollowers} from '../../community/live-notifications.js'
import type {JobData, NotifyLiveResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** notify.live: a live channel's followers who asked are told (idempotent per broadcast). */
export function notifyLive(data: JobData['notify.live'], context: JobContext): Promise<NotifyLiveResult> {
  return tellFollowers(context, data)
}
