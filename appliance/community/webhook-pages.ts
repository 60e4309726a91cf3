/** The streamer's Webhooks page: their endpoints, each with its secret and its latest deliveries, and the form to add one. Every value is escaped. */
import {dashboardJs} from '../channels/dashboard-pages.js'
import {csrfField, escapeHtml, page, type FieldErrors, type PageContext} from '../web/html.js'
import {localTime, localTimesJs} from './schedule-pages.js'
import {WEBHOOK_EVENT_LABELS, WEBHOOK_URL_MAX_LENGTH, webhookEvents, type DeliveryDoc, type WebhookDoc, type WebhookEvent} from './webhooks.js'

export interface WebhooksDashboard {
  channel: string
  webhooks: readonly WebhookDoc[]
  deliveries: Map<string, DeliveryDoc[]>
  allowPrivateAddresses: boolean
  notice?: string
  /** The add form as sent, and what is wrong with it. */
  add?: {url: string; events: WebhookEvent[]; errors: FieldErrors}
}

const STATE_LABELS: Record<DeliveryDoc['state'], string> = {delivered: 'Delivered', retrying: 'Failed, retrying', failed: 'Failed'}

function deliveriesTable(list: readonly DeliveryDoc[] | undefined): string {
  if (list === undefined || list.length === 0) return '<p class="hint">No deliveries yet.</p>'
  return `<div class="table-wrap"><table class="keys deliveries"><caption class="skip">Latest deliveries</caption><thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Result</th></tr></thead><tbody>${list
    .map((d) => {
      const status = d.httpStatus === undefined ? '' : ` (HTTP ${d.httpStatus})`
      const error = d.error === undefined || d.state === 'delivered' ? '' : `<br><span class="hint">${escapeHtml(d.error)}</span>`
      const attempts = d.attempts > 1 ? ` <span class="hint">after ${d.attempts} attempts</span>` : ''
      return `<tr><td>${localTime(d.at)}</td><td>${escapeHtml(WEBHOOK_EVENT_LABELS[d.event])}</td><td class="delivery-${d.state}">${escapeHtml(STATE_LABELS[d.state])}${escapeHtml(status)}${attempts}${error}</td></tr>`
    })
    .join('')}</tbody></table></div>`
}

function eventChoices(chosen: readonly WebhookEvent[], errors: FieldErrors): string {
  return `<fieldset class="choices"${errors.events === undefined ? '' : ' aria-describedby="events-error"'}><legend>Events</legend>${webhookEvents
    .map((event) => `<label class="choice"><input type="checkbox" name="events" value="${event}"${chosen.includes(event) ? ' checked' : ''}> ${escapeHtml(WEBHOOK_EVENT_LABELS[event])}</label>`)
    .join('')}${errors.events === undefined ? '' : `<span class="field-error" id="events-error">${escapeHtml(errors.events)}</span>`}</fieldset>`
}

export function webhooksDashboardPage(context: PageContext, view: WebhooksDashboard): string {
  const path = `/dashboard/c/${encodeURIComponent(view.channel)}/webhooks`
  const errors = view.add?.errors ?? {}
  const list =
    view.webhooks.length === 0
      ? '<p>No webhook yet.</p>'
      : view.webhooks
          .map((w, i) => {
            const id = w._id.toHexString()
            return `<section class="webhook" id="webhook-${id}" aria-labelledby="webhook-${id}-url">
<h3 id="webhook-${id}-url" class="webhook-url">${escapeHtml(w.url)}</h3>
<p>${w.events.map((e) => `<span class="tag">${escapeHtml(WEBHOOK_EVENT_LABELS[e])}</span>`).join(' ')}</p>
<label>Secret <span class="copy-row"><input id="secret-${i}" value="${escapeHtml(w.secret)}" readonly spellcheck="false" autocomplete="off"><button type="button" class="primary" data-copy="secret-${i}" hidden>Copy</button></span></label>
<div class="webhook-actions">
<form class="inline" method="post" action="${path}/${id}/secret">${csrfField(context.csrfToken)}<button class="secondary" type="submit" aria-label="Make a new secret for ${escapeHtml(w.url)}">New secret</button></form>
<form class="inline" method="post" action="${path}/${id}/remove">${csrfField(context.csrfToken)}<button class="danger" type="submit" aria-label="Remove the webhook ${escapeHtml(w.url)}">Remove</button></form>
</div>
<h4>Latest deliveries</h4>
${deliveriesTable(view.deliveries.get(id))}
</section>`
          })
          .join('\n')
  return page(context, {
    title: `${view.channel} · Webhooks`,
    width: 'wide',
    scripts: [dashboardJs.url, localTimesJs.url],
    data: {channel: view.channel},
    body: `<p><a href="/dashboard/c/${encodeURIComponent(view.channel)}">${escapeHtml(view.channel)}</a> · <a href="/dashboard/c/${encodeURIComponent(view.channel)}/schedule">Schedule</a></p>
<h1>Webhooks</h1>
<p class="hint">When your channel goes live, goes offline or posts, this site POSTs it as JSON to each address below, signed with its secret: the header <code>X-Shing-Signature: t=&lt;unix time&gt;,v1=&lt;hex&gt;</code> holds the HMAC-SHA256 of <code>&lt;unix time&gt;.&lt;body&gt;</code> keyed with the secret. Deliveries that fail on the network, with a 5xx or a 429 are tried again for about 40 minutes.</p>
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
${list}
<h2 id="add">Add a webhook</h2>
<form class="stack" method="post" action="${path}#add" novalidate>
${csrfField(context.csrfToken)}
<label>Address
  <input type="url" name="url" value="${escapeHtml(view.add?.url ?? '')}" required maxlength="${WEBHOOK_URL_MAX_LENGTH}" placeholder="https://example.org/hooks/shing" autocapitalize="none" spellcheck="false"${errors.url === undefined ? '' : ' aria-invalid="true" aria-describedby="url-error"'}>
  <span class="hint">https:// recommended (http:// works, unencrypted).${view.allowPrivateAddresses ? ' This site allows private network addresses.' : ' Public addresses only.'}</span>${errors.url === undefined ? '' : `<span class="field-error" id="url-error" role="alert">${escapeHtml(errors.url)}</span>`}
</label>
${eventChoices(view.add?.events ?? ['live', 'offline', 'post'], errors)}
<button class="primary" type="submit">Add the webhook</button>
</form>`,
  })
}
