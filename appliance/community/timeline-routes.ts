/**
 * /home: the logged-in viewer's home timeline — the posts of the channels they follow, newest
 * first, with an "Older posts" link that carries the cursor (so a page never repeats or skips a
 * post while new ones arrive; those show on the next fresh load).
 */
import type {FastifyInstance} from 'fastify'
import {ObjectId, type Db} from 'mongodb'
import type {Redis} from 'ioredis'

import {Channels} from '../channels/channels.js'
import type {Logger} from '../platform/logger.js'
import {escapeHtml, page, sendPage, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'
import {postCard} from './post-view.js'
import {localTimesJs} from './schedule-pages.js'
import {PostLikes} from './post-reactions.js'
import {decodePostCursor, encodePostCursor} from './posts.js'
import {Timelines, type TimelineSettings} from './timelines.js'

/** Posts on one page of the timeline. */
export const TIMELINE_PAGE = 20

export interface TimelineRoutesOptions {
  db: Db
  redis: Redis
  settings: TimelineSettings
  pageContext: PageContextOf
  log: Logger
}

interface TimelineView {
  cards: readonly string[]
  followsNothing: boolean
  /** The next page's address, when there may be older posts. */
  older?: string
  first: boolean
}

function timelinePage(context: PageContext, view: TimelineView): string {
  let list: string
  if (view.followsNothing) {
    list = '<div class="empty-state"><p>Your home timeline shows the posts of the channels you follow, newest first. You follow no channel yet.</p><p><a class="button primary" href="/browse">Find channels to follow</a></p></div>'
  } else if (view.cards.length === 0) {
    list = view.first
      ? '<div class="empty-state"><p>The channels you follow have not posted yet. Their posts show here as soon as they do.</p><p><a class="button secondary" href="/browse">Find more channels</a></p></div>'
      : '<p class="muted">No older posts.</p>'
  } else {
    list = view.cards.join('\n')
  }
  return page(context, {
    title: 'Home',
    scripts: [localTimesJs.url],
    width: 'wide',
    body: `<div class="timeline">
<div class="timeline-head"><h1>Home</h1><a href="/following">Channels you follow</a></div>
<h2 class="skip">Posts of the channels you follow</h2>
<div class="posts">${list}</div>
${view.older === undefined ? '' : `<p class="pager"><a class="button secondary" href="${escapeHtml(view.older)}" rel="next">Older posts</a></p>`}
${view.first ? '' : '<p><a href="/home">Newest posts</a></p>'}
</div>`,
  })
}

export async function timelineRoutes(app: FastifyInstance, options: TimelineRoutesOptions): Promise<void> {
  const {db, pageContext} = options
  const timelines = new Timelines(db, options.redis, options.settings, options.log)
  const likes = new PostLikes(db)
  const channels = new Channels(db)

  app.get<{Querystring: {before?: string}}>('/home', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    // A cursor that does not parse is the first page.
    const before = decodePostCursor(request.query.before)
    const timeline = await timelines.page(viewer.id, {...(before === undefined ? {} : {before}), limit: TIMELINE_PAGE})
    // Edit is offered where their post page offers it: to the channel's owner.
    const [liked, owned] = await Promise.all([
      likes.likedOf(viewer.id, timeline.posts.map((p) => p._id)),
      channels.collection.find({name: {$in: [...new Set(timeline.posts.map((p) => p.channel))]}, ownerId: viewer.id}, {projection: {name: 1}}).toArray(),
    ])
    const mine = new Set(owned.map((c) => c.name))
    const context = pageContext(request, reply)
    const cards = timeline.posts.map((post) => postCard(context, post, {liked: liked.has(post._id.toHexString()), canEdit: mine.has(post.channel)}))
    const next = timeline.next
    return sendPage(
      reply,
      200,
      timelinePage(context, {
        cards,
        followsNothing: timeline.followsNothing,
        first: before === undefined,
        ...(next === undefined ? {} : {older: `/home?before=${encodeURIComponent(encodePostCursor({createdAt: next.createdAt, _id: new ObjectId(next.id)}))}`}),
      }),
    )
  })
}
