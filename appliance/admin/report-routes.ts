/**
 * /c/<channel>/report: a logged-in viewer reports a channel (anonymous visitors log in first and
 * come back). CSRF-protected like every form, and 5 reports an hour per account, counted in Redis
 * so every web replica counts together.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Db} from 'mongodb'

import {Channels} from '../channels/channels.js'
import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {formText as text, notFoundPage, sendPage, viewerOrLogIn, type PageContextOf} from '../web/html.js'
import {reportFormPage, reportSentPage} from './moderation-pages.js'
import {isReportReason, REPORT_DETAILS_MAX, Reports} from './reports.js'

/** Enough to report a few channels and change one's mind; too few to flood the moderators. */
export const REPORT_LIMIT = {
  max: 5,
  timeWindow: '1 hour',
  // After the session is read (preHandler), so the count is the account's wherever it posts from.
  hook: 'preHandler',
  keyGenerator: (request: FastifyRequest) => (request.viewer === undefined ? `address:${request.ip}` : `user:${request.viewer.id}`),
} as const

export async function reportRoutes(app: FastifyInstance, options: {db: Db; pageContext: PageContextOf; log: Logger}): Promise<void> {
  const {pageContext, log} = options
  const channels = new Channels(options.db)
  const reports = new Reports(options.db)
  void reports.ensureIndexes().catch((error: Error) => log.warn({err: error.message}, 'report indexes not made yet'))

  /** The channel to report, or undefined once a 404 (or the way to log in) was sent. */
  const reportable = async (request: FastifyRequest<{Params: {channel: string}}>, reply: FastifyReply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return undefined
    const {channel} = request.params
    const doc = CHANNEL_PATTERN.test(channel) ? await channels.byName(channel) : null
    if (doc === null) {
      void sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no channel by that name.'}))
      return undefined
    }
    return {viewer, channel: doc.name}
  }

  app.get<{Params: {channel: string}}>('/c/:channel/report', async (request, reply) => {
    const found = await reportable(request, reply)
    if (found === undefined) return reply
    const mine = await reports.openOf(found.channel, found.viewer.id)
    return sendPage(
      reply,
      200,
      reportFormPage(pageContext(request, reply, {form: true}), {
        channel: found.channel,
        updating: mine !== null,
        ...(mine === null ? {} : {reason: mine.reason, ...(mine.details === undefined ? {} : {details: mine.details})}),
      }),
    )
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/c/:channel/report', {config: {rateLimit: REPORT_LIMIT}}, async (request, reply) => {
    const found = await reportable(request, reply)
    if (found === undefined) return reply
    const reason = text(request.body?.reason)
    const details = text(request.body?.details).trim()
    const refuse = (error: string) =>
      sendPage(reply, 400, reportFormPage(pageContext(request, reply, {form: true}), {channel: found.channel, details, error, updating: false, ...(isReportReason(reason) ? {reason} : {})}))
    if (!isReportReason(reason)) return refuse('Choose what is wrong with this channel.')
    if (details.length > REPORT_DETAILS_MAX) return refuse(`Keep the details to ${REPORT_DETAILS_MAX} characters.`)
    const outcome = await reports.file({channel: found.channel, reporterId: found.viewer.id, reporter: found.viewer.username, reason, ...(details === '' ? {} : {details})})
    log.info({channel: found.channel, reporter: found.viewer.username, reason, outcome}, 'channel reported')
    return sendPage(reply, 200, reportSentPage(pageContext(request, reply), {channel: found.channel, updated: outcome === 'updated'}))
  })
}
