/** The notification pages: the list, the mail settings per kind, and the unsubscribe confirmation. */
import {csrfField, escapeHtml, page, type PageContext} from '../web/html.js'
import {DEFAULT_DELIVERY, KIND_LABELS, notificationKinds, type DeliveryChoice, type NotificationDoc, type NotificationKind, type Unsubscribable} from './notifications.js'

const KIND_SHORT: Record<NotificationKind, string> = {live: 'Went live', schedule: 'Starting soon', follower: 'New follower', mention: 'Mention', reply: 'Reply', moderation: 'Moderation', call: 'Call'}

const CHOICE_LABELS: Record<DeliveryChoice, string> = {site: 'In the site only', email: 'Also by e-mail, at once', digest: 'In a daily digest mail'}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date: short enough for a phone's line. */
export function ago(at: Date, now = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000))
  if (seconds < 60) return 'just now'
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`
  const days = Math.floor(seconds / 86_400)
  return days < 14 ? `${days} day${days === 1 ? '' : 's'} ago` : at.toISOString().slice(0, 10)
}

export function notificationsPage(context: PageContext, options: {items: NotificationDoc[]; unread: number; next?: string; first: boolean; notice?: string}): string {
  const items = options.items
    .map((n) => {
      const unread = n.readAt === undefined
      return `<li${unread ? ' class="unread"' : ''}><a href="/notifications/${n._id.toHexString()}"><span class="n-text">${escapeHtml(n.text)}</span><span class="n-meta">${unread ? '<span class="badge">Unread</span>' : ''}<span>${escapeHtml(KIND_SHORT[n.kind])}</span><time datetime="${n.at.toISOString()}" title="${n.at.toISOString().slice(0, 16).replace('T', ' ')} UTC">${ago(n.at)}</time></span></a></li>`
    })
    .join('\n')
  const list = options.items.length === 0 ? `<p>${options.first ? 'Nothing yet. When a channel you follow goes live, or someone follows you or mentions you, it shows here.' : 'No older notifications.'}</p>` : `<ul class="notifications">\n${items}\n</ul>`
  const markAll =
    options.unread > 0
      ? `<form method="post" action="/notifications/read-all">${csrfField(context.csrfToken)}<button class="secondary" type="submit">Mark all as read</button></form>`
      : ''
  return page(context, {
    title: 'Notifications',
    width: 'wide',
    body: `<h1>Notifications</h1>
${options.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(options.notice)}</p>`}
<div class="page-actions"><span>${options.unread === 0 ? 'All read.' : `${options.unread > 99 ? '99+' : options.unread} unread.`}</span>${markAll}<a href="/account/notifications">E-mail settings</a></div>
${list}
${options.next === undefined ? '' : `<nav class="pager" aria-label="More notifications"><a href="/notifications?before=${options.next}">Older notifications</a></nav>`}
${options.first ? '' : '<p><a href="/notifications">Back to the newest</a></p>'}`,
  })
}

export function notificationSettingsPage(context: PageContext, options: {delivery: Record<NotificationKind, DeliveryChoice>; siteMails: boolean; emailVerified: boolean; notice?: string}): string {
  const mailNote = !options.siteMails
    ? '<p class="notice">This site sends no mail: notifications show in the site only.</p>'
    : !options.emailVerified
      ? '<p class="notice">Mail goes only to a confirmed address: <a href="/account">confirm yours</a> first.</p>'
      : ''
  const fieldsets = notificationKinds
    .map((kind) => {
      const choices = (['site', 'email', 'digest'] as const)
        .map((choice) => {
          const id = `delivery-${kind}-${choice}`
          const checked = options.delivery[kind] === choice ? ' checked' : ''
          return `<label class="choice" for="${id}"><input type="radio" id="${id}" name="${kind}" value="${choice}"${checked}>${CHOICE_LABELS[choice]}${choice === DEFAULT_DELIVERY[kind] ? ' <span class="hint">(default)</span>' : ''}</label>`
        })
        .join('')
      return `<fieldset><legend>${escapeHtml(KIND_LABELS[kind])}</legend>${choices}</fieldset>`
    })
    .join('\n')
  return page(context, {
    title: 'Notification settings',
    body: `<h1>Notification settings</h1>
${options.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(options.notice)}</p>`}
<p>Every notification shows in the site (the bell, and <a href="/notifications">your notifications</a>). Choose which also reach you by e-mail. Every mail has a link that stops that kind with one click.</p>
${mailNote}
<form class="stack" method="post" action="/account/notifications">
${csrfField(context.csrfToken)}
${fieldsets}
<button class="primary" type="submit">Save</button>
</form>`,
  })
}

const whatLabel = (what: Unsubscribable): string => (what === 'digest' ? 'the daily digest' : `"${KIND_LABELS[what]}"`)

/** Asked before: a link scanner that follows the mail's link must not unsubscribe anyone. */
export function unsubscribePage(context: PageContext, options: {what: Unsubscribable; action: string}): string {
  return page(context, {
    title: 'Stop these mails',
    body: `<h1>Stop these mails</h1>
<p>No more mails for ${escapeHtml(whatLabel(options.what))}? They still show in the site.</p>
<form method="post" action="${escapeHtml(options.action)}"><button class="primary" type="submit">Stop these mails</button></form>`,
  })
}

export function unsubscribedPage(context: PageContext, options: {what: Unsubscribable}): string {
  return page(context, {
    title: 'Mails stopped',
    body: `<h1>Mails stopped</h1>
<p class="notice ok" role="status">You will get no more mails for ${escapeHtml(whatLabel(options.what))}.</p>
<p>Changed your mind? <a href="/account/notifications">Notification settings</a> (after logging in).</p>`,
  })
}
