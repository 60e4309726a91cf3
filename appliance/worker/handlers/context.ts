import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import type {Logger} from '../../platform/logger.js'
import type {Storage} from '../../platform/storage.js'

/** What every job handler is given. */
export interface JobContext {
  redis: Redis
  log: Logger
  db: Db
  storage: Storage
}
