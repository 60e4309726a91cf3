/**
 * Clips as people see them: the Clip button and its form under a player (live or VOD), the clip's
 * own page (/clip/<id>: its player, poster, channel, broadcast and time, the MP4 to download;
 * being made, or why it failed), and a channel's clips on its page. Every viewer's text escaped.
 */
import type {Asset} from '../web/assets.js'
import {audioPoster} from '../web/assets.js'
import {csrfField, escapeHtml, formatDuration, page, type PageContext} from '../web/html.js'
import {CLIP_MIN_SECONDS, CLIP_TITLE_MAX, clipMedia, clipPage, type ClipDoc} from './clips.js'
import {clipJs} from './clip-script.js'

/** The lengths a viewer chooses from: 15 s steps up to the site's longest. */
export function clipLengths(maxSeconds: number): number[] {
  const lengths: number[] = []
  for (let s = CLIP_MIN_SECONDS; s <= maxSeconds; s += 15) lengths.push(s)
  if (lengths.at(-1) !== maxSeconds) lengths.push(maxSeconds)
  return lengths
}

/** "1:02:03 into the broadcast" from seconds. */
const into = (seconds: number): string => `${formatDuration(seconds)} into the broadcast`

/**
 * The Clip button under a player, for a logged-in viewer: a disclosure (keyboard and touch alike)
 * with the clip's name and length, and on a VOD where it starts (the player's position, filled in
 * by clip.js as it opens). Without an account, nothing: clips are made by accounts.
 */
export function clipBox(context: PageContext, options: {channel: string; maxSeconds: number; vod?: {streamId: string}}): string {
  if (context.viewer === undefined) return ''
  const lengths = clipLengths(options.maxSeconds)
  const chosen = lengths.includes(30) ? 30 : lengths[0]
  const select = lengths.map((s) => `<option value="${s}"${s === chosen ? ' selected' : ''}>${s} s</option>`).join('')
  const what = options.vod === undefined ? 'The last' : 'Length'
  const start =
    options.vod === undefined
      ? ''
      : `<input type="hidden" name="streamId" value="${escapeHtml(options.vod.streamId)}"><label class="clip-short"><span>Starts at <span class="hint">(m:ss)</span></span><input id="clip-start" name="start" value="0:00" pattern="[0-9]{1,3}(:[0-5][0-9]){0,2}" required></label>`
  return `<details class="clip-box" id="clip-box"><summary class="button">Clip</summary>
<form class="clip-form" method="post" action="/c/${encodeURIComponent(options.channel)}/clip">${csrfField(context.csrfToken)}
<label>Name <input name="title" id="clip-title" required maxlength="${CLIP_TITLE_MAX}" placeholder="What happened?" autocomplete="off"></label>
${start}<label class="clip-short">${what} <select name="seconds" id="clip-seconds">${select}</select></label>
<button class="primary" type="submit">Make the clip</button>
</form></details><script src="${clipJs.url}" defer></script>`
}

export interface ClipPageOptions {
  clip: ClipDoc
  hlsJs: Asset
  /** The broadcast's VOD page while it exists; the channel's page while it is live. */
  broadcast: {href: string; label: string} | undefined
  mayDelete: boolean
}

/** A file name for the download: the clip's name with what a file system refuses taken out. */
export function downloadName(title: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = title.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 80)
  return `${safe === '' ? 'clip' : safe}.mp4`
}

export function clipPageHtml(context: PageContext, {clip, hlsJs, broadcast, mayDelete}: ClipPageOptions): string {
  const channel = escapeHtml(clip.channel)
  const cut = clip.createdAt.toISOString()
  const facts = [
    `<dt>Channel</dt><dd><a href="/c/${encodeURIComponent(clip.channel)}">${channel}</a></dd>`,
    `<dt>Broadcast</dt><dd>${broadcast === undefined ? '<span class="muted">No longer available</span>' : `<a href="${escapeHtml(broadcast.href)}">${escapeHtml(broadcast.label)}</a>`}${clip.startOffsetSeconds === undefined ? '' : ` <span class="muted">(from ${into(clip.startOffsetSeconds)})</span>`}</dd>`,
    `<dt>Cut</dt><dd><time datetime="${escapeHtml(cut)}">${escapeHtml(cut.slice(0, 16).replace('T', ' '))} UTC</time> by ${escapeHtml(clip.createdByName)}</dd>`,
    clip.durationSeconds === undefined ? '' : `<dt>Length</dt><dd>${formatDuration(clip.durationSeconds)}</dd>`,
  ].join('')
  let main: string
  const playable = clip.status === 'ready' || (clip.status === 'pending' && clip.playable === true)
  if (playable) {
    const poster = clip.poster === true ? clipMedia(clip.clipId, 'poster.jpg') : audioPoster.url
    const download =
      clip.status === 'ready'
        ? `<p class="clip-actions"><a class="button" href="${escapeHtml(clipMedia(clip.clipId, 'clip.mp4'))}" download="${escapeHtml(downloadName(clip.title))}">Download MP4</a>${clip.bytes === undefined ? '' : ` <span class="muted">${(clip.bytes / 1e6).toFixed(1)} MB</span>`}</p>`
        : `<p class="clip-actions muted" role="status" data-download-name="${escapeHtml(downloadName(clip.title))}">The MP4 to download is being made…</p>`
    main = `<video id="clip-video" controls playsinline preload="metadata" poster="${escapeHtml(poster)}" data-hls="${escapeHtml(clipMedia(clip.clipId, 'index.m3u8'))}"></video>
${clip.notice === undefined ? '' : `<p class="notice">${escapeHtml(clip.notice)}</p>`}
${download}`
  } else if (clip.status === 'pending') {
    main = `<div class="clip-pending" role="status"><p>This clip is being made. It usually takes a few seconds; this page shows it as soon as it is ready.</p></div>`
  } else {
    main = `<p class="notice error" role="alert"><strong>This clip could not be made.</strong> ${escapeHtml(clip.reason ?? 'The server logged why.')}</p>`
  }
  const remove = mayDelete
    ? `<form class="clip-delete" method="post" action="${escapeHtml(clipPage(clip.clipId))}/delete">${csrfField(context.csrfToken)}<button class="danger" type="submit">Delete this clip</button></form>`
    : ''
  return page(context, {
    title: clip.title,
    width: 'wide',
    scripts: playable ? [hlsJs.url, clipJs.url] : [clipJs.url],
    data: {clip: clip.clipId, 'clip-status': clip.status, 'clip-playable': String(playable)},
    body: `<article class="clip-page">
<h1>${escapeHtml(clip.title)}</h1>
${main}
<dl class="facts">${facts}</dl>
${remove}
</article>`,
  })
}

/** A channel's clips on its page, newest first, each with its poster. */
export function channelClips(channel: string, clips: readonly ClipDoc[]): string {
  const items = clips.map((c) => {
    const poster = c.poster === true ? clipMedia(c.clipId, 'poster.jpg') : audioPoster.url
    const at = c.createdAt.toISOString()
    return `<li><a href="${escapeHtml(clipPage(c.clipId))}"><img src="${escapeHtml(poster)}" alt="" width="320" height="180" loading="lazy"><span class="clip-title">${escapeHtml(c.title)}</span></a><span class="muted">${formatDuration(c.durationSeconds ?? 0)} · <time datetime="${escapeHtml(at)}">${escapeHtml(at.slice(0, 10))}</time> · ${escapeHtml(c.createdByName)}</span></li>`
  })
  return `<section class="clips" id="clips" aria-labelledby="clips-heading"><h2 id="clips-heading">Clips</h2>${items.length === 0 ? `<p class="muted">No clips of ${escapeHtml(channel)} yet.</p>` : `<ul class="clip-list">${items.join('')}</ul>`}</section>`
}
