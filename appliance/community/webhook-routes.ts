/**
 * The streamer's Webhooks page (/dashboard/c/<channel>/webhooks): add an endpoint (its address
 * checked: see webhooks.ts), see its secret and latest deliveries, make a new secret, remove it.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import {ObjectId, type Db} from 'mongodb'

import {Channels} from '../channels/channels.js'
import {ownedChannelOf} from '../channels/owned-channel.js'
import type {Logger} from '../platform/logger.js'
import {formList, formText, notFoundPage, sendPage, type PageContextOf} from '../web/html.js'
import {webhooksDashboardPage, type WebhooksDashboard} from './webhook-pages.js'
import {checkWebhookUrl, WebhookAddressError, WebhookLimitError, webhookEvents, Webhooks, type WebhookEvent} from './webhooks.js'

export interface WebhookRoutesOptions {
  db: Db
  /** community.webhooks.allowPrivateAddresses */
  allowPrivateAddresses: boolean
  pageContext: PageContextOf
  log: Logger
}

type Params = {channel: string}
type HookParams = {channel: string; id: string}

const notices: Record<string, string> = {
  added: 'The webhook is added: its secret is below.',
  secret: 'A new secret is made: the old one no longer signs deliveries.',
  removed: 'The webhook is removed.',
}

export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const {db, pageContext, log} = options
  const webhooks = new Webhooks(db)
  const channels = new Channels(db)

  const ownedChannel = ownedChannelOf(channels, pageContext)

  const show = async (request: FastifyRequest, reply: FastifyReply, channel: string, extra: Partial<Pick<WebhooksDashboard, 'notice' | 'add'>> = {}, status = 200): Promise<FastifyReply> => {
    const list = await webhooks.ofChannel(channel)
    const deliveries = await webhooks.recent(list.map((w) => w._id.toHexString()))
    return sendPage(reply, status, webhooksDashboardPage(pageContext(request, reply, {form: true}), {channel, webhooks: list, deliveries, allowPrivateAddresses: options.allowPrivateAddresses, ...extra}))
  }

  app.get<{Params: Params; Querystring: {done?: string}}>('/dashboard/c/:channel/webhooks', async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const notice = request.query.done === undefined ? undefined : notices[request.query.done]
    return show(request, reply, channel, notice === undefined ? {} : {notice})
  })

  // Each add resolves a name: limited per address.
  app.post<{Params: Params; Body: Record<string, unknown>}>('/dashboard/c/:channel/webhooks', {config: {rateLimit: {max: 20, timeWindow: 60_000}}}, async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const raw = formText(request.body?.url)
    const events = formList(request.body?.events).filter((e): e is WebhookEvent => (webhookEvents as readonly string[]).includes(e))
    const refuse = (errors: Record<string, string>): Promise<FastifyReply> => show(request, reply, channel, {add: {url: raw, events, errors}}, 400)
    if (events.length === 0) return refuse({events: 'Choose at least one event.'})
    let added
    try {
      const url = await checkWebhookUrl(raw, options.allowPrivateAddresses)
      added = await webhooks.add(channel, url, events)
    } catch (error) {
      if (error instanceof WebhookAddressError || error instanceof WebhookLimitError) return refuse({url: error.message})
      throw error
    }
    log.info({channel, webhook: added._id.toHexString(), host: new URL(added.url).host, events, user: request.viewer?.username}, 'webhook added')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel)}/webhooks?done=added#webhook-${added._id.toHexString()}`, 303)
  })

  const change = (action: 'secret' | 'remove', act: (channel: string, id: ObjectId) => Promise<boolean>): void => {
    app.post<{Params: HookParams}>(`/dashboard/c/:channel/webhooks/:id/${action}`, {config: {rateLimit: {max: 30, timeWindow: 60_000}}}, async (request, reply) => {
      const channel = await ownedChannel(request, reply)
      if (channel === undefined) return reply
      const id = /^[a-f0-9]{24}$/.test(request.params.id) ? new ObjectId(request.params.id) : undefined
      if (id === undefined || !(await act(channel, id))) return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such webhook on your channel.'}))
      log.info({channel, webhook: request.params.id, action, user: request.viewer?.username}, action === 'secret' ? 'webhook secret made anew' : 'webhook removed')
      return reply.redirect(`/dashboard/c/${encodeURIComponent(channel)}/webhooks?done=${action === 'secret' ? 'secret' : 'removed'}${action === 'secret' ? `#webhook-${request.params.id}` : ''}`, 303)
    })
  }
  change('secret', (channel, id) => webhooks.regenerateSecret(channel, id))
  change('remove', (channel, id) => webhooks.remove(channel, id))
}
