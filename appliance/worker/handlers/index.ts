/** Every job type and the one handler (one file each) that runs it: the map is exhaustive. */
import type {JobHandlers} from '../../jobs/types.js'
import {channelEvent} from './channel-event.js'
import {clipCreate} from './clip-create.js'
import type {JobContext} from './context.js'
import {dvrFinalize} from './dvr-finalize.js'
import {housekeeping} from './housekeeping.js'
import {mailSend} from './mail-send.js'
import {scheduleRemind} from './schedule-remind.js'
import {webhookDeliver} from './webhook-deliver.js'
import {notifyDigest} from './notify-digest.js'
import {notifyLive} from './notify-live.js'
import {notifyMail} from './notify-mail.js'
import {postFanout} from './post-fanout.js'
import {postUnfanout} from './post-unfanout.js'
import {thumbnailLive} from './thumbnail-live.js'
import {thumbnailSweep} from './thumbnail-sweep.js'
import {vodDelete} from './vod-delete.js'
import {vodMp4} from './vod-mp4.js'
import {vodTranscode} from './vod-transcode.js'
import {vodPreviews} from './vod-previews.js'

export type {JobContext} from './context.js'

export const handlers: JobHandlers<JobContext> = {
  'dvr.finalize': dvrFinalize,
  'clip.create': clipCreate,
  'vod.delete': vodDelete,
  'mail.send': mailSend,
  'vod.previews': vodPreviews,
  'thumbnail.live': thumbnailLive,
  'thumbnail.sweep': thumbnailSweep,
  housekeeping,
  'vod.mp4': vodMp4,
  'vod.transcode': vodTranscode,
  'channel.event': channelEvent,
  'schedule.remind': scheduleRemind,
  'webhook.deliver': webhookDeliver,
  'notify.mail': notifyMail,
  'notify.live': notifyLive,
  'notify.digest': notifyDigest,
  'post.fanout': postFanout,
  'post.unfanout': postUnfanout,
}
