/**
 * The pages of moderation: a viewer's report form, and in the admin area the reports (open, then
 * closed) and the channels (find, disable with a reason, enable, end a broadcast). Every value is
 * escaped; the reporter's words are shown as the text they typed.
 */
import type {ChannelDisabled} from '../channels/channels.js'
import {csrfField, escapeHtml, page, type PageContext} from '../web/html.js'
import {adminNav} from './area-pages.js'
import {DISABLE_REASON_MAX, type ModeratedChannel} from './channel-moderation.js'
import {REPORT_DETAILS_MAX, REPORT_REASONS, type ReportDoc, type ReportReason} from './reports.js'

const when = (at: Date): string => `<time datetime="${at.toISOString()}">${escapeHtml(at.toISOString().slice(0, 16).replace('T', ' '))}</time>`
const channelLink = (channel: string): string => `<a href="/c/${encodeURIComponent(channel)}">${escapeHtml(channel)}</a>`
const noticeOf = (notice: string | undefined): string => (notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(notice)}</p>`)

/** What a report of a post or comment is about: a link to it and the words reported. */
const reportTarget = (r: ReportDoc): string =>
  r.target === undefined ? '' : `<p class="report-target">${r.target.kind === 'post' ? 'A post' : 'A comment'}: <a href="${escapeHtml(r.target.url)}">${escapeHtml(r.target.excerpt)}</a></p>`

/** `target`: a post or comment of the channel is reported (its form posts to `target.action`). */
export function reportFormPage(context: PageContext, view: {channel: string; reason?: ReportReason; details?: string; error?: string; updating: boolean; target?: {what: string; action: string; back: string}}): string {
  const options = (Object.keys(REPORT_REASONS) as ReportReason[])
    .map((r) => `<label class="choice"><input type="radio" name="reason" value="${r}"${r === view.reason ? ' checked' : ''} required> ${escapeHtml(REPORT_REASONS[r])}</label>`)
    .join('\n')
  return page(context, {
    title: `Report ${view.target?.what ?? view.channel}`,
    body: `<h1>Report ${escapeHtml(view.target?.what ?? view.channel)}</h1>
<p>The site's moderators read every report. Tell them what is wrong with this ${view.target === undefined ? 'channel' : 'one'}; they do not tell its owner who reported it.</p>
${view.updating ? `<p class="notice" role="status">You reported ${escapeHtml(view.target?.what ?? 'this channel')} already: sending this form again changes your report.</p>` : ''}
${view.error === undefined ? '' : `<p class="notice error" role="alert">${escapeHtml(view.error)}</p>`}
<form class="stack" method="post" action="${escapeHtml(view.target?.action ?? `/c/${encodeURIComponent(view.channel)}/report`)}">
${csrfField(context.csrfToken)}
<fieldset><legend>What is wrong</legend>
${options}
</fieldset>
<label>Details <span class="hint">Optional: what happens, and when in the broadcast.</span><textarea name="details" rows="5" maxlength="${REPORT_DETAILS_MAX}">${escapeHtml(view.details ?? '')}</textarea></label>
<button class="primary" type="submit">Send the report</button>
</form>
<p><a href="${escapeHtml(view.target?.back ?? `/c/${encodeURIComponent(view.channel)}`)}">Back to ${escapeHtml(view.target === undefined ? view.channel : 'the post')}</a></p>`,
  })
}

export function reportSentPage(context: PageContext, view: {channel: string; updated: boolean}): string {
  return page(context, {
    title: 'Report sent',
    body: `<h1>Thank you</h1>
<p class="notice ok" role="status">${view.updated ? 'Your report is updated.' : 'Your report is sent.'} The site's moderators will look at ${escapeHtml(view.channel)}.</p>
<p><a href="/c/${encodeURIComponent(view.channel)}">Back to ${escapeHtml(view.channel)}</a></p>`,
  })
}

/** "Disable" with the reason its owner will read (disabling closes the channel's open reports). */
function disableForm(context: PageContext, channel: string, back: string, suggested = ''): string {
  return `<form method="post" action="/admin/channels/${encodeURIComponent(channel)}/disable" class="disable">${csrfField(context.csrfToken)}<input type="hidden" name="back" value="${escapeHtml(back)}"><label><span class="skip">Why ${escapeHtml(channel)} is disabled (its owner reads this)</span><input name="reason" value="${escapeHtml(suggested)}" placeholder="Reason, for its owner" maxlength="${DISABLE_REASON_MAX}" required></label><button class="danger" type="submit" aria-label="Disable ${escapeHtml(channel)}">Disable channel</button></form>`
}

function endForm(context: PageContext, channel: string, back: string): string {
  return `<form method="post" action="/admin/channels/${encodeURIComponent(channel)}/end" class="inline">${csrfField(context.csrfToken)}<input type="hidden" name="back" value="${escapeHtml(back)}"><button class="danger" type="submit" aria-label="End the broadcast of ${escapeHtml(channel)}">End broadcast</button></form>`
}

function disabledNote(disabled: ChannelDisabled): string {
  return `<span class="state-bad">Disabled</span> <span class="muted">by ${escapeHtml(disabled.by)}, ${when(disabled.at)}: ${escapeHtml(disabled.reason)}</span>`
}

export interface ReportsView {
  open: readonly ReportDoc[]
  closed: readonly ReportDoc[]
  /** Channels live now. */
  live: ReadonlySet<string>
  notice?: string
}

export function reportsPage(context: PageContext, view: ReportsView): string {
  const token = csrfField(context.csrfToken)
  const open =
    view.open.length === 0
      ? '<p>No open report.</p>'
      : `<ul class="reports">${view.open
          .map((r) => {
            const actions = [
              `<form method="post" action="/admin/reports/${r._id.toHexString()}/dismiss" class="inline">${token}<button type="submit" aria-label="Dismiss the report of ${escapeHtml(r.reporter)} on ${escapeHtml(r.channel)}">Dismiss</button></form>`,
              view.live.has(r.channel) ? endForm(context, r.channel, '/admin/reports') : '',
              r.target === undefined
                ? ''
                : `<form method="post" action="/admin/reports/${r._id.toHexString()}/remove" class="inline">${token}<button type="submit" class="danger">Remove the ${r.target.kind}</button></form>`,
              disableForm(context, r.channel, '/admin/reports', REPORT_REASONS[r.reason]),
            ].join('')
            return `<li class="report"><p class="report-head">${channelLink(r.channel)}${view.live.has(r.channel) ? ' <span class="live-dot">Live</span>' : ''} <strong>${escapeHtml(REPORT_REASONS[r.reason])}</strong> <span class="muted">by ${escapeHtml(r.reporter)}, ${when(r.updatedAt)} UTC</span></p>${reportTarget(r)}${r.details === undefined ? '' : `<p class="report-details">${escapeHtml(r.details)}</p>`}<div class="report-actions">${actions}</div></li>`
          })
          .join('')}</ul>`
  const closed =
    view.closed.length === 0
      ? '<p>None yet.</p>'
      : `<div class="table-wrap"><table class="admin"><thead><tr><th scope="col">Channel</th><th scope="col">Reason</th><th scope="col">From</th><th scope="col">Closed (UTC)</th><th scope="col">How</th></tr></thead><tbody>${view.closed
          .map(
            (r) =>
              `<tr><td>${channelLink(r.channel)}</td><td>${escapeHtml(REPORT_REASONS[r.reason])}</td><td>${escapeHtml(r.reporter)}</td><td>${r.closedAt === undefined ? '' : when(r.closedAt)}</td><td>${r.resolution === 'channel-disabled' ? 'Channel disabled' : r.resolution === 'content-removed' ? `${r.target?.kind === 'comment' ? 'Comment' : 'Post'} removed` : 'Dismissed'}${r.closedBy === undefined ? '' : ` by ${escapeHtml(r.closedBy)}`}</td></tr>`,
          )
          .join('')}</tbody></table></div>`
  return page(context, {
    title: 'Reports',
    width: 'wide',
    body: `<h1>Reports</h1>
${adminNav(context)}
${noticeOf(view.notice)}
<h2>Open</h2>
${open}
<h2>Closed</h2>
${closed}`,
  })
}

export function channelsPage(context: PageContext, view: {query: string; channels: readonly ModeratedChannel[]; live: ReadonlySet<string>; notice?: string}): string {
  const token = csrfField(context.csrfToken)
  const back = `/admin/channels${view.query === '' ? '' : `?q=${encodeURIComponent(view.query)}`}`
  const rows = view.channels
    .map((c) => {
      const live = view.live.has(c.name)
      const state = c.disabled !== undefined ? disabledNote(c.disabled) : live ? '<span class="live-dot">Live</span>' : '<span class="muted">Offline</span>'
      const actions =
        c.disabled !== undefined
          ? `<form method="post" action="/admin/channels/${encodeURIComponent(c.name)}/enable" class="inline">${token}<input type="hidden" name="back" value="${escapeHtml(back)}"><button class="primary" type="submit" aria-label="Enable ${escapeHtml(c.name)}">Enable</button></form>`
          : (live ? endForm(context, c.name, back) : '') + disableForm(context, c.name, back)
      return `<tr><td>${channelLink(c.name)}${c.title === undefined ? '' : `<br><span class="muted">${escapeHtml(c.title)}</span>`}</td><td data-label="Owner" class="nowrap">${c.owner === undefined ? '<span class="muted">none</span>' : escapeHtml(c.owner)}</td><td>${state}</td><td><div class="row-actions">${actions}</div></td></tr>`
    })
    .join('')
  const list =
    view.channels.length === 0
      ? `<p>${view.query === '' ? 'No channel is live or disabled.' : 'No channel matches.'}</p>`
      : `<div class="table-wrap"><table class="admin stacked channels-admin"><thead><tr><th scope="col">Channel</th><th scope="col">Owner</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead><tbody>${rows}</tbody></table></div>`
  return page(context, {
    title: 'Channels',
    width: 'wide',
    body: `<h1>Channels</h1>
${adminNav(context)}
${noticeOf(view.notice)}
<form method="get" action="/admin/channels" class="search" role="search"><label>Find a channel <input name="q" value="${escapeHtml(view.query)}" placeholder="part of its name" autocapitalize="none" spellcheck="false" maxlength="63"></label><button class="primary" type="submit">Search</button></form>
${view.query === '' ? '<p class="hint">Live and disabled channels; search to find any other.</p>' : ''}
${list}
<p class="hint">A disabled channel cannot go live (a live broadcast ends within seconds), its page says it is disabled, no list shows it, and its owner's dashboard shows your reason. Enabling it lets its stream keys publish again.</p>`,
  })
}
