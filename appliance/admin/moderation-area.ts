/**
 * The admin area's moderation, for admins and site moderators: reports from viewers (dismiss,
 * disable the channel, end its broadcast) and channels (find, disable with a reason, enable, end
 * a broadcast now). Every action is written to the audit log with who did it.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import {ObjectId, type Db} from 'mongodb'

import type {Viewer} from '../accounts/users.js'
import {Channels} from '../channels/channels.js'
import {StreamStates, type LiveStates} from '../channels/stream-state.js'
import type {Notifier} from '../community/chat-notifications.js'
import {removePost, type PostRemovalDeps} from '../community/post-removal.js'
import {PostComments} from '../community/post-reactions.js'
import {Posts} from '../community/posts.js'
import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {errorPage, formText as text, notFoundPage, sendPage, type PageContextOf} from '../web/html.js'
import {AuditLog} from './audit.js'
import {DISABLE_REASON_MAX, disableChannel, enableChannel, findChannels} from './channel-moderation.js'
import {staffOnly, takeNotice} from './guard.js'
import {channelsPage, reportsPage} from './moderation-pages.js'
import {Reports} from './reports.js'

export interface ModerationAreaOptions {
  db: Db
  redis: Redis
  streamKeySecret: string
  liveStates: LiveStates
  pageContext: PageContextOf
  log: Logger
  /** Tells a channel's owner it was disabled (community/notifications.ts). */
  notify?: Notifier
  /** What removing a reported post takes with it (its pictures, its place in timelines). */
  posts: Omit<PostRemovalDeps, 'db' | 'log'>
}

/** Where an action's form may send the moderator back to: a page of the admin area, never elsewhere. */
const BACK_PATTERN = /^\/admin(?:\/(?:reports|channels))?(?:\?q=[\w%.-]*)?$/

type ChannelRequest = FastifyRequest<{Params: {channel: string}; Body: Record<string, unknown>}>

export async function moderationArea(app: FastifyInstance, options: ModerationAreaOptions): Promise<void> {
  const {db, redis, liveStates, pageContext, log} = options
  const deps = {db, redis, streamKeySecret: options.streamKeySecret}
  const reports = new Reports(db)
  const states = new StreamStates(redis)
  const audit = new AuditLog(db)
  const staffOf = staffOnly(pageContext, 'moderation')
  const liveNames = (): Set<string> => new Set(liveStates.all().map((s) => s.channel))

  const record = (by: Viewer, action: string, target: string, details?: Record<string, string | number | boolean>): Promise<void> =>
    audit.record({actor: by.username, actorId: by.id, action, target, ...(details === undefined ? {} : {details})})

  /** Back to the page the form was on, which says once what was done. */
  const done = (request: ChannelRequest, reply: FastifyReply, notice: string): FastifyReply => {
    const back = text(request.body?.back)
    request.session.adminNotice = notice
    return reply.redirect(BACK_PATTERN.test(back) ? back : '/admin/channels', 303)
  }

  /** The moderator and the channel a channel action is on, or undefined once answered. */
  const channelAction = async (request: ChannelRequest, reply: FastifyReply): Promise<{by: Viewer; channel: string} | undefined> => {
    const by = staffOf(request, reply)
    if (by === undefined) return undefined
    const {channel} = request.params
    if (!CHANNEL_PATTERN.test(channel) || (await db.collection('channels').findOne({name: channel}, {projection: {_id: 1}})) === null) {
      void sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no channel by that name.'}))
      return undefined
    }
    return {by, channel}
  }

  app.get('/admin/reports', async (request, reply) => {
    if (staffOf(request, reply) === undefined) return reply
    const [open, closed] = await Promise.all([reports.open(), reports.closed()])
    const notice = takeNotice(request)
    return sendPage(reply, 200, reportsPage(pageContext(request, reply, {form: true}), {open, closed, live: liveNames(), ...(notice === undefined ? {} : {notice})}))
  })

  app.post<{Params: {id: string}}>('/admin/reports/:id/dismiss', async (request, reply) => {
    const by = staffOf(request, reply)
    if (by === undefined) return reply
    const report = await reports.dismiss(request.params.id, by.username)
    if (report !== null) await record(by, 'report.dismiss', report.channel, {reporter: report.reporter, reason: report.reason})
    request.session.adminNotice = report === null ? 'That report was closed already.' : `The report on ${report.channel} is dismissed.`
    return reply.redirect('/admin/reports', 303)
  })

  // A reported post or comment removed: the thing itself, and every open report of it.
  app.post<{Params: {id: string}}>('/admin/reports/:id/remove', async (request, reply) => {
    const by = staffOf(request, reply)
    if (by === undefined) return reply
    const report = await reports.openById(request.params.id)
    const target = report?.target
    if (report === null || target === undefined) {
      request.session.adminNotice = 'That report was closed already.'
      return reply.redirect('/admin/reports', 303)
    }
    const posts = new Posts(db)
    const id = /^[0-9a-f]{24}$/.test(target.id) ? new ObjectId(target.id) : undefined
    let removed = false
    if (id !== undefined && target.kind === 'post') {
      const post = await posts.byId(target.id)
      if (post !== null) {
        await removePost({db, log, ...options.posts}, post)
        removed = true
      }
    } else if (id !== undefined) {
      const comments = new PostComments(db, posts)
      const comment = await comments.collection.findOne({_id: id})
      removed = comment !== null && (await comments.remove(comment))
    }
    const closed = await reports.closeTarget(target, by.username)
    await record(by, `report.remove-${target.kind}`, report.channel, {reporter: report.reporter, reason: report.reason, id: target.id, removed, reportsClosed: closed})
    log.info({channel: report.channel, kind: target.kind, id: target.id, removed, by: by.username}, 'reported content removed')
    request.session.adminNotice = `${removed ? `The ${target.kind} on ${report.channel} is removed` : `The ${target.kind} on ${report.channel} was gone already`}; ${closed === 1 ? 'its report is' : `its ${closed} reports are`} closed.`
    return reply.redirect('/admin/reports', 303)
  })

  app.get<{Querystring: {q?: string}}>('/admin/channels', async (request, reply) => {
    if (staffOf(request, reply) === undefined) return reply
    const query = text(request.query.q).trim().slice(0, 63)
    const live = liveNames()
    const channels = await findChannels(db, query, [...live])
    const notice = takeNotice(request)
    return sendPage(reply, 200, channelsPage(pageContext(request, reply, {form: true}), {query, channels, live, ...(notice === undefined ? {} : {notice})}))
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/admin/channels/:channel/disable', async (request, reply) => {
    const found = await channelAction(request, reply)
    if (found === undefined) return reply
    const {by, channel} = found
    const reason = text(request.body?.reason).trim()
    if (reason === '' || reason.length > DISABLE_REASON_MAX) {
      return sendPage(reply, 400, errorPage(pageContext(request, reply), {title: 'Say why', message: `Give the reason its owner will read (1 to ${DISABLE_REASON_MAX} characters).`, back: '/admin/channels'}))
    }
    const result = await disableChannel(deps, channel, by.username, reason)
    if (!result.disabled) return done(request, reply, `${channel} was disabled already.`)
    await record(by, 'channel.disable', channel, {reason, broadcastEnded: result.broadcastEnded, reportsClosed: result.reportsClosed})
    log.info({by: by.username, channel, ...result}, 'channel disabled')
    const owner = (await new Channels(db).byName(channel))?.ownerId
    if (owner !== undefined && options.notify !== undefined) {
      const notified = options.notify({kind: 'moderation', key: `moderation:channel-disabled:${channel}:${Date.now()}`, userIds: [owner], channel, text: `Your channel ${channel} was disabled by the site's moderators: ${reason}`, url: '/dashboard'})
      await notified.catch((error: unknown) => log.warn({channel, err: (error as Error).message}, 'owner not notified of the disable'))
    }
    return done(request, reply, `${channel} is disabled${result.broadcastEnded ? ': its broadcast ends within seconds' : ''}.`)
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/admin/channels/:channel/enable', async (request, reply) => {
    const found = await channelAction(request, reply)
    if (found === undefined) return reply
    const {by, channel} = found
    if (!(await enableChannel(deps, channel))) return done(request, reply, `${channel} was not disabled.`)
    await record(by, 'channel.enable', channel)
    log.info({by: by.username, channel}, 'channel enabled')
    return done(request, reply, `${channel} is enabled again: it can go live.`)
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/admin/channels/:channel/end', async (request, reply) => {
    const found = await channelAction(request, reply)
    if (found === undefined) return reply
    const {by, channel} = found
    const live = await states.get(channel)
    if (live !== undefined) {
      await states.requestEnd(channel, live.streamId)
      await record(by, 'channel.end', channel, {streamId: live.streamId})
    }
    return done(request, reply, live === undefined ? `${channel} was not live.` : `The broadcast of ${channel} ends within seconds.`)
  })
}
