/**
 * The schedule's pages: the "Upcoming" section of a channel's page, the site-wide /upcoming list,
 * and the streamer's Schedule page on the dashboard. Times are sent in UTC inside <time> (read as
 * is without JavaScript); the page's script shows them in the viewer's own time zone, and turns
 * the dashboard's local date fields into UTC before the form goes. Every value is escaped.
 */
import {CHANNEL_CATEGORIES} from '../contract/index.js'
import {asset} from '../web/assets.js'
import {avatar, csrfField, escapeHtml, page, type FieldErrors, type PageContext} from '../web/html.js'
import {SCHEDULE_TITLE_MAX_LENGTH, type ScheduleDoc, type ScheduleForm} from './schedule.js'

/**
 * Local times: every <time data-local> rewritten in the browser's time zone; every schedule form's
 * date field shown in local time (from its data-utc) and its hidden startsAtUtc kept in step, so
 * the server gets the instant the streamer meant wherever they are (and across a DST change).
 */
export const localTimesJs = asset(
  '/assets/local-times.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const long = new Intl.DateTimeFormat(undefined, {weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short'});
  for (const time of document.querySelectorAll('time[data-local]')) {
    const at = new Date(time.getAttribute('datetime'));
    if (Number.isNaN(at.getTime())) continue;
    time.title = time.textContent;
    time.textContent = long.format(at);
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const span of document.querySelectorAll('[data-zone]')) span.textContent = 'Your time zone: ' + zone + '.';
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  for (const form of document.querySelectorAll('form[data-schedule]')) {
    const field = form.querySelector('input[type="datetime-local"]');
    const utc = form.querySelector('input[name="startsAtUtc"]');
    if (!field || !utc) continue;
    const given = field.dataset.utc ? new Date(field.dataset.utc) : undefined;
    if (given && !Number.isNaN(given.getTime())) field.value = local(given);
    field.min = local(new Date());
    const sync = () => {
      const at = field.value ? new Date(field.value) : undefined;
      utc.value = at && !Number.isNaN(at.getTime()) ? at.toISOString() : '';
    };
    field.addEventListener('input', sync);
    form.addEventListener('submit', sync);
    sync();
  }
})();
`,
)

/** An instant: "2027-01-05 20:30 UTC" in the HTML, the viewer's local time once the script ran. */
export const localTime = (date: Date): string => {
  const iso = date.toISOString()
  return `<time datetime="${escapeHtml(iso)}" data-local>${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>`
}

/** One entry as a page lists it; `live`: its broadcast is on now; `due`: its time came, not live yet. */
export interface ScheduleListing {
  entry: ScheduleDoc
  live: boolean
  avatarUrl?: string
}

function entryRow(row: ScheduleListing, options: {withChannel: boolean; now: Date}): string {
  const {entry} = row
  const href = `/c/${encodeURIComponent(entry.channel)}`
  const category = entry.category === undefined ? '' : `<a class="category" href="/browse/${escapeHtml(entry.category)}">${escapeHtml(CHANNEL_CATEGORIES[entry.category])}</a>`
  const state = row.live
    ? `<a class="live-dot" href="${href}">Live now</a>`
    : entry.startsAt.getTime() <= options.now.getTime()
      ? '<span class="muted">Due to start</span>'
      : ''
  const channel = options.withChannel ? `<a class="schedule-channel" href="${href}">${escapeHtml(entry.channel)}</a>` : ''
  return `<li class="schedule-entry${row.live ? ' live' : ''}">${options.withChannel ? avatar(entry.channel, row.avatarUrl) : ''}<span class="schedule-when">${localTime(entry.startsAt)}</span>${channel}<span class="row-title">${escapeHtml(entry.title)}</span><span class="row-meta">${state}${category}</span></li>`
}

/** The channel page's "Upcoming" section (nothing when nothing is planned). */
export function upcomingSection(channel: string, rows: readonly ScheduleListing[], now = new Date()): string {
  if (rows.length === 0) return ''
  const feed = `/c/${encodeURIComponent(channel)}/schedule.ics`
  return `<section class="upcoming" aria-labelledby="upcoming-heading"><h2 id="upcoming-heading">Upcoming</h2><ul class="schedule">${rows.map((r) => entryRow(r, {withChannel: false, now})).join('')}</ul><p class="hint"><a href="${escapeHtml(feed)}">Add to your calendar</a> (an iCalendar feed).</p></section>`
}

export function upcomingPage(context: PageContext, rows: readonly ScheduleListing[], now = new Date()): string {
  const list =
    rows.length === 0
      ? '<p>Nothing is scheduled yet. <a href="/browse">Browse the channels</a>.</p>'
      : `<ul class="schedule">${rows.map((r) => entryRow(r, {withChannel: true, now})).join('')}</ul>`
  return page(context, {
    title: 'Upcoming',
    width: 'wide',
    scripts: [localTimesJs.url],
    body: `<h1>Upcoming broadcasts</h1>\n<p class="hint">Soonest first, in your time zone. <span data-zone></span></p>\n${list}`,
  })
}

const errorOf = (errors: FieldErrors, name: string, prefix: string): string => {
  const error = errors[name]
  return error === undefined ? '' : `<span class="field-error" id="${prefix}${name}-error">${escapeHtml(error)}</span>`
}
const invalid = (errors: FieldErrors, name: string, prefix: string): string => (errors[name] === undefined ? '' : ` aria-invalid="true" aria-describedby="${prefix}${name}-error"`)

const categoryOptions = (chosen: string): string =>
  ['<option value="">None</option>', ...Object.entries(CHANNEL_CATEGORIES).map(([value, label]) => `<option value="${escapeHtml(value)}"${value === chosen ? ' selected' : ''}>${escapeHtml(label)}</option>`)].join('')

/** The add form, or one entry's edit form (`prefix` keeps its ids apart from the others'). */
function entryForm(context: PageContext, options: {action: string; button: string; prefix: string; form?: ScheduleForm; entry?: ScheduleDoc; errors: FieldErrors}): string {
  const {prefix, errors} = options
  const title = options.form?.title ?? options.entry?.title ?? ''
  const category = options.form?.category ?? options.entry?.category ?? ''
  // The UTC instant the script shows in local time (data-utc), and puts in startsAtUtc as the
  // streamer changes it; without the script, startsAtUtc stays empty and the field, in UTC, counts.
  const utc = options.form?.utc !== undefined && options.form.utc !== '' ? options.form.utc : options.entry?.startsAt.toISOString()
  const local = options.form?.local ?? (utc === undefined ? '' : utc.slice(0, 16))
  return `<form class="stack" method="post" action="${escapeHtml(options.action)}" data-schedule novalidate>
${csrfField(context.csrfToken)}
<input type="hidden" name="startsAtUtc" value="">
<label>Title
  <input name="title" value="${escapeHtml(title)}" required maxlength="${SCHEDULE_TITLE_MAX_LENGTH}"${invalid(errors, 'title', prefix)}>${errorOf(errors, 'title', prefix)}
</label>
<label>Starts
  <input type="datetime-local" name="startsAt" value="${escapeHtml(local)}"${utc === undefined ? '' : ` data-utc="${escapeHtml(utc)}"`} required${invalid(errors, 'startsAt', prefix)}>
  <span class="hint">In your own time zone. <span data-zone>(Without JavaScript: in UTC.)</span></span>${errorOf(errors, 'startsAt', prefix)}
</label>
<label>Category
  <select name="category"${invalid(errors, 'category', prefix)}>${categoryOptions(category)}</select>${errorOf(errors, 'category', prefix)}
</label>
<button class="primary" type="submit">${escapeHtml(options.button)}</button>
</form>`
}

export interface ScheduleDashboard {
  channel: string
  entries: readonly ScheduleListing[]
  notice?: string
  /** The add form as sent, with what is wrong with it. */
  add?: {form: ScheduleForm; errors: FieldErrors}
  /** An entry's edit form as sent, with what is wrong with it. */
  edit?: {id: string; form: ScheduleForm; errors: FieldErrors}
  remindMinutesBefore: number
}

export function scheduleDashboardPage(context: PageContext, view: ScheduleDashboard): string {
  const path = `/dashboard/c/${encodeURIComponent(view.channel)}/schedule`
  const now = new Date()
  const entries =
    view.entries.length === 0
      ? '<p>Nothing planned yet.</p>'
      : `<ul class="schedule">${view.entries
          .map(({entry, live}) => {
            const id = entry._id.toHexString()
            const editing = view.edit?.id === id ? view.edit : undefined
            const state = live ? ' <span class="live-dot">Live now</span>' : entry.startsAt.getTime() <= now.getTime() ? ' <span class="muted">Due to start</span>' : ''
            return `<li class="schedule-entry" id="entry-${id}"><span class="schedule-when">${localTime(entry.startsAt)}</span><span class="row-title">${escapeHtml(entry.title)}</span><span class="row-meta">${state}${entry.category === undefined ? '' : `<span class="category">${escapeHtml(CHANNEL_CATEGORIES[entry.category])}</span>`}</span>
<div class="schedule-actions"><details${editing === undefined ? '' : ' open'}><summary>Edit</summary>
${entryForm(context, {action: `${path}/${id}`, button: 'Save changes', prefix: `e${id}-`, entry, ...(editing === undefined ? {errors: {}} : {form: editing.form, errors: editing.errors})})}
</details>
<form class="inline" method="post" action="${path}/${id}/remove">${csrfField(context.csrfToken)}<button class="danger" type="submit" aria-label="Remove “${escapeHtml(entry.title)}”">Remove</button></form></div></li>`
          })
          .join('')}</ul>`
  return page(context, {
    title: `${view.channel} · Schedule`,
    width: 'wide',
    scripts: [localTimesJs.url],
    body: `<p><a href="/dashboard/c/${encodeURIComponent(view.channel)}">${escapeHtml(view.channel)}</a> · <a href="/dashboard/c/${encodeURIComponent(view.channel)}/webhooks">Webhooks</a></p>
<h1>Schedule</h1>
<p class="hint">Your channel's page and <a href="/upcoming">Upcoming</a> show these to viewers in their own time zone; followers with live alerts on are reminded ${view.remindMinutesBefore} minutes before. Going live from 30 minutes before to 2 hours after a time links the broadcast to it. <a href="/c/${encodeURIComponent(view.channel)}/schedule.ics">Calendar feed</a></p>
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
<h2 id="planned">Planned</h2>
${entries}
<h2 id="add">Add a broadcast</h2>
${entryForm(context, {action: path, button: 'Add to the schedule', prefix: 'add-', ...(view.add === undefined ? {errors: {}} : {form: view.add.form, errors: view.add.errors})})}`,
  })
}
