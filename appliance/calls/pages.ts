/**
 * The calls pages: /calls (start a room) and /calls/<room> (the room: preview, join, the
 * participants' tiles, mute, camera, screen share, leave). The room page's script is the bundled
 * browser client (calls/browser/call-page.ts, with mediasoup-client), served as an asset.
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {FastifyInstance} from 'fastify'

import {CALL_MAX_PARTICIPANTS, CALLS_NAMESPACE, ROOM_ID_PATTERN} from '../contract/index.js'
import {asset, type Asset} from '../web/assets.js'
import {csrfField, escapeHtml, notFoundPage, page, sendPage as html, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'

/** Where the build puts the bundled client (appliance/scripts/bundle-browser.mjs). */
const CALL_BUNDLE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../browser/calls.js')

/** The room page's script: mediasoup-client and the page, bundled at build time. */
export async function loadCallJs(): Promise<Asset> {
  let body: Buffer
  try {
    body = await readFile(CALL_BUNDLE)
  } catch (error) {
    throw new Error(`the calls page's script is missing (${CALL_BUNDLE}): build the appliance with \`npm run build:appliance\``, {cause: error})
  }
  return asset('/assets/calls.js', 'text/javascript; charset=utf-8', body)
}

export const roomPath = (room: string): string => `/calls/${room}`

export function callsIndexPage(context: PageContext): string {
  return page(context, {
    title: 'Calls',
    body: `<h1>Calls</h1>
<p>Talk face to face with up to ${CALL_MAX_PARTICIPANTS} people, in the browser: open a room, then send its link to whoever you want in it. Anyone with the link and an account here can join while the room is in use.</p>
<form method="post" action="/calls" class="stack narrow-form">
${csrfField(context.csrfToken)}
<p><button class="primary" type="submit">Open a room</button></p>
</form>`,
  })
}

export function callRoomPage(context: PageContext, view: {room: string; publicUrl: string; socketIoUrl: string; callJsUrl: string}): string {
  const link = `${view.publicUrl.replace(/\/$/, '')}${roomPath(view.room)}`
  return page(context, {
    title: 'Call',
    width: 'wide',
    scripts: [view.socketIoUrl, view.callJsUrl],
    data: {room: view.room, namespace: CALLS_NAMESPACE},
    body: `<div class="call" id="call">
<h1>Call</h1>
<p class="notice error" id="call-problem" role="alert" hidden></p>
<p id="call-status" class="call-status" role="status" aria-live="polite" data-phase="loading">Loading…</p>
<section id="lobby" class="call-lobby" aria-label="Before you join">
<div class="call-preview"><video id="preview" muted autoplay playsinline aria-label="Your camera"></video></div>
<div class="call-lobby-side">
<p>Check your camera and microphone, then join. The others see and hear you once you are in.</p>
<label class="choice"><input type="checkbox" id="join-camera" checked> Camera on</label>
<label class="choice"><input type="checkbox" id="join-mic" checked> Microphone on</label>
<p><button class="primary" type="button" id="join" disabled>Join the call</button></p>
<div class="copy-row"><label class="visually-hidden" for="room-link">Room link</label><input id="room-link" readonly value="${escapeHtml(link)}"><button type="button" class="secondary" data-copy="room-link">Copy link</button></div>
</div>
</section>
<section id="room" class="call-room" aria-label="In the call" hidden>
<ul id="tiles" class="call-tiles" aria-label="Participants"></ul>
<div class="call-controls" role="toolbar" aria-label="Call controls">
<button type="button" id="mute" aria-pressed="false">Mute</button>
<button type="button" id="camera" aria-pressed="false">Camera off</button>
<button type="button" id="share" aria-pressed="false">Share screen</button>
<button type="button" data-copy="room-link">Copy link</button>
<button type="button" class="danger" id="leave">Leave</button>
</div>
</section>
<section id="left" hidden><p>You left the call.</p><p><button class="primary" type="button" id="rejoin">Join again</button> <a href="/calls">Calls</a></p></section>
</div>`,
  })
}

export interface CallRoutesOptions {
  socketIoJs: Asset
  callJs: Asset
  /** The site's address, for the room's link. */
  publicUrl: string
  pageContext: PageContextOf
}

export async function callRoutes(app: FastifyInstance, options: CallRoutesOptions): Promise<void> {
  const {pageContext} = options
  app.get('/calls', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    return html(reply, 200, callsIndexPage(pageContext(request, reply, {form: true})))
  })
  // A new room: 128 random bits; it exists on an SFU from its first join until its last leave.
  app.post('/calls', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    return reply.redirect(roomPath(randomBytes(16).toString('base64url')), 303)
  })
  app.get<{Params: {room: string}}>('/calls/:room', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    if (!ROOM_ID_PATTERN.test(request.params.room)) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'No room has that address: check the link, or open a new room.'}))
    return html(reply, 200, callRoomPage(pageContext(request, reply), {room: request.params.room, publicUrl: options.publicUrl, socketIoUrl: options.socketIoJs.url, callJsUrl: options.callJs.url}))
  })
}
