/**
 * Reports from viewers (`reports` in MongoDB): a logged-in viewer reports a channel with a reason
 * and, maybe, a few words; a moderator dismisses it or disables the channel. One open report per
 * reporter and channel: reporting again updates it.
 */
import {ObjectId, type Collection, type Db, type Filter, type UpdateFilter} from 'mongodb'

export const REPORTS_COLLECTION = 'reports'
export const REPORT_DETAILS_MAX = 1000

/** What a viewer picks from, as the form and the admin area show it. */
export const REPORT_REASONS = {
  spam: 'Spam or scam',
  harassment: 'Harassment or hate',
  sexual: 'Sexual content',
  violence: 'Violence or danger',
  copyright: 'Copyright',
  other: 'Something else',
} as const
export type ReportReason = keyof typeof REPORT_REASONS
export const isReportReason = (value: string): value is ReportReason => Object.hasOwn(REPORT_REASONS, value)

/** How a closed report was closed. */
export type ReportResolution = 'dismissed' | 'channel-disabled' | 'content-removed'

/** A report about one thing on a channel (a post, a comment), rather than the channel itself. */
export interface ReportTarget {
  kind: 'post' | 'comment'
  id: string
  /** Where moderators see it. */
  url: string
  /** A few words of it, as it was when reported. */
  excerpt: string
}

export interface ReportDoc {
  _id: ObjectId
  channel: string
  /** Absent: the channel itself is reported. */
  target?: ReportTarget
  reporterId: string
  reporter: string
  reason: ReportReason
  details?: string
  createdAt: Date
  /** When the reporter last sent it (a second report of the same channel updates the open one). */
  updatedAt: Date
  status: 'open' | 'closed'
  closedAt?: Date
  /** The moderator's username. */
  closedBy?: string
  resolution?: ReportResolution
}

/** One open report per reporter and thing: the channel itself, or this post or comment of it. */
const targetFilter = (target: Pick<ReportTarget, 'kind' | 'id'> | undefined): Filter<ReportDoc> =>
  target === undefined ? {target: {$exists: false}} : {'target.kind': target.kind, 'target.id': target.id}

export class Reports {
  private readonly reports: Collection<ReportDoc>

  constructor(db: Db) {
    this.reports = db.collection<ReportDoc>(REPORTS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.reports.createIndex({status: 1, updatedAt: -1})
    await this.reports.createIndex({channel: 1, reporterId: 1, status: 1})
  }

  /**
   * Files a report, or updates the reporter's open one of this channel. (Two sent at the same
   * instant may both be filed: harmless, and the rate limit bounds it.)
   */
  async file(input: {channel: string; reporterId: string; reporter: string; reason: ReportReason; details?: string; target?: ReportTarget}): Promise<'filed' | 'updated'> {
    const now = new Date()
    const filter = {channel: input.channel, reporterId: input.reporterId, status: 'open' as const, ...targetFilter(input.target)}
    const set: UpdateFilter<ReportDoc> = {$set: {reason: input.reason, updatedAt: now, reporter: input.reporter, ...(input.details === undefined ? {} : {details: input.details})}, ...(input.details === undefined ? {$unset: {details: '' as const}} : {})}
    if (input.target !== undefined) {
      // A post's or comment's: updated, or added (an upsert cannot both match on target.id and write target).
      if ((await this.reports.updateOne(filter, set)).matchedCount === 1) return 'updated'
      const {details, ...rest} = input
      await this.reports.insertOne({_id: new ObjectId(), ...rest, ...(details === undefined ? {} : {details}), status: 'open', createdAt: now, updatedAt: now})
      return 'filed'
    }
    const result = await this.reports.updateOne(filter, {...set, $setOnInsert: {createdAt: now}}, {upsert: true})
    return result.upsertedCount === 1 ? 'filed' : 'updated'
  }

  /** The reporter's open report of this channel, to fill the form with. */
  openOf(channel: string, reporterId: string, target?: Pick<ReportTarget, 'kind' | 'id'>): Promise<ReportDoc | null> {
    return this.reports.findOne({channel, reporterId, status: 'open', ...targetFilter(target)})
  }

  /** Open reports, the latest sent first. */
  open(limit = 200): Promise<ReportDoc[]> {
    return this.reports.find({status: 'open'}).sort({updatedAt: -1}).limit(limit).toArray()
  }

  /** Closed reports, the latest closed first. */
  closed(limit = 50): Promise<ReportDoc[]> {
    return this.reports.find({status: 'closed'}).sort({closedAt: -1}).limit(limit).toArray()
  }

  /** Dismisses an open report: the report, or null if there is no such open one. */
  async dismiss(id: string, by: string): Promise<ReportDoc | null> {
    if (!ObjectId.isValid(id)) return null
    const _id = new ObjectId(id)
    const result = await this.reports.updateOne({_id, status: 'open'}, {$set: {status: 'closed', closedAt: new Date(), closedBy: by, resolution: 'dismissed'}})
    return result.modifiedCount === 1 ? this.reports.findOne({_id}) : null
  }

  /** An open report, or null. */
  openById(id: string): Promise<ReportDoc | null> {
    if (!ObjectId.isValid(id)) return Promise.resolve(null)
    return this.reports.findOne({_id: new ObjectId(id), status: 'open'})
  }

  /** Closes every open report of a post or comment that was removed (whoever reported it); how many. */
  async closeTarget(target: Pick<ReportTarget, 'kind' | 'id'>, by: string): Promise<number> {
    const result = await this.reports.updateMany({status: 'open', ...targetFilter(target)}, {$set: {status: 'closed', closedAt: new Date(), closedBy: by, resolution: 'content-removed'}})
    return result.modifiedCount
  }

  /** Closes every open report of a channel (it was disabled); how many. */
  async closeChannel(channel: string, by: string, resolution: ReportResolution): Promise<number> {
    const result = await this.reports.updateMany({channel, status: 'open'}, {$set: {status: 'closed', closedAt: new Date(), closedBy: by, resolution}})
    return result.modifiedCount
  }
}
