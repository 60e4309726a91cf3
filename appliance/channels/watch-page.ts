/**
 * /c/<channel>: the watch page. hls.js in low-latency mode with ABR; it shows live/offline and
 * switches by itself when the broadcast starts or ends (it polls the playback API while
 * offline, and falls back to offline when the stream's playlist goes away). Offline, it links to
 * the last broadcast's VOD; an audio-only broadcast plays under a poster. With `vod` it plays one
 * archived broadcast instead (/c/<channel>/vod/<streamId>). The channel's banner, avatar and
 * "about" come from its profile; offline, its offline image stands where the picture would be.
 */
import {CHANNEL_LANGUAGES} from '../contract/index.js'
import {audioPoster, type Asset} from '../web/assets.js'
import {avatar, categoryLink, escapeHtml, formatDuration, page, rowPicture, type PageContext} from '../web/html.js'
import type {ChannelDoc} from './channels.js'
import {CHANNEL_IMAGES, channelImageUrl} from './images.js'
import {watchJs} from './watch-script.js'
import {scrubJs, scrubStrip} from './vod-scrub.js'
import {chatPanel, chatReplayPath, chatScripts} from '../chat/chat-page.js'
import type {VodDownloadState} from '../vods/download.js'
import {vodDownloadJs} from '../vods/download-script.js'
import {vodDownloadSection} from '../vods/download-section.js'
import {localTimesJs} from '../community/schedule-pages.js'

export interface WatchPageOptions {
  channel: string
  /** hls.js, served by the web under a URL that carries its content's hash. */
  hlsJs: Asset
  /** The Socket.IO client, for the chat column. */
  socketIoJs: Asset
  /** Plays this archived broadcast (its master playlist, when it began, its id) instead of the live one; the chat replays beside it. */
  vod?: {url: string; startedAt: string; streamId: string; download?: VodDownloadState}
  /** The channel as its dashboard set it: title, profile, images. */
  profile?: Pick<ChannelDoc, 'title' | 'description' | 'category' | 'tags' | 'language' | 'mature' | 'images'>
  /** The follow box (count and buttons), rendered by the community domain for this viewer. */
  followBox?: string
  /** The Clip button and its form under the player (clips/), for a logged-in viewer. */
  clipBox?: string
  /** The channel's clips (clips/). */
  clips?: string
  /** Its upcoming scheduled broadcasts (community/), with the script that shows their times in the viewer's zone. */
  upcoming?: string
  /** Its newest posts, with the way to its Community tab (community/). */
  posts?: string
  /** Past broadcasts, newest first: where each plays, when it began, how long it ran. */
  pastBroadcasts?: readonly {page: string; startedAt: string; durationSeconds: number; poster?: string}[]
  /** The VOD's poster and its scrubbing previews' map (vod.previews), once made: the player shows the tiles on hover. */
  vodPreviews?: {poster: string; vtt: string}
}

function pastBroadcasts(list: WatchPageOptions['pastBroadcasts']): string {
  if (list === undefined) return ''
  const items = list.map(
    (b) =>
      `<li><a href="${escapeHtml(b.page)}"><time datetime="${escapeHtml(b.startedAt)}">${escapeHtml(b.startedAt.slice(0, 16).replace('T', ' '))} UTC</time></a> <span class="muted">${formatDuration(b.durationSeconds)}</span>${rowPicture({url: b.poster})}</li>`,
  )
  return `<section class="past" aria-labelledby="past-heading"><h2 id="past-heading">Past broadcasts</h2>${items.length === 0 ? '<p class="muted">None yet.</p>' : `<ul class="channels">${items.join('')}</ul>`}</section>`
}

/** The channel's "about": its description (line breaks kept), category, language and tags. */
function about(channel: string, profile: WatchPageOptions['profile']): string {
  if (profile === undefined) return ''
  const category = categoryLink(profile.category)
  const facts = [
    category === undefined ? '' : `<dt>Category</dt><dd><a href="${escapeHtml(category.href)}">${escapeHtml(category.label)}</a></dd>`,
    profile.language === undefined ? '' : `<dt>Language</dt><dd lang="${escapeHtml(profile.language)}">${escapeHtml(CHANNEL_LANGUAGES[profile.language])}</dd>`,
    profile.tags === undefined || profile.tags.length === 0 ? '' : `<dt>Tags</dt><dd><ul class="tags">${profile.tags.map((t) => `<li>${escapeHtml(t)}</li>`).join('')}</ul></dd>`,
  ].join('')
  if (profile.description === undefined && facts === '') return ''
  return `<section class="about" aria-labelledby="about-heading"><h2 id="about-heading">About ${escapeHtml(channel)}</h2>
${profile.description === undefined ? '' : `<p class="description">${escapeHtml(profile.description)}</p>`}
${facts === '' ? '' : `<dl class="facts">${facts}</dl>`}</section>`
}

export function watchPage(context: PageContext, options: WatchPageOptions): string {
  const channel = escapeHtml(options.channel)
  const profile = options.profile
  const imageUrl = (kind: keyof typeof CHANNEL_IMAGES): string | undefined => {
    const object = profile?.images?.[kind]
    return object === undefined ? undefined : channelImageUrl(options.channel, object)
  }
  const banner = imageUrl('banner')
  const offline = imageUrl('offline')
  return page(context, {
    title: options.channel,
    width: 'player',
    scripts: [options.hlsJs.url, watchJs.url, ...chatScripts(options.socketIoJs), ...(options.vodPreviews === undefined ? [] : [scrubJs.url]), ...(options.vod?.download === undefined ? [] : [vodDownloadJs.url]), ...(options.upcoming === undefined || options.upcoming === '' ? [] : [localTimesJs.url])],
    data: {state: 'loading', channel: options.channel, vod: options.vod?.url, 'audio-poster': audioPoster.url},
    body: `<div class="watch-layout"><div class="watch-main">
${banner === undefined ? '' : `<img class="channel-banner" src="${escapeHtml(banner)}" alt="" width="${CHANNEL_IMAGES.banner.width}" height="${CHANNEL_IMAGES.banner.height}">`}
<div class="watch-header">${avatar(options.channel, imageUrl('avatar'))}<h1>${channel}</h1>${profile?.mature === true ? '<span class="mature-badge">Mature content</span>' : ''}<span id="badge">…</span><span id="viewers"></span><span id="quality" aria-live="polite"></span>${options.vod === undefined ? '<button class="secondary realtime-toggle" type="button" id="realtime" aria-pressed="false" hidden title="Under a second of delay, over WebRTC">Real time</button>' : ''}${options.followBox ?? ''}</div>
${profile?.title === undefined ? '' : `<p class="stream-title">${escapeHtml(profile.title)}</p>`}
<video id="video" controls muted autoplay playsinline${options.vodPreviews === undefined ? '' : ` poster="${escapeHtml(options.vodPreviews.poster)}"`}></video>
<p id="player-note" class="player-note" aria-live="polite" hidden></p>
${scrubStrip(options.vodPreviews)}
<div id="offline"${offline === undefined ? '' : ' class="with-image"'}>${offline === undefined ? '' : `<img src="${escapeHtml(offline)}" alt="" width="${CHANNEL_IMAGES.offline.width}" height="${CHANNEL_IMAGES.offline.height}">`}<p>${channel} is offline. This page starts playing by itself when the broadcast begins.<span id="last" hidden><br><a id="last-link" href="">Watch the last broadcast</a></span></p></div>
${options.clipBox ?? ''}
</div>
${chatPanel({channel: options.channel, returnTo: options.vod === undefined ? `/c/${options.channel}` : `/c/${options.channel}/vod/${options.vod.streamId}`, ...(options.vod === undefined ? {} : {replay: chatReplayPath(options.channel, options.vod.streamId)})})}
<div class="watch-more">
${options.vod?.download === undefined ? '' : vodDownloadSection(context, options.channel, options.vod.streamId, options.vod.download)}
${options.upcoming ?? ''}
${about(options.channel, profile)}
${options.vod === undefined ? `<p class="channel-actions"><a class="report-link" href="/c/${encodeURIComponent(options.channel)}/report">Report this channel</a></p>` : ''}
${options.posts ?? ''}
${pastBroadcasts(options.pastBroadcasts)}
${options.clips ?? ''}
</div></div>`,
  })
}
