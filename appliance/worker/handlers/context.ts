import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import type {Transporter} from 'nodemailer'

import type {HardwareProfile} from '../../contract/hardware-profile.js'
import type {CommunitySettings} from '../../contract/community.js'
import type {MediaSettings, Retention} from '../../contract/media.js'
import type {JobQueues} from '../../jobs/queues.js'
import type {Logger} from '../../platform/logger.js'
import type {Storage} from '../../platform/storage.js'

/** What every job handler is given. */
export interface JobContext {
  redis: Redis
  log: Logger
  db: Db
  storage: Storage
  /** The SMTP client; absent on a site that sends no mail. */
  mail?: {transport: Transporter; from: string}
  /** For a job that starts another (a finished broadcast's re-encode). */
  jobs: JobQueues
  /** shing.yaml `media:` (clips, thumbnails, re-encode). */
  media: MediaSettings
  /** shing.yaml `retention:` (how long VODs and chat stay; the grace before an orphaned object goes). */
  retention: Retention
  /** shing.yaml `community:` (timelines' fan-out, schedule reminders, webhooks). */
  community: CommunitySettings
  /** The site's address (SHING_PUBLIC_URL): links in mails. */
  publicUrl: string
  /** This box's profile: its encoder (a re-encode uses the worker's own) and HLS segment length. */
  profile: Pick<HardwareProfile, 'encoder' | 'hls'>
}
