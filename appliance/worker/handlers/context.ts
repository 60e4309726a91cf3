import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import type {Transporter} from 'nodemailer'

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
}
