/**
 * HTML the web serves: escaping, the page shell every page shares (header with who is logged in,
 * the stylesheet, scripts by URL only), the front page and the 404 page.
 */
import type {FastifyReply, FastifyRequest} from 'fastify'

import {CHANNEL_CATEGORIES, type ChannelCategory} from '../contract/index.js'
import {siteCss} from './assets.js'

/** Text into HTML (element content or a quoted attribute). */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)

/** 5025 → "1:23:45"; 75 → "1:15". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

/** Who looks at a page, and the CSRF token their forms carry. */
export interface PageContext {
  siteName: string
  viewer?: {username: string; role: string}
  /** The session's CSRF token: whenever someone is logged in (the log-out button is a form), and on pages with a form. */
  csrfToken?: string
  /** A logged-in viewer's notification bell: the unread count (when counted) and the scripts that keep it live. */
  bell?: {unread?: number; scripts: readonly string[]}
}

/** Per form field, the message to show beside it. */
export type FieldErrors = Partial<Record<string, string>>

/** A form field's value as text (a missing or non-text field is empty). */
export const formText = (value: unknown): string => (typeof value === 'string' ? value : '')
/** The values of a form field that may come more than once (checkboxes of one name). */
export const formList = (value: unknown): string[] => (Array.isArray(value) ? value.map(formText) : value === undefined ? [] : [formText(value)])

/** Sends a page nobody may cache (it carries a person's name or a form's token). */
export const sendPage = (reply: FastifyReply, status: number, body: string): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body)

/**
 * The logged-in account, or undefined after redirecting to the log-in page (which comes back
 * here after): what every page for logged-in people starts with.
 */
export function viewerOrLogIn<V>(request: FastifyRequest & {viewer?: V}, reply: FastifyReply): V | undefined {
  if (request.viewer !== undefined) return request.viewer
  void reply.redirect(`/login?next=${encodeURIComponent(request.url.split('?')[0]!)}`, 303)
  return undefined
}

/** What a route asks for the page context of its request (the web component knows how). */
export type PageContextOf = (request: FastifyRequest, reply: FastifyReply, options?: {form?: boolean}) => PageContext

export interface PageOptions {
  title: string
  body: string
  /** narrow: forms; wide: lists and dashboards; player: the watch page (no padding); chat: the pop-out chat (the whole window, no site header). */
  width?: 'narrow' | 'wide' | 'player' | 'chat'
  /** Script URLs (assets), loaded deferred; no inline script is ever served. */
  scripts?: readonly string[]
  /** Attributes of <body> as name → value (escaped here), for the scripts to read. */
  data?: Record<string, string | undefined>
}

export const csrfField = (token: string | undefined): string => (token === undefined ? '' : `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`)

function header(context: PageContext): string {
  const viewer = context.viewer
  const links =
    viewer === undefined
      ? '<a href="/login">Log in</a><a href="/signup">Sign up</a>'
      : `<span class="muted">${escapeHtml(viewer.username)}</span><a href="/home">Home</a><a href="/following">Following</a><a href="/calls">Calls</a><a href="/dashboard">Dashboard</a>${viewer.role === 'admin' ? '<a href="/admin">Admin</a>' : viewer.role === 'moderator' ? '<a href="/admin/reports">Moderation</a>' : ''}<a href="/account">Account</a>` +
        `<form method="post" action="/logout">${csrfField(context.csrfToken)}<button class="linklike" type="submit">Log out</button></form>`
  const search = `<form class="site-search" method="get" action="/search" role="search"><label for="site-search-q" class="skip">Search channels</label><input id="site-search-q" type="search" name="q" placeholder="Search channels" maxlength="100"><button type="submit">Search</button></form>`
  return `<header class="site-header"><a class="brand" href="/">${escapeHtml(context.siteName)}</a><a href="/browse">Browse</a><a href="/upcoming">Upcoming</a>${search}<nav aria-label="Account">${viewer === undefined ? '' : bell(context.bell)}${links}</nav></header>`
}

/**
 * The bell: a link to the notifications, its count shown and in its label (the script keeps both
 * live; a polite live region, not a role=status, says when one comes: a page's notice stays its status).
 */
function bell(state: PageContext['bell']): string {
  // Not counted (a request that is not a browser's page load): no number until the script has one.
  const unread = state?.unread
  const shown = unread === undefined ? '' : unread > 99 ? '99+' : String(unread)
  const label = unread === undefined ? 'Notifications' : unread === 0 ? 'Notifications, none unread' : `Notifications, ${shown} unread`
  return `<a id="bell" class="bell" href="/notifications" aria-label="${label}" data-unread="${unread ?? ''}"><svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"/></svg><span class="bell-count"${unread === undefined || unread === 0 ? ' hidden' : ''}>${unread === 0 ? '' : shown}</span></a><span id="bell-status" class="skip" aria-live="polite" aria-atomic="true"></span>`
}

/** A channel's avatar, or its initial on a circle whose colour comes from its name (the same on every page). */
export function avatar(channel: string, url: string | undefined, size: 'small' | 'large' = 'small'): string {
  if (url !== undefined) return `<img class="avatar ${size}" src="${escapeHtml(url)}" alt="" width="256" height="256">`
  const hue = [...channel].reduce((sum, c) => sum + c.codePointAt(0)!, 0) % 8
  return `<span class="avatar ${size} hue-${hue}" aria-hidden="true">${escapeHtml([...channel][0]?.toUpperCase() ?? '?')}</span>`
}

/** One channel in a list (front page, browse, search): avatar, name, and what else is known of it. */
export interface ChannelRow {
  channel: string
  href: string
  avatarUrl?: string
  title?: string
  /** The category's name and /browse address. */
  category?: {label: string; href: string}
  live?: boolean
  /** Already HTML: a date and duration, say. */
  extra?: string
  /** A 16:9 picture (a live thumbnail, a VOD's poster): its URL, or none yet (a placeholder stands in). */
  picture?: {url?: string | undefined}
}

/** A row's picture, or the placeholder that keeps its place until there is one. Decorative: the row's link names it. */
export function rowPicture(picture: ChannelRow['picture']): string {
  if (picture === undefined) return ''
  if (picture.url === undefined) return '<span class="thumb placeholder" aria-hidden="true"></span>'
  return `<img class="thumb" src="${escapeHtml(picture.url)}" alt="" width="640" height="360" loading="lazy" decoding="async">`
}

export function channelRow(row: ChannelRow): string {
  const title = row.title === undefined ? '' : `<span class="row-title">${escapeHtml(row.title)}</span>`
  const live = row.live === true ? '<span class="live-dot">Live</span>' : ''
  const category = row.category === undefined ? '' : `<a class="category" href="${escapeHtml(row.category.href)}">${escapeHtml(row.category.label)}</a>`
  const meta = live + category + (row.extra ?? '')
  // The name leads (what a screen reader says first); the stylesheet puts the avatar before it.
  return `<li><a href="${escapeHtml(row.href)}">${escapeHtml(row.channel)}</a>${title}${meta === '' ? '' : `<span class="row-meta">${meta}</span>`}${avatar(row.channel, row.avatarUrl)}${rowPicture(row.picture)}</li>`
}

export function page(context: PageContext, options: PageOptions): string {
  const data = Object.entries(options.data ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => ` data-${name}="${escapeHtml(value)}"`)
    .join('')
  // The bell's scripts first (the Socket.IO client among them, once even where the page loads it too).
  const scripts = [...new Set([...(context.viewer === undefined ? [] : (context.bell?.scripts ?? [])), ...(options.scripts ?? [])])].map((url) => `<script src="${escapeHtml(url)}" defer></script>`).join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)} · ${escapeHtml(context.siteName)}</title>
<link rel="stylesheet" href="${siteCss.url}">
${scripts}
</head>
<body${data}>
${options.width === 'chat' ? '' : `<a class="skip" href="#content">Skip to content</a>
${header(context)}`}
<main id="content" class="${options.width ?? 'narrow'}">
${options.body}
</main>
</body>
</html>
`
}

/** The page for what is not there (answered with 404): it never echoes the path it was asked for. */
export function notFoundPage(context: PageContext, options: {what: string; title?: string}): string {
  const title = options.title ?? 'Not found'
  return page(context, {title, body: `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(options.what)}</p>\n<p><a href="/">Go to the front page</a></p>`})
}

/** A page for an error the visitor can act on (a refused form, too many attempts). */
export function errorPage(context: PageContext, options: {title: string; message: string; back?: string}): string {
  const back = options.back === undefined ? '<a href="/">Go to the front page</a>' : `<a href="${escapeHtml(options.back)}">Go back</a>`
  return page(context, {title: options.title, body: `<h1>${escapeHtml(options.title)}</h1>\n<p class="notice error" role="alert">${escapeHtml(options.message)}</p>\n<p>${back}</p>`})
}

/** A category's name and /browse address, for a row. */
export const categoryLink = (slug: ChannelCategory | undefined): ChannelRow['category'] => (slug === undefined ? undefined : {label: CHANNEL_CATEGORIES[slug], href: `/browse/${slug}`})

/** "12 viewers", for a list row; nothing when the count is not known. */
const viewerCount = (viewers: number | undefined): string | undefined =>
  viewers === undefined ? undefined : `<span class="viewers">${viewers} ${viewers === 1 ? 'viewer' : 'viewers'}</span>`

/** The front page: who is live now, then the latest past broadcasts. (How the platform's boxes are doing is the admin's: shing status.) */
export function homePage(
  context: PageContext,
  data: {
    live: readonly {channel: string; since: string; title?: string; category?: ChannelCategory; avatar?: string; viewers?: number; thumbnail?: string}[]
    recent: readonly {channel: string; page: string; startedAt: string; durationSeconds: number; title?: string; avatar?: string; poster?: string}[]
  },
): string {
  const live =
    data.live.length === 0
      ? '<p>Nobody is live right now. <a href="/browse">Browse the channels</a>.</p>'
      : `<ul class="channels live">${data.live.map((s) => channelRow({channel: s.channel, href: `/c/${encodeURIComponent(s.channel)}`, avatarUrl: s.avatar, title: s.title, category: categoryLink(s.category), live: true, extra: viewerCount(s.viewers), picture: {url: s.thumbnail}})).join('')}</ul>`
  const recent =
    data.recent.length === 0
      ? ''
      : `<h2>Recent broadcasts</h2>\n<ul class="channels recent">${data.recent
          .map((b) =>
            channelRow({
              channel: b.channel,
              href: b.page,
              avatarUrl: b.avatar,
              title: b.title,
              extra: `<span class="muted"><time datetime="${escapeHtml(b.startedAt)}">${escapeHtml(b.startedAt.slice(0, 10))}</time> · ${formatDuration(b.durationSeconds)}</span>`,
              picture: {url: b.poster},
            }),
          )
          .join('')}</ul>`
  return page(context, {title: 'Live now', width: 'wide', body: `<h1>${escapeHtml(context.siteName)}</h1>\n<h2>Live now</h2>\n${live}\n${recent}`})
}
