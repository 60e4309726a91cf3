/** Static assets the pages load, served by the web itself under URLs that carry their content's hash. */
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'

import type {FastifyInstance} from 'fastify'

export const IMMUTABLE = 'public, max-age=31536000, immutable'

export interface Asset {
  path: string
  type: string
  body: Buffer
  /** A hash of the content: a new file is a new URL (?v=), so the URL may be cached for good. */
  version: string
  /** path?v=version: what pages link to. */
  url: string
}

export function asset(path: string, type: string, content: string | Buffer): Asset {
  const body = typeof content === 'string' ? Buffer.from(content) : content
  const version = createHash('sha256').update(body).digest('hex').slice(0, 12)
  return {path, type, body, version, url: `${path}?v=${version}`}
}

/** hls.js as the page loads it. */
export async function loadHlsJs(): Promise<Asset> {
  const file = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js')
  return asset('/assets/hls.min.js', 'text/javascript; charset=utf-8', await readFile(file))
}

/** The Socket.IO client (chat), as the page loads it: it defines window.io. */
export async function loadSocketIoJs(): Promise<Asset> {
  // The package exports its unminified build only: the minified one sits beside it.
  const file = path.join(path.dirname(createRequire(import.meta.url).resolve('socket.io-client/package.json')), 'dist/socket.io.min.js')
  return asset('/assets/socket.io.min.js', 'text/javascript; charset=utf-8', await readFile(file))
}

/** What an audio-only broadcast shows where the picture would be. */
export const audioPoster = asset(
  '/assets/audio-poster.svg',
  'image/svg+xml',
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1280 720">
<rect width="1280" height="720" fill="#15171c"/>
<g fill="none" stroke="#8cf" stroke-width="14" stroke-linecap="round">
<path d="M560 250v220M600 200v320M640 280v160M680 230v260M720 290v140"/>
</g>
<text x="640" y="600" fill="#aab" font-family="system-ui, sans-serif" font-size="44" text-anchor="middle">Audio only</text>
</svg>
`,
)

/** The site's one stylesheet (no inline styles: the Content-Security-Policy allows none). */
export const siteCss = asset(
  '/assets/site.css',
  'text/css; charset=utf-8',
  `:root { color-scheme: dark; --bg: #111; --panel: #1b1d22; --line: #2c2f36; --text: #eee; --muted: #aab; --link: #8cf; --danger: #f77; --ok: #7d7; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: var(--bg); color: var(--text); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible, video:focus-visible { outline: 2px solid var(--link); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--panel); padding: .25rem .5rem; z-index: 10; }
.site-header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
.site-header .brand { font-weight: 700; color: var(--text); text-decoration: none; margin-right: auto; }
.site-header nav { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem .9rem; }
.site-header form { margin: 0; }
.linklike { background: none; border: 0; padding: 0; color: var(--link); font: inherit; text-decoration: underline; cursor: pointer; }
main.narrow { max-width: 28rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
main.wide { max-width: 64rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
form.stack { display: grid; gap: .9rem; }
label { display: grid; gap: .3rem; font-weight: 600; }
/* hidden means hidden, whatever display a class gives the element. */
[hidden] { display: none !important; }
.hint { font-weight: 400; color: var(--muted); font-size: .875rem; }
input, textarea, select { font: inherit; font-weight: 400; color: var(--text); background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .55rem .65rem; width: 100%; }
input[aria-invalid="true"] { border-color: var(--danger); }
.field-error { color: var(--danger); font-weight: 400; font-size: .9rem; }
button.primary, .button { font: inherit; font-weight: 600; background: #2d6cdf; color: #fff; border: 0; border-radius: .4rem; padding: .6rem 1rem; cursor: pointer; text-decoration: none; display: inline-block; }
button.danger { font: inherit; font-weight: 600; background: #8a2222; color: #fff; border: 0; border-radius: .4rem; padding: .6rem 1rem; cursor: pointer; }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--link); background: var(--panel); padding: .6rem .8rem; border-radius: .3rem; }
.notice.error { border-left-color: var(--danger); }
.notice.ok { border-left-color: var(--ok); }
form.notice { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; margin: 1rem 0; }
form.notice p { margin: 0; flex: 1 1 16rem; }
.badge { font-size: .8rem; font-weight: 600; padding: .05rem .45rem; border-radius: .25rem; border: 1px solid var(--line); white-space: nowrap; }
.badge.ok { color: var(--ok); }
.badge.warn { color: #fc6; }
.qr svg { display: block; width: min(14rem, 100%); height: auto; margin: .75rem 0; border-radius: .3rem; }
code.secret { display: block; margin-top: .25rem; word-break: break-all; font-size: 1.05rem; }
ol.steps > li { margin-bottom: 1.25rem; }
ul.codes { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .4rem 1rem; padding: 0; list-style: none; font-size: 1.1rem; }
ul.codes code { white-space: nowrap; }
.muted { color: var(--muted); }
ul.channels { list-style: none; padding: 0; display: grid; gap: .5rem; }
ul.channels li { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .8rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }

table.keys { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
table.keys th, table.keys td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
table.keys button { padding: .3rem .7rem; }
/* A phone keeps the key, its date and Revoke in view. */
@media (max-width: 30rem) { table.keys .last-used { display: none; } }
/* The tokens page: on a phone, a token's name, scopes, last use and Revoke stay in view. */
@media (max-width: 30rem) { table.tokens .created { display: none; } table.tokens { font-size: .9rem; } table.tokens th, table.tokens td { padding: .4rem .25rem; } }
table.tokens code, .nowrap { white-space: nowrap; }
form.narrow-form { max-width: 28rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.copy-row { display: flex; gap: .5rem; }
.copy-row input { flex: 1; font-family: ui-monospace, monospace; }
#live-status { font-weight: 600; }
#live-status[data-live="true"]::before { content: "● "; color: #f44; }
h3 { font-size: 1rem; margin: 1.25rem 0 .25rem; }
.notice ul { margin: .25rem 0; }
code { font-family: ui-monospace, monospace; }

.admin-nav { display: flex; gap: 1rem; margin-bottom: .5rem; }
.table-wrap { overflow-x: auto; }
table.admin { border-collapse: collapse; width: 100%; font-size: .95rem; }
table.admin th, table.admin td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
table.admin td.actions { display: flex; gap: .4rem; flex-wrap: wrap; }
table.admin form, form.inline { display: inline-flex; gap: .3rem; align-items: center; margin: 0; }
table.admin button, form.inline button { padding: .3rem .7rem; }
table.admin select { width: auto; padding: .3rem; }
td.status-banned, td.status-suspended { color: var(--danger); font-weight: 600; }
form.search { display: flex; gap: .5rem; align-items: end; margin: .5rem 0 1rem; }
form.search label { flex: 1; }

fieldset { border: 1px solid var(--line); border-radius: .4rem; padding: .5rem .9rem .8rem; margin: 0; display: grid; gap: .4rem; }
legend { font-weight: 600; padding: 0 .3rem; }
label.choice { display: flex; gap: .5rem; align-items: center; font-weight: 400; }
label.choice input { width: auto; }
/* A long hint wraps under its text, the box beside the first line. */
label.choice:has(> span > .hint) { align-items: baseline; }
.rules { white-space: pre-line; }

/* Notifications: the bell in the header, the list */
.bell { position: relative; display: inline-flex; align-items: center; justify-content: center; min-width: 2.25rem; min-height: 2.25rem; color: var(--text); text-decoration: none; }
.bell-count { position: absolute; top: -.1rem; right: -.3rem; min-width: 1.25rem; padding: 0 .3rem; border-radius: .65rem; background: #d22; color: #fff; font-size: .75rem; font-weight: 700; line-height: 1.25rem; text-align: center; }
.bell-count[hidden] { display: none; }
ul.notifications { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
ul.notifications li { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: .4rem; }
ul.notifications li.unread { border-left-color: var(--link); }
ul.notifications a { display: block; padding: .65rem .8rem; color: var(--text); text-decoration: none; }
ul.notifications a:hover .n-text { text-decoration: underline; }
.n-text { display: block; overflow-wrap: anywhere; }
ul.notifications li.unread .n-text { font-weight: 600; }
.n-meta { display: flex; flex-wrap: wrap; gap: .25rem .6rem; align-items: center; color: var(--muted); font-size: .85rem; margin-top: .2rem; }
.page-actions { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 0 0 1rem; }
.page-actions form { margin: 0; }
.pager { margin: 1rem 0; }

/* The watch page */
.watch-header { display: flex; gap: .75rem; align-items: center; padding: .75rem 1rem; }
.watch-header h1 { font-size: 1.1rem; margin: 0; }
#badge { font-size: .8rem; font-weight: 700; padding: .1rem .5rem; border-radius: .25rem; background: #444; }
body[data-state="live"] #badge { background: #d22; }
#quality { margin-left: auto; font-size: .85rem; color: var(--muted); }
#viewers { font-size: .85rem; color: var(--muted); }
#live-panel { margin: 1rem 0; padding: .75rem 1rem; border: 1px solid var(--line); border-radius: .4rem; background: var(--panel); }
#live-panel h2 { margin-top: 0; }
#live-warnings { margin: .75rem 0 0; padding-left: 1.75rem; }
main.player { max-width: 1280px; margin: 0 auto; }
video { width: 100%; aspect-ratio: 16 / 9; background: #000; display: block; }
#offline { padding: 3rem 1rem; text-align: center; color: var(--muted); }
#last[hidden] { display: none; }
body[data-state="live"] #offline, body[data-state="offline"] video { display: none; }
body[data-state="vod"] #badge { background: #246; }
body[data-state="vod"] #offline { display: none; }
.stream-title { margin: 0; padding: 0 1rem .75rem; font-size: 1.05rem; }
section.past { padding: 0 1rem 2rem; }
/* The VOD's scrub strip under the player: the moment's preview tile above the pointer, finger or keyboard position */
.scrub { position: relative; margin: 0 1rem; }
.scrub[hidden], .scrub-preview[hidden] { display: none; }
.scrub-track { position: relative; height: 2rem; cursor: pointer; touch-action: none; }
.scrub-track::before, .scrub-played { content: ""; position: absolute; left: 0; top: 50%; height: .35rem; margin-top: -.175rem; border-radius: .2rem; pointer-events: none; }
.scrub-track::before { right: 0; background: #3a3d45; }
.scrub-played { width: 0; background: #d22; }
.scrub-track:hover::before, .scrub-track:hover .scrub-played, .scrub-track:focus-visible::before, .scrub-track:focus-visible .scrub-played { height: .55rem; margin-top: -.275rem; }
.scrub-preview { position: absolute; bottom: 2.1rem; display: grid; justify-items: center; gap: .25rem; pointer-events: none; z-index: 3; }
.scrub-tile { background: #000 no-repeat; outline: 2px solid #fff; border-radius: .15rem; box-shadow: 0 2px 10px #000c; }
.scrub-time { font-size: .85rem; font-weight: 700; background: #000d; padding: 0 .4rem; border-radius: .2rem; }
section.vod-download { padding: 0 1rem 1rem; }
section.vod-download form, section.vod-download p { display: inline-block; margin: 0 .75rem .5rem 0; }
section.vod-download [hidden] { display: none; }

/* Following a channel: the count and the buttons in the channel's header */
button.secondary { font: inherit; font-weight: 600; background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: .4rem; padding: .6rem 1rem; cursor: pointer; }
.button.secondary { background: var(--panel); color: var(--text); border: 1px solid var(--line); }
button.secondary[aria-pressed="true"] { border-color: var(--ok); }
.realtime-toggle { padding: .3rem .8rem; font-size: .85rem; }
.realtime-toggle[aria-pressed="true"] { background: #1d3d2a; border-color: var(--ok); }
.player-note { margin: .4rem 1rem 0; font-size: .85rem; color: var(--muted); }
.follow-box { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem .5rem; }
.follow-box form { margin: 0; }
.followers { font-size: .85rem; color: var(--muted); }
.follow-box .button, .follow-box button { padding: .35rem .9rem; font-size: .9rem; }

/* The watch page's layout: the player and the chat beside it (below it on a phone) */
main.player:has(.watch-layout) { max-width: 1680px; }
.watch-layout { display: grid; grid-template-columns: minmax(0, 1fr); grid-template-areas: "main" "chat" "more"; }
.watch-main { grid-area: main; min-width: 0; }
.watch-more { grid-area: more; min-width: 0; }
.chat { grid-area: chat; display: flex; flex-direction: column; height: min(70vh, 36rem); border-top: 1px solid var(--line); background: var(--panel); }
@media (min-width: 64rem) {
  .watch-layout { grid-template-columns: minmax(0, 1fr) 22rem; grid-template-rows: auto 1fr; grid-template-areas: "main chat" "more chat"; }
  /* Below the site's header at the top of the page, the input in view; the whole height once scrolled. */
  .chat { position: sticky; top: 0; align-self: start; height: calc(100vh - 3.6rem); border-top: 0; border-left: 1px solid var(--line); }
}

/* Chat */
.chat-head { display: flex; align-items: center; gap: .5rem; padding: .5rem .75rem; border-bottom: 1px solid var(--line); }
.chat-head h2 { margin: 0; font-size: 1rem; margin-right: auto; }
.chat-tool { font-size: .85rem; }
.chat-tool[hidden] { display: none; }
.chat-log:empty::before { content: "Nothing said yet."; color: var(--muted); }
.chat-log { list-style: none; margin: 0; padding: .5rem .75rem; overflow-y: auto; flex: 1 1 auto; overflow-wrap: anywhere; font-size: .95rem; }
.chat-line { position: relative; padding: .15rem 1.6rem .15rem 0; line-height: 1.4; white-space: pre-wrap; }
.chat-line.mentions-you { background: #2a2a12; border-radius: .25rem; }
.chat-user { font-weight: 700; color: #9cf; }
.chat-user.hue-0 { color: #8cf; } .chat-user.hue-1 { color: #f9a; } .chat-user.hue-2 { color: #9e9; } .chat-user.hue-3 { color: #fc7; }
.chat-user.hue-4 { color: #c9f; } .chat-user.hue-5 { color: #7dd; } .chat-user.hue-6 { color: #fa8; } .chat-user.hue-7 { color: #bd8; }
.chat-badge { font-size: .7rem; font-weight: 700; padding: 0 .3rem; border-radius: .2rem; vertical-align: .1em; background: #444; }
.chat-badge.owner { background: #a23; }
.chat-badge.moderator { background: #275; }
.chat-badge.staff { background: #35a; }
.chat-text .mention { font-weight: 700; color: #fd6; }
.chat-mod { position: absolute; right: 0; top: 0; }
.chat-mod summary { list-style: none; cursor: pointer; padding: 0 .3rem; color: var(--muted); border-radius: .2rem; opacity: .35; }
.chat-line:hover .chat-mod summary, .chat-mod summary:focus-visible, .chat-mod[open] summary { opacity: 1; }
.chat-mod summary::-webkit-details-marker { display: none; }
.chat-mod-menu { position: absolute; right: 0; z-index: 2; display: grid; min-width: 10rem; background: var(--bg); border: 1px solid var(--line); border-radius: .3rem; }
.chat-mod-menu button { font: inherit; font-size: .9rem; text-align: left; background: none; color: var(--text); border: 0; padding: .4rem .6rem; cursor: pointer; }
.chat-mod-menu button:hover, .chat-mod-menu button:focus-visible { background: var(--panel); }
.chat-mod-timeouts { display: flex; flex-wrap: wrap; align-items: center; gap: 0 .1rem; padding: .2rem .6rem; border-block: 1px solid var(--line); font-size: .85rem; color: var(--muted); }
.chat-mod-timeouts span { margin-right: .3rem; }
.chat-mod-menu .chat-mod-timeouts button { padding: .3rem .35rem; }
.chat-status { margin: 0; padding: 0 .75rem; min-height: 1.25rem; font-size: .85rem; color: var(--muted); }
.chat-login, .chat-cannot { margin: 0; padding: .5rem .75rem .75rem; font-size: .9rem; }
.chat-cannot { color: var(--danger); }
.chat-form { display: flex; gap: .5rem; padding: .5rem .75rem .75rem; align-items: flex-end; }
.chat-form[hidden], .chat-login[hidden], .chat-cannot[hidden] { display: none; }
.chat-form textarea { resize: none; min-height: 2.6rem; }
main.chat { height: 100vh; }
main.chat .chat { height: 100vh; border: 0; }
/* The chat moderation page: a moderator's permissions are columns on a desktop, labelled boxes on a phone. */
form.chat-settings label.choice { align-items: baseline; }
table.moderators label.choice { display: inline-flex; }
.log-details { overflow-wrap: anywhere; }
@media (max-width: 40rem) {
  table.moderators tbody th { display: block; border: 0; padding: .15rem 0; }
  table.stacked.moderators td[data-label]::before { content: none; }
  table.moderators .permission-label { position: static; width: auto; height: auto; clip-path: none; }
  table.chat-log-table td:empty { display: none; }
}

/* Channels: avatars (an image, or the initial on a colour of the name's), rows in lists, profiles */
.avatar { display: inline-grid; place-items: center; flex: none; border-radius: 50%; object-fit: cover; font-weight: 700; color: #fff; background: #4a4f5c; line-height: 1; }
.avatar.small { width: 2.75rem; height: 2.75rem; font-size: 1.2rem; }
.avatar.large { width: 5rem; height: 5rem; font-size: 2rem; }
.avatar.hue-0 { background: #a63d52; } .avatar.hue-1 { background: #b3542d; } .avatar.hue-2 { background: #7d6a12; } .avatar.hue-3 { background: #3b7a2e; }
.avatar.hue-4 { background: #17766f; } .avatar.hue-5 { background: #2f5fa8; } .avatar.hue-6 { background: #6343a8; } .avatar.hue-7 { background: #94397f; }
/* A row: the avatar first, beside the name, title and facts (the name comes first in the HTML). */
ul.channels li:has(> .avatar) { display: grid; grid-template-columns: auto minmax(0, 1fr); column-gap: .8rem; align-items: center; }
ul.channels li:has(> .avatar) > * { grid-column: 2; min-width: 0; }
ul.channels li > .avatar { grid-column: 1; grid-row: 1 / span 3; align-self: center; }
ul.channels li:has(> .avatar) > a:first-child { font-weight: 600; justify-self: start; }
.row-title { overflow-wrap: anywhere; }
.row-meta { display: flex; flex-wrap: wrap; gap: .1rem .75rem; font-size: .875rem; color: var(--muted); }
.live-dot, .live-count { color: #f66; font-weight: 700; }
.live-dot::before { content: "● "; }
/* Pictures in lists: a live channel's thumbnail, a past broadcast's poster (16:9; a placeholder until there is one) */
.thumb { display: block; width: 100%; height: auto; aspect-ratio: 16 / 9; object-fit: cover; border-radius: .3rem; background: #000; }
.thumb.placeholder { position: relative; background: linear-gradient(135deg, #2a2e37, #15171c); }
.thumb.placeholder::after { content: ""; position: absolute; inset: 0; margin: auto; width: 0; height: 0; border-style: solid; border-width: .8rem 0 .8rem 1.35rem; border-color: transparent transparent transparent #5a606e; }
/* A row (browse, search): the picture at its end; past broadcasts: the poster first. */
ul.channels li:has(> .avatar):has(> .thumb) { grid-template-columns: auto minmax(0, 1fr) 8rem; }
ul.channels li > .thumb { grid-column: 3; grid-row: 1 / span 3; align-self: center; }
section.past li:has(> .thumb) { display: grid; grid-template-columns: 8rem minmax(0, 1fr); column-gap: .8rem; align-items: center; align-content: center; }
section.past li > * { grid-column: 2; justify-self: start; }
section.past li > .thumb { grid-column: 1; grid-row: 1 / span 2; }
section.past li:has(> .thumb) > a { align-self: end; }
section.past li:has(> .thumb) > .muted { align-self: start; }
@media (max-width: 30rem) { ul.channels li:has(> .avatar):has(> .thumb) { grid-template-columns: auto minmax(0, 1fr) 6rem; } section.past li:has(> .thumb) { grid-template-columns: 6rem minmax(0, 1fr); } }
/* The front page's live channels and recent broadcasts: cards, the picture on top; the whole card is its link (one tab stop). */
ul.channels:is(.live, .recent) { grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: 1rem; }
ul.channels:is(.live, .recent) li:has(> .thumb) { position: relative; grid-template-columns: auto minmax(0, 1fr); align-items: start; align-content: start; padding: 0 .8rem .7rem; overflow: hidden; }
ul.channels:is(.live, .recent) li > .thumb { grid-column: 1 / -1; grid-row: 1; width: calc(100% + 1.6rem); margin: 0 -.8rem .6rem; border-radius: 0; }
ul.channels:is(.live, .recent) li:has(> .thumb) > .avatar { grid-row: 2 / span 3; align-self: start; }
ul.channels:is(.live, .recent) li > a:first-child::after { content: ""; position: absolute; inset: 0; }
ul.channels:is(.live, .recent) li > a:first-child:focus-visible { outline: none; }
ul.channels:is(.live, .recent) li:has(> a:first-child:focus-visible) { outline: 2px solid var(--link); outline-offset: 2px; }
ul.channels:is(.live, .recent) li:hover { border-color: #4a4f5c; }
ul.channels:is(.live, .recent) .category { position: relative; z-index: 1; }
ul.categories { list-style: none; padding: 0; display: grid; gap: .6rem; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); }
ul.categories li { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .8rem 1rem; display: grid; gap: .15rem; }
ul.categories a { font-weight: 700; font-size: 1.05rem; }
.site-search { display: flex; gap: .4rem; flex: 1 1 12rem; max-width: 20rem; margin: 0; }
.site-search input { padding: .3rem .55rem; }
.site-search button { font: inherit; background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: .4rem; padding: .3rem .7rem; cursor: pointer; }
textarea[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--danger); }
textarea { resize: vertical; }
.channel-banner { display: block; width: 100%; height: auto; aspect-ratio: 4 / 1; object-fit: cover; }
.watch-header .avatar { width: 2.5rem; height: 2.5rem; font-size: 1.1rem; }
/* On a phone the badges go to the next line rather than the name breaking at its hyphens. */
.watch-header { flex-wrap: wrap; }
.watch-header h1 { flex-shrink: 0; max-width: 100%; overflow-wrap: anywhere; }
.mature-badge { font-size: .8rem; font-weight: 700; padding: .1rem .5rem; border-radius: .25rem; border: 1px solid #c84; color: #fb7; white-space: nowrap; }
/* Clips: the Clip button under a player (live or a VOD), a clip's page, a channel's clips */
.clip-box { padding: .5rem 1rem 0; }
body:not([data-state="live"]):not([data-state="vod"]) .clip-box { display: none; }
.clip-box summary { list-style: none; padding: .35rem .9rem; font-size: .9rem; }
.clip-box summary::-webkit-details-marker { display: none; }
.clip-box[open] summary { background: #1d4fa8; }
.clip-form { display: flex; flex-wrap: wrap; gap: .6rem .9rem; align-items: end; margin: .6rem 0 .4rem; padding: .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; }
.clip-form label { flex: 1 1 14rem; }
.clip-form label.clip-short { flex: 0 1 9rem; }
.clip-form button { flex: 0 0 auto; }
.clip-page h1 { overflow-wrap: anywhere; }
.clip-page video { border-radius: .4rem; margin-bottom: .75rem; }
.clip-pending { aspect-ratio: 16 / 9; display: grid; place-items: center; text-align: center; padding: 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; margin-bottom: .75rem; }
.clip-actions { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
.clip-delete { margin-top: 1.5rem; }
section.clips { padding: 0 1rem 1rem; }
ul.clip-list { list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; }
ul.clip-list li { display: grid; gap: .2rem; font-size: .9rem; align-content: start; }
ul.clip-list a { display: grid; gap: .3rem; text-decoration: none; color: var(--text); }
ul.clip-list img { width: 100%; height: auto; aspect-ratio: 16 / 9; object-fit: cover; border-radius: .3rem; background: #000; }
ul.clip-list .clip-title { font-weight: 600; overflow-wrap: anywhere; }
/* Community: a channel's posts (their cards on its Community tab, a post's page, the home timeline) */
.channel-tabs { display: flex; gap: .25rem; border-bottom: 1px solid var(--line); margin: 0 0 1rem; }
.channel-tabs a { padding: .5rem .9rem; color: var(--muted); text-decoration: none; border-bottom: 3px solid transparent; }
.channel-tabs a[aria-current="page"] { color: var(--text); border-bottom-color: var(--link); font-weight: 600; }
.community .watch-header { padding: 0 0 .5rem; }
.posts { display: grid; gap: 1rem; }
article.post { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: .8rem 1rem; overflow-wrap: anywhere; }
.post-head { margin: 0 0 .4rem; display: flex; flex-wrap: wrap; gap: .2rem .5rem; align-items: baseline; font-size: .9rem; }
.post-channel { font-weight: 700; color: var(--text); }
.post-body > :first-child { margin-top: 0; }
.post-body > :last-child { margin-bottom: 0; }
.post-body blockquote { margin: .5rem 0; padding-left: .8rem; border-left: 3px solid var(--line); color: var(--muted); }
.post-body pre { overflow-x: auto; background: var(--bg); padding: .5rem; border-radius: .3rem; }
.post-images { display: grid; gap: .35rem; margin: .6rem 0; grid-template-columns: repeat(2, 1fr); }
.post-images.count-1 { grid-template-columns: 1fr; }
.post-images a { display: block; }
.post-images img { display: block; width: 100%; height: auto; max-height: 32rem; object-fit: cover; border-radius: .35rem; background: #000; }
.post-images:not(.count-1) img { aspect-ratio: 4 / 3; }
.post-link { display: flex; gap: .75rem; align-items: center; margin: .6rem 0; padding: .5rem; border: 1px solid var(--line); border-radius: .4rem; color: var(--text); text-decoration: none; background: var(--bg); }
.post-link img, .post-link .thumb { flex: 0 0 8rem; width: 8rem; height: auto; aspect-ratio: 16 / 9; object-fit: cover; border-radius: .3rem; }
.post-actions, .comment-actions { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin-top: .6rem; font-size: .9rem; }
.post-actions form, .comment-actions form { margin: 0; }
.post-actions button.secondary, .post-actions .button.secondary { padding: .35rem .8rem; font-size: .9rem; background: var(--bg); color: var(--text); border: 1px solid var(--line); }
.post-actions button[aria-pressed="true"] { border-color: #e56; color: #f9a; }
.post-actions .report-link, .comment-actions .report-link { color: var(--muted); }
details.post-compose { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: .6rem 1rem; margin-bottom: 1rem; }
details.post-compose summary { cursor: pointer; font-weight: 600; }
details.post-compose form { margin-top: .8rem; }
.post-keep label.choice img { width: 3rem; height: 3rem; object-fit: cover; border-radius: .25rem; }
.post-delete { margin: 2rem 0 1rem; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
ol.comments { list-style: none; padding: 0; margin: 0 0 1rem; display: grid; gap: .6rem; }
li.comment { border-left: 3px solid var(--line); padding: .2rem 0 .2rem .8rem; }
li.comment:target { border-left-color: var(--link); }
.comment-head { margin: 0; font-size: .9rem; }
.comment-text { margin: .2rem 0 0; white-space: pre-line; overflow-wrap: anywhere; }
.comment-actions { margin-top: .2rem; }
section.community-latest { padding: 0 1rem 1rem; }
ul.post-list { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
ul.post-list li { display: grid; gap: .1rem; overflow-wrap: anywhere; }
ul.post-list .muted { font-size: .85rem; }
/* The home timeline (/home): its heading with the link to what one follows, and its empty state */
.timeline-head { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline; justify-content: space-between; margin-bottom: 1rem; }
.timeline-head h1 { margin: 0; }
.empty-state { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: .5rem 1rem; }
#offline.with-image { padding: 0; }
#offline.with-image img { display: block; width: 100%; height: auto; aspect-ratio: 16 / 9; object-fit: cover; }
#offline.with-image p { padding: 1rem; margin: 0; }
section.about { padding: 0 1rem 1rem; }
.description { white-space: pre-line; overflow-wrap: anywhere; }
ul.tags { list-style: none; display: flex; flex-wrap: wrap; gap: .35rem; padding: 0; margin: 0; }
ul.tags li { background: var(--panel); border: 1px solid var(--line); border-radius: 1rem; padding: 0 .6rem; font-size: .875rem; }
.image-uploads { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); }
.image-upload { display: grid; gap: .7rem; align-content: start; background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .8rem; }
.image-upload form:not(.stack) { margin: 0; }
.image-preview { display: block; width: 100%; height: auto; border-radius: .3rem; object-fit: cover; background: #000; }
.image-preview.kind-avatar { width: 8rem; height: 8rem; border-radius: 50%; }
.image-preview.kind-banner { aspect-ratio: 4 / 1; }
.image-preview.kind-offline { aspect-ratio: 16 / 9; }
.image-preview.empty { display: grid; place-items: center; color: var(--muted); border: 1px dashed var(--line); background: none; font-size: .9rem; }
input[type="file"] { padding: .4rem; }
.admin-nav { flex-wrap: wrap; gap: .25rem 1rem; }
.channel-actions { padding: .6rem 1rem 1rem; margin: 0; font-size: .9rem; }
.channel-actions a { color: var(--muted); }
.state-ok { color: var(--ok); font-weight: 600; }
.state-bad { color: var(--danger); font-weight: 600; }
ul.reports, ul.health { list-style: none; padding: 0; margin: 0; }
ul.health li { padding: .2rem 0; }
li.report { border: 1px solid var(--line); border-radius: .4rem; background: var(--panel); padding: .6rem .8rem; margin-bottom: .75rem; }
li.report p { margin: 0 0 .4rem; }
.report-details { white-space: pre-line; overflow-wrap: anywhere; border-left: 3px solid var(--line); padding-left: .6rem; }
.report-actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
form.disable { display: flex; flex-wrap: wrap; gap: .3rem; align-items: center; margin: 0; }
form.disable label { flex: 1 1 12rem; }
form.disable input { padding: .3rem .5rem; }
form.disable button { padding: .3rem .7rem; }
.report-actions button:not(.danger):not(.primary) { font: inherit; font-weight: 600; padding: .3rem .7rem; border-radius: .4rem; border: 1px solid var(--line); background: var(--panel); color: var(--text); cursor: pointer; }
.row-actions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
table.stacked td { vertical-align: top; }
table.channels-admin td:first-child a { white-space: nowrap; }
@media (max-width: 40rem) {
  table.stacked thead { display: none; }
  table.stacked tr { display: block; padding: .5rem 0; border-bottom: 1px solid var(--line); }
  table.stacked td { display: block; border: 0; padding: .15rem 0; }
  table.stacked td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
}
/* The schedule (community/schedule-pages.ts) and webhooks (community/webhook-pages.ts). */
ul.schedule { list-style: none; padding: 0; display: grid; gap: .5rem; }
ul.schedule li { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .8rem; display: grid; grid-template-columns: minmax(0, 1fr); gap: .15rem; }
ul.schedule li:has(> .avatar) { grid-template-columns: auto minmax(0, 1fr); column-gap: .8rem; }
ul.schedule li:has(> .avatar) > * { grid-column: 2; min-width: 0; }
ul.schedule li > .avatar { grid-column: 1; grid-row: 1 / span 4; align-self: center; }
ul.schedule li.live { border-color: #f66; }
.schedule-when { font-weight: 600; }
.schedule-channel { font-weight: 600; justify-self: start; }
.schedule-actions { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-start; margin-top: .4rem; }
.schedule-actions details { flex: 1 1 18rem; }
.schedule-actions summary { cursor: pointer; color: var(--link); padding: .3rem 0; }
.schedule-actions details[open] form { margin-top: .5rem; }
section.upcoming { padding: 0 1rem 1rem; }
section.webhook { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .9rem; margin: 0 0 1rem; display: grid; gap: .5rem; }
section.webhook h3, section.webhook h4, section.webhook p { margin: 0; }
.webhook-url { font-size: 1rem; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
.webhook-actions { display: flex; flex-wrap: wrap; gap: .5rem; }
.webhook-actions button { padding: .3rem .7rem; }
.tag { display: inline-block; border: 1px solid var(--line); border-radius: 1rem; padding: 0 .6rem; font-size: .875rem; }
td.delivery-delivered { color: var(--ok); }
td.delivery-failed, td.delivery-retrying { color: var(--danger); }
table.deliveries td { vertical-align: top; }
.go-live-preview { background: #000; border-radius: .4rem; overflow: hidden; aspect-ratio: 16 / 9; }
.go-live-preview video { width: 100%; height: 100%; object-fit: contain; display: block; }
.go-live-status { font-weight: 600; margin: 0; }
.go-live-status[data-phase="live"] { color: var(--danger); }
.go-live-status[data-phase="live"]::before { content: "● "; }
.go-live fieldset.choices { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
.go-live .actions { margin: 0; display: flex; flex-wrap: wrap; gap: .5rem; }
/* Calls (calls/pages.ts): the lobby's preview, the participants' tiles, the controls. */
.call-status { font-weight: 600; margin: 0 0 .75rem; }
.call-lobby { display: grid; gap: 1rem; grid-template-columns: minmax(0, 3fr) minmax(14rem, 2fr); align-items: start; }
.call-lobby-side { display: grid; gap: .6rem; }
.call-lobby-side p { margin: 0; }
@media (max-width: 40rem) { .call-lobby { grid-template-columns: 1fr; } }
.call-preview { background: #000; border-radius: .5rem; overflow: hidden; aspect-ratio: 16 / 9; }
.call-preview video, .call-tile video { width: 100%; height: 100%; object-fit: cover; display: block; }
.call-preview video, .call-tile.mine video { transform: scaleX(-1); }
.call-tiles { list-style: none; padding: 0; margin: 0 0 1rem; display: grid; gap: .5rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 16rem), 1fr)); }
.call-tiles[data-count="1"] { grid-template-columns: minmax(0, 48rem); justify-content: center; }
.call-tiles[data-count="2"] { grid-template-columns: repeat(auto-fit, minmax(min(100%, 20rem), 1fr)); }
.call-tile { position: relative; background: #15171c; border: 2px solid var(--line); border-radius: .5rem; overflow: hidden; aspect-ratio: 16 / 9; }
.call-tile.speaking { border-color: #5fd08a; }
.call-tile.screen video { object-fit: contain; background: #000; }
.call-tile.no-video video { visibility: hidden; }
.call-initial { display: none; position: absolute; inset: 0; margin: auto; width: 4.5rem; height: 4.5rem; border-radius: 50%; background: #2d6cdf; color: #fff; font-size: 2rem; font-weight: 700; place-items: center; }
.call-tile.no-video .call-initial { display: grid; }
.call-name { position: absolute; left: .4rem; bottom: .4rem; max-width: calc(100% - .8rem); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; background: rgb(0 0 0 / .65); padding: .1rem .5rem; border-radius: .3rem; font-size: .9rem; }
.call-muted { position: absolute; right: .4rem; top: .4rem; background: #8a2222; color: #fff; padding: .05rem .45rem; border-radius: .3rem; font-size: .8rem; font-weight: 600; }
.call-controls { display: flex; flex-wrap: wrap; gap: .5rem; justify-content: center; position: sticky; bottom: 0; padding: .6rem 0; background: var(--bg); }
.call-controls button:not(.danger), .copy-row button.secondary { font: inherit; font-weight: 600; padding: .55rem 1rem; border-radius: .4rem; border: 1px solid var(--line); background: var(--panel); color: var(--text); cursor: pointer; }
.call-controls button[aria-pressed="true"] { background: #4a2a2a; border-color: #a55; }
.call-invite-box { margin: .5rem 0 1rem; max-width: 28rem; }
.call-invite-box summary { cursor: pointer; color: var(--link); padding: .3rem 0; }
.call-invite { display: grid; gap: .3rem; margin-top: .4rem; }
.call-invite .field-error { margin: 0; }
/* A channel's studio (channels/studio.ts): the broadcast's controls above the call. */
.studio { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: .8rem 1rem; margin: 0 0 1rem; display: grid; gap: .6rem; }
.studio h2 { margin: 0; font-size: 1.15rem; }
.studio p, .studio form { margin: 0; }
.studio-status { font-weight: 600; }
.studio[data-live="true"] .studio-status { color: var(--danger); }
.studio[data-live="true"] .studio-status::before { content: "● "; }
.studio fieldset.choices { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; margin: 0 0 .6rem; }
.studio .actions { display: flex; flex-wrap: wrap; gap: .5rem; }
.studio-on-air { color: var(--danger); }
.studio-new-link { display: flex; flex-wrap: wrap; gap: .4rem .8rem; align-items: center; }
`,
)

export async function assetRoutes(app: FastifyInstance, options: {assets: readonly Asset[]}): Promise<void> {
  for (const item of options.assets) {
    app.get(item.path, async (_request, reply) => reply.type(item.type).header('cache-control', IMMUTABLE).send(item.body))
  }
}
