/** Every job type and the one handler (one file each) that runs it: the map is exhaustive. */
import type {JobHandlers} from '../../jobs/types.js'
import type {JobContext} from './context.js'
import {dvrFinalize} from './dvr-finalize.js'
import {housekeeping} from './housekeeping.js'
import {mailSend} from './mail-send.js'
import {vodDelete} from './vod-delete.js'
import {vodMp4} from './vod-mp4.js'

export type {JobContext} from './context.js'

export const handlers: JobHandlers<JobContext> = {
  'dvr.finalize': dvrFinalize,
  'vod.delete': vodDelete,
  'mail.send': mailSend,
  housekeeping,
  'vod.mp4': vodMp4,
}
