/**
 * Finding channels: /browse (the categories, with how many channels and how many live in each),
 * /browse/<category> (its channels, live first) and /search?q= (channels whose name or title
 * holds the words typed, any case). The same for every visitor: anonymous ones get the
 * micro-cache on /browse and its categories.
 */
import type {FastifyInstance, FastifyReply} from 'fastify'
import type {Db} from 'mongodb'

import {CHANNEL_CATEGORIES, isChannelCategory, type ChannelCategory} from '../contract/index.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {categoryLink, channelRow, escapeHtml, notFoundPage, page, type PageContext, type PageContextOf} from '../web/html.js'
import {Channels, type ChannelCard} from './channels.js'
import {channelImageUrl} from './images.js'
import type {LiveThumbnails} from './live-thumbnails.js'
import type {LiveStates} from './stream-state.js'

/** The longest search taken: a name is up to 63 characters, a title 140. */
export const SEARCH_MAX_LENGTH = 100

const sendHtml = (reply: FastifyReply, status: number, body: string): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(body)

/** The live channels by name, each with its thumbnail's URL once there is one. */
type LiveNow = ReadonlyMap<string, string | undefined>

/** Live channels first (each group by name), as rows; a live one shows its thumbnail. */
function rows(cards: readonly ChannelCard[], live: LiveNow, showCategory: boolean): string {
  const sorted = [...cards].sort((a, b) => Number(live.has(b.name)) - Number(live.has(a.name)) || a.name.localeCompare(b.name))
  return `<ul class="channels">${sorted
    .map((c) =>
      channelRow({
        channel: c.name,
        href: `/c/${encodeURIComponent(c.name)}`,
        avatarUrl: c.images?.avatar === undefined ? undefined : channelImageUrl(c.name, c.images.avatar),
        title: c.title,
        category: showCategory ? categoryLink(c.category) : undefined,
        live: live.has(c.name),
        ...(live.has(c.name) ? {picture: {url: live.get(c.name)}} : {}),
      }),
    )
    .join('')}</ul>`
}

function browsePage(context: PageContext, counts: ReadonlyMap<ChannelCategory, {channels: number; live: number}>): string {
  const items = (Object.keys(CHANNEL_CATEGORIES) as ChannelCategory[]).map((slug) => {
    const count = counts.get(slug) ?? {channels: 0, live: 0}
    const live = count.live === 0 ? '' : ` · <span class="live-count">${count.live} live</span>`
    return `<li><a href="/browse/${slug}">${escapeHtml(CHANNEL_CATEGORIES[slug])}</a><span class="muted">${count.channels} ${count.channels === 1 ? 'channel' : 'channels'}${live}</span></li>`
  })
  return page(context, {title: 'Browse', width: 'wide', body: `<h1>Browse</h1>\n<ul class="categories">${items.join('')}</ul>`})
}

function categoryPage(context: PageContext, category: ChannelCategory, cards: readonly ChannelCard[], live: LiveNow): string {
  const label = CHANNEL_CATEGORIES[category]
  const list = cards.length === 0 ? '<p>No channel is in this category yet.</p>' : rows(cards, live, false)
  return page(context, {title: label, width: 'wide', body: `<p><a href="/browse">All categories</a></p>\n<h1>${escapeHtml(label)}</h1>\n${list}`})
}

function searchPage(context: PageContext, query: string, cards: readonly ChannelCard[] | undefined, live: LiveNow): string {
  const form = `<form class="search" method="get" action="/search" role="search"><label>Channel name or title<input type="search" name="q" value="${escapeHtml(query)}" maxlength="${SEARCH_MAX_LENGTH}"></label><button class="primary" type="submit">Search</button></form>`
  const results =
    cards === undefined ? '' : cards.length === 0 ? `<p>No channel matches “${escapeHtml(query)}”.</p>` : `<h2>Channels matching “${escapeHtml(query)}”</h2>\n${rows(cards, live, true)}`
  return page(context, {title: query === '' ? 'Search' : `Search: ${query}`, width: 'wide', body: `<h1>Search channels</h1>\n${form}\n${results}`})
}

export async function browseRoutes(
  app: FastifyInstance,
  options: {db: Db; liveStates: LiveStates; pageContext: PageContextOf; /** Live channels' thumbnails (rows show placeholders without). */ thumbnails?: LiveThumbnails},
): Promise<void> {
  const {liveStates, pageContext, thumbnails} = options
  const channels = new Channels(options.db)
  // The category counts are one aggregation over every channel: kept a few seconds.
  const counted = new TtlCache<'counts', Map<ChannelCategory, number>>(5000, 1)
  const liveNow = async (): Promise<LiveNow> => {
    const states = liveStates.all()
    const urls = (await thumbnails?.urls(states)) ?? new Map<string, string>()
    return new Map(states.map((s) => [s.channel, urls.get(s.channel)]))
  }

  app.get('/browse', {config: {microcache: true}}, async (request, reply) => {
    const [counts, live] = [await counted.get('counts', () => channels.categoryCounts()), liveStates.all()]
    const liveCards = await channels.cards(live.map((s) => s.channel))
    const perCategory = new Map<ChannelCategory, {channels: number; live: number}>()
    for (const [slug, n] of counts) perCategory.set(slug, {channels: n, live: 0})
    for (const card of liveCards.values()) {
      const entry = card.category === undefined ? undefined : perCategory.get(card.category)
      if (entry !== undefined) entry.live += 1
    }
    return sendHtml(reply, 200, browsePage(pageContext(request, reply), perCategory))
  })

  app.get<{Params: {category: string}}>('/browse/:category', {config: {microcache: true}}, async (request, reply) => {
    const {category} = request.params
    if (!isChannelCategory(category)) return sendHtml(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such category.'}))
    return sendHtml(reply, 200, categoryPage(pageContext(request, reply), category, await channels.inCategory(category), await liveNow()))
  })

  app.get<{Querystring: {q?: string | string[]}}>('/search', async (request, reply) => {
    const asked = request.query.q
    const query = (typeof asked === 'string' ? asked : '').trim().slice(0, SEARCH_MAX_LENGTH)
    const cards = query === '' ? undefined : await channels.search(query)
    return sendHtml(reply, 200, searchPage(pageContext(request, reply), query, cards, await liveNow()))
  })
}
