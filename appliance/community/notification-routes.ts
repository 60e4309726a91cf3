/**
 * The notifications of the logged-in account: the list (/notifications, newest first, paged),
 * opening one (marks it read, then goes where it leads), "Mark all as read", the mail settings
 * per kind (/account/notifications), and the one-click unsubscribe a mail links to, which needs
 * no log-in: the link's token is the proof (a mail client POSTs it, RFC 8058).
 */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {safeNext} from '../accounts/routes.js'
import type {Logger} from '../platform/logger.js'
import {notFoundPage, sendPage, viewerOrLogIn, type PageContextOf} from '../web/html.js'
import {notificationSettingsPage, notificationsPage, unsubscribedPage, unsubscribePage} from './notification-pages.js'
import {deliveryChoices, isUnsubscribable, NotificationSettings, Notifications, notificationKinds, ringBells, type DeliveryChoice, type NotificationKind} from './notifications.js'

export interface NotificationRoutesOptions {
  db: Db
  redis: Redis
  /** The site sends mail (the settings page says so when it does not). */
  siteMails: boolean
  pageContext: PageContextOf
  log: Logger
}

const ID = /^[a-f0-9]{24}$/
type UnsubscribeParams = {userId: string; what: string; token: string}

export async function notificationRoutes(app: FastifyInstance, options: NotificationRoutesOptions): Promise<void> {
  const {redis, pageContext, log} = options
  const notifications = new Notifications(options.db)
  const settings = new NotificationSettings(options.db)
  /** This account's other tabs (on any web instance) show the new count. */
  const ring = (userId: string): Promise<void> => ringBells(redis, [userId]).catch((error: unknown) => log.debug({err: (error as Error).message}, 'bell not rung'))

  app.get<{Querystring: {before?: string; read?: string}}>('/notifications', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const before = typeof request.query.before === 'string' && ID.test(request.query.before) ? request.query.before : undefined
    const [list, unread] = await Promise.all([notifications.list(viewer.id, before === undefined ? {} : {before}), notifications.unreadCount(viewer.id)])
    return sendPage(reply, 200, notificationsPage(pageContext(request, reply), {...list, unread, first: before === undefined, ...(request.query.read === 'all' ? {notice: 'All marked as read.'} : {})}))
  })

  // Opening one: read now, then where it leads (a path on this site, or the list).
  app.get<{Params: {id: string}}>('/notifications/:id', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const notification = ID.test(request.params.id) ? await notifications.byId(viewer.id, request.params.id) : null
    if (notification === null) return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such notification (it may have expired).'}))
    if (await notifications.markRead(viewer.id, request.params.id)) await ring(viewer.id)
    return reply.redirect(safeNext(notification.url) ?? '/notifications', 303)
  })

  app.post('/notifications/read-all', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    if ((await notifications.markAllRead(viewer.id)) > 0) await ring(viewer.id)
    return reply.redirect('/notifications?read=all', 303)
  })

  app.get<{Querystring: {saved?: string}}>('/account/notifications', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const delivery = await settings.delivery(viewer.id)
    return sendPage(
      reply,
      200,
      notificationSettingsPage(pageContext(request, reply), {delivery, siteMails: options.siteMails, emailVerified: viewer.emailVerified, ...(request.query.saved === '1' ? {notice: 'Saved.'} : {})}),
    )
  })

  app.post<{Body: Record<string, unknown>}>('/account/notifications', {config: {rateLimit: {max: 30, timeWindow: 60_000}}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const body = request.body ?? {}
    const chosen: Partial<Record<NotificationKind, DeliveryChoice>> = {}
    for (const kind of notificationKinds) {
      const value = body[kind]
      if (typeof value === 'string' && (deliveryChoices as readonly string[]).includes(value)) chosen[kind] = value as DeliveryChoice
    }
    await settings.setDelivery(viewer.id, chosen)
    log.debug({user: viewer.username, chosen}, 'notification settings changed')
    return reply.redirect('/account/notifications?saved=1', 303)
  })

  const unsubscribeTarget = async (params: UnsubscribeParams) =>
    ID.test(params.userId) && isUnsubscribable(params.what) && (await settings.tokenMatches(params.userId, params.token)) ? params.what : undefined
  const deadLink = (request: Parameters<PageContextOf>[0], reply: Parameters<PageContextOf>[1]) =>
    sendPage(reply, 404, notFoundPage(pageContext(request, reply), {title: 'This link no longer works', what: 'This unsubscribe link is not valid (the account may have been deleted). Logged in, you can choose your mails in Account → Notification settings.'}))
  const limit = {config: {rateLimit: {max: 30, timeWindow: 60_000}}}
  // RFC 8058 lets a mail client send its one click as multipart/form-data too: read (small) and ignored,
  // like the urlencoded body (this plugin's own parser: other routes keep theirs).
  app.addContentTypeParser('multipart/form-data', {parseAs: 'string', bodyLimit: 4096}, (_request, _body, done) => done(null, {}))

  app.get<{Params: UnsubscribeParams}>('/notifications/unsubscribe/:userId/:what/:token', limit, async (request, reply) => {
    const what = await unsubscribeTarget(request.params)
    if (what === undefined) return deadLink(request, reply)
    return sendPage(reply, 200, unsubscribePage(pageContext(request, reply), {what, action: request.url.split('?')[0]!}))
  })

  // The one click: from the page above, or straight from a mail client (body List-Unsubscribe=One-Click).
  // No CSRF token: the link's own token is the proof, and all it can do is stop mail.
  app.post<{Params: UnsubscribeParams}>('/notifications/unsubscribe/:userId/:what/:token', {config: {csrf: false, rateLimit: {max: 30, timeWindow: 60_000}}}, async (request, reply) => {
    const {userId, what, token} = request.params
    if (!ID.test(userId) || !isUnsubscribable(what) || !(await settings.unsubscribe(userId, token, what))) return deadLink(request, reply)
    log.info({what}, 'notification mails stopped by an unsubscribe link')
    return sendPage(reply, 200, unsubscribedPage(pageContext(request, reply), {what}))
  })
}
