import {remindFollowers} from '../../community/schedule-events.js'
import type {JobData, ScheduleRemindResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** schedule.remind: followers with live alerts on hear that a scheduled broadcast starts soon (once per entry and time). */
export function scheduleRemind(data: JobData['schedule.remind'], context: JobContext): Promise<ScheduleRemindResult> {
  return remindFollowers(context, data)
}
