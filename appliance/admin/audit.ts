/** Every admin action, with who did it and when (`audit` in MongoDB), newest first in the admin area. */
import type {Collection, Db} from 'mongodb'

export const AUDIT_COLLECTION = 'audit'

export interface AuditEntry {
  at: Date
  /** The admin's username (and id), or "terminal" for `shing …`. */
  actor: string
  actorId?: string
  /** e.g. user.ban, user.role, channel.end */
  action: string
  /** What it was done to: a username or a channel name. */
  target: string
  details?: Record<string, string | number | boolean>
}

export class AuditLog {
  private readonly entries: Collection<AuditEntry>

  constructor(db: Db) {
    this.entries = db.collection<AuditEntry>(AUDIT_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.entries.createIndex({at: -1})
  }

  async record(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    await this.entries.insertOne({at: new Date(), ...entry})
  }

  latest(limit = 100): Promise<AuditEntry[]> {
    return this.entries.find({}, {projection: {_id: 0}}).sort({at: -1}).limit(limit).toArray()
  }
}
