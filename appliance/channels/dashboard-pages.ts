/** The streamer's dashboard: their channels, and one channel's live state, title, profile, images and stream keys. Every value is escaped. */
import {CHANNEL_CATEGORIES, CHANNEL_LANGUAGES, DESCRIPTION_MAX_LENGTH, MAX_TAGS, type StreamKeyInfo} from '../contract/index.js'
import {asset} from '../web/assets.js'
import {csrfField, escapeHtml, formatDuration, page, type FieldErrors, type PageContext} from '../web/html.js'
import {TITLE_MAX_LENGTH, type ChannelDoc} from './channels.js'
import {ACCEPTED_IMAGES, CHANNEL_IMAGES, channelImageUrl, IMAGE_UPLOAD_LIMIT_BYTES, type ChannelImageKind} from './images.js'
import {figureNames, livePanelHtml, type LivePanel} from './live-panel.js'
import type {ProfileForm} from './profile.js'


/** The dashboard's island: copy buttons, and the live state kept current without a reload. */
export const dashboardJs = asset(
  '/assets/dashboard.js',
  'text/javascript; charset=utf-8',
  `(() => {
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const field = document.getElementById(button.dataset.copy);
      try { await navigator.clipboard.writeText(field.value); } catch { field.select(); document.execCommand('copy'); }
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = 'Copy'; }, 2000);
    });
  }
  const status = document.getElementById('live-status');
  if (!status) return;
  const channel = document.body.dataset.channel;
  const panel = document.getElementById('live-panel');
  const warnings = document.getElementById('live-warnings');
  const render = (p) => {
    status.dataset.live = p.live ? 'true' : 'false';
    status.textContent = p.live ? 'Live since ' + new Date(p.since).toLocaleTimeString() : 'Offline: go live from this browser, or stream from OBS with a key below.';
    panel.hidden = !p.live;
    for (const name of ${JSON.stringify(figureNames)}) document.getElementById('figure-' + name).textContent = p.figures[name];
    warnings.replaceChildren(...p.warnings.map((w) => { const li = document.createElement('li'); li.textContent = w; return li; }));
    warnings.hidden = p.warnings.length === 0;
  };
  const poll = async () => {
    try {
      const r = await fetch('/dashboard/c/' + encodeURIComponent(channel) + '/live.json', {cache: 'no-store'});
      if (r.ok) render(await r.json());
    } catch {}
  };
  setInterval(poll, 3000);
})();
`,
)

const errorOf = (errors: FieldErrors, name: keyof FieldErrors): string => {
  const error = errors[name]
  return error === undefined ? '' : `<span class="field-error" id="${name}-error">${escapeHtml(error)}</span>`
}
const invalid = (errors: FieldErrors, name: keyof FieldErrors): string => (errors[name] === undefined ? '' : ` aria-invalid="true" aria-describedby="${name}-error"`)

export function dashboardPage(context: PageContext, options: {channels: ChannelDoc[]; canCreate: boolean; values?: {name?: string; title?: string}; errors?: FieldErrors}): string {
  const errors = options.errors ?? {}
  const list =
    options.channels.length === 0
      ? '<p>You have no channel yet. Make one to go live.</p>'
      : `<ul class="channels">${options.channels
          .map((c) => `<li><a href="/dashboard/c/${encodeURIComponent(c.name)}">${escapeHtml(c.name)}</a>${c.title ? ` <span class="muted">${escapeHtml(c.title)}</span>` : ''}</li>`)
          .join('')}</ul>`
  const create = !options.canCreate
    ? ''
    : `<h2>Create a channel</h2>
<form class="stack" method="post" action="/dashboard/channels" novalidate>
${csrfField(context.csrfToken)}
<label>Channel name
  <input name="name" value="${escapeHtml(options.values?.name ?? '')}" required maxlength="63" autocapitalize="none" spellcheck="false"${invalid(errors, 'name')}>
  <span class="hint">Lowercase letters, digits, _ and -. Viewers find it at /c/&lt;name&gt;.</span>${errorOf(errors, 'name')}
</label>
<label>Title
  <input name="title" value="${escapeHtml(options.values?.title ?? '')}" maxlength="${TITLE_MAX_LENGTH}"${invalid(errors, 'title')}>
  <span class="hint">What your broadcasts are about; you can change it while live.</span>${errorOf(errors, 'title')}
</label>
<button class="primary" type="submit">Create channel</button>
</form>`
  return page(context, {title: 'Dashboard', width: 'wide', body: `<h1>Your channels</h1>\n${list}\n${create}`})
}

export interface ChannelDashboard {
  channel: ChannelDoc
  live?: {since: string; renditions: string[]}
  /** What the ingest found wrong with the encoder's settings in the latest broadcast. */
  warnings: string[]
  /** While live: viewers and the encoder's figures now. */
  panel: LivePanel
  /** Why no stream key can be made yet (an unconfirmed address). */
  keysRefusal?: string
  keys: StreamKeyInfo[]
  /** Past broadcasts, newest first; `expiresAt`: when the site's retention deletes it (absent: kept, or never). */
  vods: Array<{streamId: string; page: string; startedAt: string; durationSeconds: number; kept: boolean; expiresAt?: string}>
  /** The site's retention.vodDays: past broadcasts older than that go unless kept (0: all stay). */
  vodDays: number
  /** OBS "Server". */
  server: string
  /** OBS 30+'s WHIP "Server" (the stream key is its Bearer Token). */
  whipUrl: string
  /** A key made just now: shown this once. */
  newKey?: {key: string; keyId: string}
  notice?: string
  errors?: FieldErrors
  /** The profile form as it was sent, when it is shown again to fix. */
  profile?: ProfileForm
}

const options = (choices: Record<string, string>, chosen: string, none: string): string =>
  [`<option value="">${escapeHtml(none)}</option>`, ...Object.entries(choices).map(([value, label]) => `<option value="${escapeHtml(value)}"${value === chosen ? ' selected' : ''}>${escapeHtml(label)}</option>`)].join('')

function profileForm(context: PageContext, path: string, channel: ChannelDoc, sent: ProfileForm | undefined, errors: FieldErrors): string {
  const form: ProfileForm = sent ?? {description: channel.description ?? '', category: channel.category ?? '', tags: (channel.tags ?? []).join(', '), language: channel.language ?? '', mature: channel.mature === true, realtime: channel.realtime === true}
  return `<h2 id="profile">Channel profile</h2>
<form class="stack" method="post" action="${path}/profile#profile" novalidate>
${csrfField(context.csrfToken)}
<label>Description
  <textarea name="description" rows="5" maxlength="${DESCRIPTION_MAX_LENGTH}"${invalid(errors, 'description')}>${escapeHtml(form.description)}</textarea>
  <span class="hint">Plain text, up to ${DESCRIPTION_MAX_LENGTH} characters; line breaks are kept.</span>${errorOf(errors, 'description')}
</label>
<label>Category
  <select name="category"${invalid(errors, 'category')}>${options(CHANNEL_CATEGORIES, form.category, 'None')}</select>${errorOf(errors, 'category')}
</label>
<label>Tags
  <input name="tags" value="${escapeHtml(form.tags)}" autocapitalize="none" spellcheck="false"${invalid(errors, 'tags')}>
  <span class="hint">Up to ${MAX_TAGS}, separated by commas: letters, digits and -, up to 24 each.</span>${errorOf(errors, 'tags')}
</label>
<label>Language
  <select name="language"${invalid(errors, 'language')}>${options(CHANNEL_LANGUAGES, form.language, 'Not set')}</select>${errorOf(errors, 'language')}
</label>
<label class="choice"><input type="checkbox" name="mature" value="1"${form.mature ? ' checked' : ''}> <span>Mature content <span class="hint">(viewers see a badge)</span></span></label>
<label class="choice"><input type="checkbox" name="realtime" value="1"${form.realtime ? ' checked' : ''}> <span>Real-time playback <span class="hint">(viewers may choose to watch with under a second of delay, for play with your chat; from your next broadcast; it costs the server a little more)</span></span></label>
<button class="primary" type="submit">Save profile</button>
</form>`
}

function imageForms(context: PageContext, path: string, channel: ChannelDoc, errors: FieldErrors): string {
  const megabytes = IMAGE_UPLOAD_LIMIT_BYTES / 1024 / 1024
  const forms = (Object.keys(CHANNEL_IMAGES) as ChannelImageKind[]).map((kind) => {
    const {label, width, height} = CHANNEL_IMAGES[kind]
    const object = channel.images?.[kind]
    const preview =
      object === undefined
        ? `<div class="image-preview kind-${kind} empty">None yet</div>`
        : `<img class="image-preview kind-${kind}" src="${escapeHtml(channelImageUrl(channel.name, object))}" alt="The current ${escapeHtml(label.toLowerCase())}" width="${width}" height="${height}">`
    const remove =
      object === undefined
        ? ''
        : `<form method="post" action="${path}/images/${kind}/remove">${csrfField(context.csrfToken)}<button class="danger" type="submit">Remove the ${escapeHtml(label.toLowerCase())}</button></form>`
    // The token field comes before the file: the server checks it before it reads the file.
    return `<div class="image-upload">
${preview}
<form class="stack" method="post" action="${path}/images/${kind}#images" enctype="multipart/form-data">
${csrfField(context.csrfToken)}
<label>${escapeHtml(label)}
  <input type="file" name="image" accept="image/jpeg,image/png,image/webp,image/gif"${invalid(errors, kind)}>
  <span class="hint">Shown at ${width} × ${height}.</span>${errorOf(errors, kind)}
</label>
<button class="primary" type="submit">Upload the ${escapeHtml(label.toLowerCase())}</button>
</form>
${remove}
</div>`
  })
  return `<h2 id="images">Images</h2>
<p class="hint">${ACCEPTED_IMAGES}, up to ${megabytes} MB. Each is cropped to fill its shape and saved anew, without anything else the file held (such as where a photo was taken).</p>
<div class="image-uploads">${forms.join('\n')}</div>`
}

const when = (iso: string | undefined): string => (iso === undefined ? '—' : `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>`)

/** A past broadcast's Keep / Don't keep toggle, with the date the site's retention deletes it when not kept. */
function keepForm(context: PageContext, path: string, v: ChannelDashboard['vods'][number]): string {
  const of = escapeHtml(v.startedAt.slice(0, 16).replace('T', ' '))
  // A day is retention's unit; one already past goes at housekeeping's next run, within minutes.
  const goes = v.expiresAt === undefined || Date.parse(v.expiresAt) <= Date.now() ? 'Goes within minutes' : `Goes on <time datetime="${escapeHtml(v.expiresAt)}">${escapeHtml(v.expiresAt.slice(0, 10))}</time>`
  const state = v.kept ? '<span class="kept">Kept</span>' : `<span class="muted">${goes}</span>`
  const button = v.kept
    ? `<button type="submit" aria-label="Don't keep the broadcast of ${of}">Don't keep</button>`
    : `<button type="submit" aria-label="Keep the broadcast of ${of}">Keep</button>`
  return `${state} <form class="inline" method="post" action="${path}/vods/${encodeURIComponent(v.streamId)}/keep">${csrfField(context.csrfToken)}<input type="hidden" name="keep" value="${v.kept ? '0' : '1'}">${button}</form>`
}

export function channelDashboardPage(context: PageContext, view: ChannelDashboard): string {
  const name = view.channel.name
  const path = `/dashboard/c/${encodeURIComponent(name)}`
  const errors = view.errors ?? {}
  const status = view.live
    ? `<p id="live-status" data-live="true" role="status" aria-live="polite">Live since ${when(view.live.since)} (${escapeHtml(view.live.renditions.join(', '))})</p>`
    : '<p id="live-status" data-live="false" role="status" aria-live="polite">Offline: go live from this browser, or stream from OBS with a key below.</p>'
  const warnings =
    view.warnings.length === 0
      ? ''
      : `<div class="notice error"><p><strong>Your encoder's settings</strong> (from the latest broadcast):</p><ul>${view.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></div>`
  const newKey =
    view.newKey === undefined
      ? ''
      : `<div class="notice ok" role="status"><p><strong>Your new stream key</strong> (id ${escapeHtml(view.newKey.keyId)}). It is shown only now: copy it into OBS and keep it secret.</p>
<label>Stream key <span class="copy-row"><input id="new-key" value="${escapeHtml(view.newKey.key)}" readonly spellcheck="false"><button type="button" class="primary" data-copy="new-key" hidden>Copy</button></span></label></div>`
  const active = view.keys.filter((k) => k.revokedAt === undefined)
  const keys =
    active.length === 0
      ? '<p>No active stream key.</p>'
      : `<div class="table-wrap"><table class="keys"><thead><tr><th scope="col">Key id</th><th scope="col">Created</th><th scope="col" class="last-used">Last used</th><th scope="col"><span class="skip">Action</span></th></tr></thead><tbody>${active
          .map(
            (k) =>
              `<tr><td><code>${escapeHtml(k.keyId)}</code></td><td>${when(k.createdAt)}</td><td class="last-used">${when(k.lastUsedAt)}</td><td><form method="post" action="${path}/keys/${encodeURIComponent(k.keyId)}/revoke">${csrfField(context.csrfToken)}<button class="danger" type="submit" aria-label="Revoke key ${escapeHtml(k.keyId)}">Revoke</button></form></td></tr>`,
          )
          .join('')}</tbody></table></div>`
  return page(context, {
    title: `${name} · Dashboard`,
    width: 'wide',
    scripts: [dashboardJs.url],
    data: {channel: name},
    body: `<p><a href="/dashboard">Your channels</a></p>
<h1>${escapeHtml(name)}</h1>
${
  view.channel.disabled === undefined
    ? ''
    : `<p class="notice error" role="alert" id="channel-disabled"><strong>This channel is disabled by the site's moderators</strong> (${escapeHtml(view.channel.disabled.by)}, ${when(view.channel.disabled.at.toISOString())}): ${escapeHtml(view.channel.disabled.reason)}. It cannot go live, and its page is gone for visitors; ask the site's admin if you think this is a mistake.</p>`
}
<p><a href="/c/${encodeURIComponent(name)}">Open the channel page</a> · <a href="/c/${encodeURIComponent(name)}/posts#new-post">Write a post</a> · <a href="/c/${encodeURIComponent(name)}/moderation">Chat moderation</a> · <a href="${path}/schedule">Schedule</a> · <a href="${path}/webhooks">Webhooks</a></p>
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
${status}
${livePanelHtml(view.panel)}
${view.panel.live ? '' : warnings}
<h2>Title</h2>
<form class="stack" method="post" action="${path}/title">
${csrfField(context.csrfToken)}
<label>Title shown to viewers
  <input name="title" value="${escapeHtml(view.channel.title ?? '')}" maxlength="${TITLE_MAX_LENGTH}"${invalid(errors, 'title')}>${errorOf(errors, 'title')}
</label>
<button class="primary" type="submit">Save title</button>
</form>
<h2>Go live</h2>
<p><a class="button primary" id="go-live-link" href="${path}/go-live">Go live from this browser</a> <span class="hint">Camera, microphone or a screen share, no software to install.</span></p>
<p><a class="button secondary" id="studio-link" href="${path}/studio">Open the studio</a> <span class="hint">Go live with up to three guests, each from their own browser.</span></p>
<h2>Streaming from OBS</h2>
<label>Server <span class="copy-row"><input id="obs-server" value="${escapeHtml(view.server)}" readonly spellcheck="false"><button type="button" class="primary" data-copy="obs-server" hidden>Copy</button></span></label>
<p class="hint">OBS's Service "Custom…" with this server and a stream key below (RTMP). OBS 30 or later may publish over WebRTC instead: Service "WHIP", the server below, and a stream key as the Bearer Token.</p>
<label>WHIP server <span class="copy-row"><input id="whip-server" value="${escapeHtml(view.whipUrl)}" readonly spellcheck="false"><button type="button" class="primary" data-copy="whip-server" hidden>Copy</button></span></label>
${newKey}
<h3>Stream keys</h3>
${keys}
${
  view.keysRefusal === undefined
    ? `<form method="post" action="${path}/keys">
${csrfField(context.csrfToken)}
<button class="primary" type="submit">Create a stream key</button>
</form>`
    : `<p class="notice" id="keys-refusal">${escapeHtml(view.keysRefusal)} <a href="/account">Your account</a></p>`
}
<p class="hint">Revoking a key ends a broadcast that uses it within seconds.</p>
${profileForm(context, path, view.channel, view.profile, errors)}
${imageForms(context, path, view.channel, errors)}
<h2 id="past-broadcasts">Past broadcasts</h2>
${view.vodDays > 0 ? `<p class="hint">This site deletes past broadcasts ${view.vodDays} ${view.vodDays === 1 ? 'day' : 'days'} after they end, unless you keep them.</p>` : ''}
${
  view.vods.length === 0
    ? '<p>None yet: each broadcast is recorded and appears here when it ends.</p>'
    : `<div class="table-wrap"><table class="keys vods"><thead><tr><th scope="col">Started</th><th scope="col">Length</th>${view.vodDays > 0 ? '<th scope="col">Kept</th>' : ''}<th scope="col"><span class="skip">Action</span></th></tr></thead><tbody>${view.vods
        .map(
          (v) =>
            `<tr><td><a href="${escapeHtml(v.page)}">${when(v.startedAt)}</a></td><td>${formatDuration(v.durationSeconds)}</td>${view.vodDays > 0 ? `<td>${keepForm(context, path, v)}</td>` : ''}<td><form method="post" action="${path}/vods/${encodeURIComponent(v.streamId)}/delete">${csrfField(context.csrfToken)}<button class="danger" type="submit" aria-label="Delete the broadcast of ${escapeHtml(v.startedAt.slice(0, 16).replace('T', ' '))}">Delete</button></form></td></tr>`,
        )
        .join('')}</tbody></table></div>`
}`,
  })
}
