/**
 * Following channels: the Follow / Unfollow / notify forms on a channel's page post here, and
 * /following lists what the viewer follows, live channels first. Forms go back to where they were
 * sent from (a path on this site), the channel's page otherwise.
 */
import type {FastifyInstance, FastifyRequest} from 'fastify'
import type {Db} from 'mongodb'

import {safeNext} from '../accounts/routes.js'
import {Channels} from '../channels/channels.js'
import {channelImageUrl} from '../channels/images.js'
import type {LiveStates} from '../channels/stream-state.js'
import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {channelRow, escapeHtml, notFoundPage, page, sendPage, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'
import type {Notifier} from './chat-notifications.js'
import {Follows, type FollowDoc} from './follows.js'

export interface FollowRoutesOptions {
  db: Db
  /** Forgets a channel's count when someone follows it here. */
  boxes: FollowBoxes
  liveStates: LiveStates
  pageContext: PageContextOf
  log: Logger
  /** Tells a channel's owner of a new follower (community/notifications.ts). */
  notify?: Notifier
}

type Params = {channel: string}
type Body = Record<string, unknown>

/** The channel's follow box on its page: the count, and what the viewer can do about it. */
export function followBox(context: PageContext, channel: string, state: {count: number; follow?: Pick<FollowDoc, 'notify'> | null; owns?: boolean}): string {
  const count = `<span id="followers" class="followers">${state.count} ${state.count === 1 ? 'follower' : 'followers'}</span>`
  const at = `/c/${encodeURIComponent(channel)}`
  const token = context.csrfToken === undefined ? '' : `<input type="hidden" name="_csrf" value="${escapeHtml(context.csrfToken)}">`
  // Its owner sees how many follow it, and nothing to press.
  if (state.owns === true) return `<div class="follow-box">${count}</div>`
  if (context.viewer === undefined) return `<div class="follow-box">${count}<a class="button follow" href="/login?next=${encodeURIComponent(at)}">Follow</a></div>`
  if (state.follow === undefined || state.follow === null) {
    return `<div class="follow-box">${count}<form method="post" action="${at}/follow">${token}<button class="primary follow" type="submit">Follow</button></form></div>`
  }
  const notify = state.follow.notify
  return `<div class="follow-box">${count}<form method="post" action="${at}/notify">${token}<input type="hidden" name="notify" value="${notify ? 'off' : 'on'}"><button class="secondary" type="submit" aria-pressed="${notify}">${notify ? 'Live alerts on' : 'Live alerts off'}</button></form><form method="post" action="${at}/unfollow">${token}<button class="secondary" type="submit">Unfollow</button></form></div>`
}

/**
 * The follow box of a channel for the viewer of a page: the count (kept 2 s per channel: a popular
 * page costs one count per interval; the instance where someone follows forgets it at once) and
 * their follow.
 */
export class FollowBoxes {
  private readonly follows: Follows
  private readonly counts = new TtlCache<string, number>(2000)

  constructor(db: Db) {
    this.follows = new Follows(db)
  }

  async render(context: PageContext, channel: string, viewer: {id?: string; owns: boolean}): Promise<string> {
    const [count, follow] = await Promise.all([this.counts.get(channel, () => this.follows.count(channel)), viewer.id === undefined || viewer.owns ? undefined : this.follows.get(viewer.id, channel)])
    return followBox(context, channel, {count, owns: viewer.owns, ...(follow === undefined ? {} : {follow})})
  }

  forget(channel: string): void {
    this.counts.forget(channel)
  }
}

function followingPage(context: PageContext, rows: readonly {channel: string; title?: string; avatar?: string; live: boolean; notify: boolean}[]): string {
  const list =
    rows.length === 0
      ? '<p>You follow no channel yet. <a href="/browse">Browse the channels</a> and press Follow on the ones you like.</p>'
      : `<ul class="channels">${rows
          .map((r) =>
            channelRow({
              channel: r.channel,
              href: `/c/${encodeURIComponent(r.channel)}`,
              avatarUrl: r.avatar,
              title: r.title,
              live: r.live,
              extra: `<span class="muted">${r.notify ? 'Live alerts on' : 'Live alerts off'}</span>`,
            }),
          )
          .join('')}</ul>`
  return page(context, {title: 'Following', width: 'wide', body: `<h1>Following</h1>\n${list}`})
}

export async function followRoutes(app: FastifyInstance, options: FollowRoutesOptions): Promise<void> {
  const {db, liveStates, pageContext, log} = options
  const follows = new Follows(db)
  const channels = new Channels(db)

  /** Where a follow form goes back to: the page it came from (on this site), else the channel's. */
  const back = (request: FastifyRequest<{Params: Params; Body: Body}>): string => {
    try {
      const referer = new URL(request.headers.referer ?? '')
      if (referer.host === request.host) return safeNext(referer.pathname) ?? `/c/${request.params.channel}`
    } catch {
      // No referer (or not a URL): the channel's page.
    }
    return `/c/${request.params.channel}`
  }

  const change = (path: string, act: (userId: string, channel: string, body: Body, username: string) => Promise<unknown>): void => {
    app.post<{Params: Params; Body: Body}>(`/c/:channel/${path}`, {config: {rateLimit: {max: 60, timeWindow: 60_000}}}, async (request, reply) => {
      const viewer = viewerOrLogIn(request, reply)
      if (viewer === undefined) return reply
      const {channel} = request.params
      if (!CHANNEL_PATTERN.test(channel) || (await channels.byName(channel)) === null) return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no channel by that name.'}))
      await act(viewer.id, channel, request.body ?? {}, viewer.username)
      options.boxes.forget(channel)
      log.debug({channel, user: viewer.username, action: path}, 'follow changed')
      return reply.redirect(back(request), 303)
    })
  }
  change('follow', async (userId, channel, _body, username) => {
    if (!(await follows.follow(userId, channel)) || options.notify === undefined) return
    // The owner hears of a follower once (following again after unfollowing is the same notification).
    const owner = (await channels.byName(channel))?.ownerId
    if (owner === undefined || owner === userId) return
    await options.notify({kind: 'follower', key: `follower:${channel}:${userId}`, userIds: [owner], actor: username, channel, text: `${username} now follows ${channel}`, url: `/c/${channel}`}).catch((error: unknown) => log.warn({channel, err: (error as Error).message}, 'follower not notified'))
  })
  change('unfollow', (userId, channel) => follows.unfollow(userId, channel))
  change('notify', (userId, channel, body) => follows.setNotify(userId, channel, body.notify === 'on'))

  app.get('/following', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const mine = await follows.following(viewer.id)
    const cards = await channels.cards(mine.map((f) => f.channel))
    const live = new Set(liveStates.all().map((s) => s.channel))
    const rows = mine
      .filter((f) => cards.has(f.channel))
      .map((f) => {
        const card = cards.get(f.channel)!
        return {
          channel: f.channel,
          ...(card.title === undefined ? {} : {title: card.title}),
          ...(card.images?.avatar === undefined ? {} : {avatar: channelImageUrl(f.channel, card.images.avatar)}),
          live: live.has(f.channel),
          notify: f.notify,
        }
      })
      // Live first; then the newest follows first, as they came.
      .sort((a, b) => Number(b.live) - Number(a.live))
    return sendPage(reply, 200, followingPage(pageContext(request, reply), rows))
  })
}
