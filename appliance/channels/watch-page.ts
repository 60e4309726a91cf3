/**
 * /c/<channel>: the watch page. hls.js in low-latency mode with ABR; it shows live/offline and
 * switches by itself when the broadcast starts or ends (it polls the playback API while
 * offline, and falls back to offline when the stream's playlist goes away). Offline, it links to
 * the last broadcast's VOD; an audio-only broadcast plays under a poster. With `vod` it plays one
 * archived broadcast instead (/c/<channel>/vod/<streamId>).
 */
import {audioPoster, type Asset} from '../web/assets.js'
import {escapeHtml, formatDuration, page, type PageContext} from '../web/html.js'
import {watchJs} from './watch-script.js'

export interface WatchPageOptions {
  channel: string
  /** hls.js, served by the web under a URL that carries its content's hash. */
  hlsJs: Asset
  /** Plays this archived broadcast (its master playlist and when it began) instead of the live one. */
  vod?: {url: string; startedAt: string}
  /** The channel's title, set on its dashboard. */
  title?: string
  /** Past broadcasts, newest first: where each plays, when it began, how long it ran. */
  pastBroadcasts?: readonly {page: string; startedAt: string; durationSeconds: number}[]
}

function pastBroadcasts(list: WatchPageOptions['pastBroadcasts']): string {
  if (list === undefined) return ''
  const items = list.map(
    (b) =>
      `<li><a href="${escapeHtml(b.page)}"><time datetime="${escapeHtml(b.startedAt)}">${escapeHtml(b.startedAt.slice(0, 16).replace('T', ' '))} UTC</time></a> <span class="muted">${formatDuration(b.durationSeconds)}</span></li>`,
  )
  return `<section class="past" aria-labelledby="past-heading"><h2 id="past-heading">Past broadcasts</h2>${items.length === 0 ? '<p class="muted">None yet.</p>' : `<ul class="channels">${items.join('')}</ul>`}</section>`
}

export function watchPage(context: PageContext, options: WatchPageOptions): string {
  const channel = escapeHtml(options.channel)
  return page(context, {
    title: options.channel,
    width: 'player',
    scripts: [options.hlsJs.url, watchJs.url],
    data: {state: 'loading', channel: options.channel, vod: options.vod?.url, 'audio-poster': audioPoster.url},
    body: `<div class="watch-header"><h1>${channel}</h1><span id="badge">…</span><span id="quality" aria-live="polite"></span></div>
${options.title === undefined ? '' : `<p class="stream-title">${escapeHtml(options.title)}</p>`}
<video id="video" controls muted autoplay playsinline></video>
<p id="offline">${channel} is offline. This page starts playing by itself when the broadcast begins.<span id="last" hidden><br><a id="last-link" href="">Watch the last broadcast</a></span></p>
${pastBroadcasts(options.pastBroadcasts)}`,
  })
}
