/**
 * Notifications by mail, on the worker: one mail per notification for those who chose "e-mail"
 * (the `notify.mail` job), and a daily digest for those who chose it (`notify.digest`). Each
 * notification is claimed (`mailedAt`, a conditional update) before its mail is queued, and the
 * mail's job id is deterministic: a retried or repeated job sends nothing twice. A claim whose mail
 * could not be queued is undone, so that the retry mails it rather than skipping it as mailed.
 * Every mail carries a one-click unsubscribe link (RFC 8058) that turns that kind's mail off
 * without logging in.
 */
import {ObjectId, type Db} from 'mongodb'

import {Users, type UserDoc} from '../accounts/users.js'
import {STREAMS_COLLECTION, type StreamDoc} from '../channels/stream-state.js'
import type {JobQueues} from '../jobs/queues.js'
import type {NotifyDigestResult, NotifyMailResult, NotifyMailSkip} from '../jobs/types.js'
import type {Mail} from '../mail/mailer.js'
import {SiteSettings} from '../site/settings.js'
import {escapeHtml} from '../web/html.js'
import type {JobContext} from '../worker/handlers/context.js'
import {KIND_LABELS, MAIL_WITHIN_MS, NotificationSettings, Notifications, notificationKinds, type NotificationDoc, type Unsubscribable} from './notifications.js'

/** A digest carries at most this many (the page has the rest), and nothing older than a week. */
const DIGEST_MAX = 50
const DIGEST_WITHIN_MS = 7 * 24 * 3600_000

/** The address that turns one kind's mail off for one account (its token is the proof). */
export const unsubscribePath = (userId: string, what: Unsubscribable, token: string): string => `/notifications/unsubscribe/${userId}/${what}/${token}`

interface MailFrame {
  user: UserDoc
  site: string
  publicUrl: string
  /** What the unsubscribe link turns off: one kind's mail, or the digest. */
  kind: Unsubscribable
  token: string
}

function compose(frame: MailFrame, subject: string, items: {text: string; url: string}[], intro?: string): Mail {
  const absolute = (path: string): string => new URL(path, frame.publicUrl).toString()
  const unsubscribeUrl = absolute(unsubscribePath(frame.user._id.toHexString(), frame.kind, frame.token))
  const settingsUrl = absolute('/account/notifications')
  const why = frame.kind === 'digest' ? 'You get this mail because you chose a daily digest of your notifications.' : `You get this mail because you chose it for "${KIND_LABELS[frame.kind]}".`
  const text = [
    `Hello ${frame.user.username},`,
    '',
    ...(intro === undefined ? [] : [intro, '']),
    ...items.flatMap((item) => [item.text, absolute(item.url), '']),
    `— ${frame.site}`,
    '',
    why,
    `Stop these mails (one click): ${unsubscribeUrl}`,
    `Choose which mails you get: ${settingsUrl}`,
  ].join('\n')
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;max-width:36em">
<p>Hello ${escapeHtml(frame.user.username)},</p>
${intro === undefined ? '' : `<p>${escapeHtml(intro)}</p>`}
${items.map((item) => `<p><a href="${escapeHtml(absolute(item.url))}">${escapeHtml(item.text)}</a></p>`).join('\n')}
<p>— ${escapeHtml(frame.site)}</p>
<p style="color:#555;font-size:90%">${escapeHtml(why)} <a href="${escapeHtml(unsubscribeUrl)}">Stop these mails</a> · <a href="${escapeHtml(settingsUrl)}">Choose which mails you get</a></p>
</body></html>`
  return {to: frame.user.email, subject: `${subject} · ${frame.site}`, text, html, unsubscribeUrl}
}

const siteTitle = async (db: Db, publicUrl: string): Promise<string> => (await new SiteSettings(db, new URL(publicUrl).hostname).get()).title

/** The broadcasts among these went-lives that are over by now: not worth a mail (the page still lists them). */
async function endedBroadcasts(db: Db, notifications: NotificationDoc[]): Promise<Set<string>> {
  const streamIds = [...new Set(notifications.filter((n) => n.kind === 'live' && n.key.startsWith('live:')).map((n) => n.key.slice('live:'.length)))]
  if (streamIds.length === 0) return new Set()
  const streams = await db.collection<StreamDoc>(STREAMS_COLLECTION).find({streamId: {$in: streamIds}}, {projection: {streamId: 1, endedAt: 1, live: 1}}).toArray()
  return new Set(streams.filter((s) => s.endedAt !== undefined || !s.live).map((s) => `live:${s.streamId}`))
}

/**
 * Queues the mail of these claimed notifications; when that fails (Redis away), gives the claims
 * back before failing the job: its retry finds them unmailed. Only this claim's (`mailedAt` equal to
 * its time): one that another run made meanwhile stays.
 */
async function enqueueOrUnclaim(notifications: Notifications, claimed: NotificationDoc[], claimedAt: Date, enqueue: () => Promise<unknown>): Promise<void> {
  try {
    await enqueue()
  } catch (error) {
    await notifications.unclaimForMail(claimed.map((n) => n._id), claimedAt)
    throw error
  }
}

/**
 * notify.mail: each notification to its recipient's address, if they still want that kind by
 * e-mail and it was not mailed yet. Claimed one by one before its mail is queued: a retry after
 * a failure half-way sends only what was left.
 */
export async function mailNotifications(notificationIds: string[], context: JobContext): Promise<NotifyMailResult> {
  const result: NotifyMailResult = {status: 'done', queued: 0, skipped: {}}
  const skip = (reason: NotifyMailSkip, count = 1): void => {
    if (count > 0) result.skipped[reason] = (result.skipped[reason] ?? 0) + count
  }
  const notifications = new Notifications(context.db)
  const settings = new NotificationSettings(context.db)
  const found = await notifications.collection.find({_id: {$in: notificationIds.map((id) => new ObjectId(id))}}).toArray()
  skip('gone', notificationIds.length - found.length)
  if (context.mail === undefined) {
    skip('site sends no mail', found.length)
    return result
  }
  const users = new Map((await new Users(context.db).collection.find({_id: {$in: [...new Set(found.map((n) => n.userId))].filter((id) => ObjectId.isValid(id)).map((id) => new ObjectId(id))}}).toArray()).map((u) => [u._id.toHexString(), u]))
  const ended = await endedBroadcasts(context.db, found)
  const site = await siteTitle(context.db, context.publicUrl)
  for (const notification of found) {
    const user = users.get(notification.userId)
    if (notification.mailedAt !== undefined) skip('already mailed')
    else if (Date.now() - notification.at.getTime() > MAIL_WITHIN_MS) skip('too late')
    // Only a confirmed address: mail never goes to one that someone merely typed in.
    else if (user === undefined || user.status !== 'active' || user.emailVerifiedAt === undefined) skip('no address')
    else if ((await settings.delivery(notification.userId))[notification.kind] !== 'email') skip('not by e-mail')
    else if (ended.has(notification.key)) skip('broadcast ended')
    else {
      const claimedAt = new Date()
      if (!(await notifications.claimForMail(notification._id, claimedAt))) {
        skip('already mailed')
        continue
      }
      const id = notification._id.toHexString()
      const frame = {user, site, publicUrl: context.publicUrl, kind: notification.kind, token: await settings.token(notification.userId)}
      await enqueueOrUnclaim(notifications, [notification], claimedAt, () => context.jobs.enqueue('mail.send', compose(frame, notification.text, [{text: notification.text, url: notification.url}]), {jobId: `mail.notification-${id}`}))
      result.queued += 1
    }
  }
  return result
}

/** notify.digest: one mail per account that chose the digest for some kind, with what is unread and not yet mailed. */
export async function sendDigests(context: JobContext, now = new Date()): Promise<NotifyDigestResult> {
  if (context.mail === undefined) return {status: 'done', mails: 0, notifications: 0}
  const settings = new NotificationSettings(context.db)
  const notifications = new Notifications(context.db)
  const users = new Users(context.db)
  const day = now.toISOString().slice(0, 10).replace(/-/g, '')
  const site = await siteTitle(context.db, context.publicUrl)
  let mails = 0
  let carried = 0
  const digesters = settings.collection.find({$or: notificationKinds.map((kind) => ({[`delivery.${kind}`]: 'digest'}))})
  for await (const doc of digesters) {
    const kinds = notificationKinds.filter((kind) => doc.delivery[kind] === 'digest')
    const user = await users.byId(doc._id)
    if (kinds.length === 0 || user === null || user.status !== 'active' || user.emailVerifiedAt === undefined) continue
    const due = await notifications.collection
      .find({userId: doc._id, kind: {$in: kinds}, readAt: {$exists: false}, mailedAt: {$exists: false}, at: {$gt: new Date(now.getTime() - DIGEST_WITHIN_MS)}})
      .sort({at: -1})
      .limit(DIGEST_MAX)
      .toArray()
    const claimed: NotificationDoc[] = []
    for (const notification of due) if (await notifications.claimForMail(notification._id, now)) claimed.push(notification)
    if (claimed.length === 0) continue
    const frame = {user, site, publicUrl: context.publicUrl, kind: 'digest' as const, token: doc.token}
    const subject = `${claimed.length} new notification${claimed.length === 1 ? '' : 's'}`
    await enqueueOrUnclaim(notifications, claimed, now, () => context.jobs.enqueue('mail.send', compose(frame, subject, claimed, `Here is what happened since your last digest:`), {jobId: `mail.digest-${doc._id}-${day}`}))
    mails += 1
    carried += claimed.length
  }
  return {status: 'done', mails, notifications: carried}
}

/** Declares the daily digest (an upsert: every worker may, there stays one), at 07:00 UTC. */
export async function scheduleNotificationDigest(jobs: JobQueues): Promise<void> {
  await jobs.queue('notify.digest').upsertJobScheduler('notify.digest-daily', {pattern: '0 7 * * *', tz: 'UTC'}, {
    name: 'notify.digest',
    data: {},
    opts: {attempts: 3, backoff: {type: 'exponential', delay: 60_000}, removeOnComplete: 30, removeOnFail: 30},
  })
}
