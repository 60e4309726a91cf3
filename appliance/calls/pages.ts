/**
 * The calls pages: /calls (start a room) and /calls/<room> (the room: preview, join, the
 * participants' tiles, mute, camera, screen share, leave). The room page's script is the bundled
 * browser client (calls/browser/call-page.ts, with mediasoup-client), served as an asset.
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {FastifyInstance, FastifyReply} from 'fastify'

import type {Users} from '../accounts/users.js'
import type {Notifier} from '../community/chat-notifications.js'

import {CALL_MAX_PARTICIPANTS, CALLS_NAMESPACE, playbackApiPath, ROOM_ID_PATTERN} from '../contract/index.js'
import {asset, type Asset} from '../web/assets.js'
import {csrfField, escapeHtml, formText, notFoundPage, page, sendPage as html, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'

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
const invitedText = (username: string): string => `We told ${escapeHtml(username)}: a link to this call is in their notifications.`

/** The form that invites an account into a room (rings their bell), or into a new room. */
function inviteForm(context: PageContext, action: string, view: {id: string; button: string; value?: string; error?: string}): string {
  const invalid = view.error === undefined ? '' : ` aria-invalid="true" aria-describedby="${view.id}-error"`
  return `<form method="post" action="${escapeHtml(action)}" class="call-invite" id="${view.id}">
${csrfField(context.csrfToken)}
<label for="${view.id}-username">Username</label>
<div class="copy-row"><input id="${view.id}-username" name="username" required maxlength="30" autocomplete="off" value="${escapeHtml(view.value ?? '')}"${invalid}><button type="submit" class="secondary">${escapeHtml(view.button)}</button></div>
<p class="field-error" id="${view.id}-error" role="alert"${view.error === undefined ? ' hidden' : ''}>${escapeHtml(view.error ?? '')}</p>
</form>`
}

export function callsIndexPage(context: PageContext, view: {username?: string; error?: string} = {}): string {
  return page(context, {
    title: 'Calls',
    width: 'narrow',
    body: `<h1>Calls</h1>
<p>Talk face to face with up to ${CALL_MAX_PARTICIPANTS} people, in the browser.</p>
<h2>Call someone</h2>
<p class="hint">They are told in their notifications (and by mail, if they chose it), with a link into the call.</p>
${inviteForm(context, '/calls/invite', {id: 'call-someone', button: 'Call', ...(view.username === undefined ? {} : {value: view.username}), ...(view.error === undefined ? {} : {error: view.error})})}
<h2>Open a room</h2>
<p class="hint">Then send its link to whoever you want in it: anyone with the link and an account here can join while the room is in use.</p>
<form method="post" action="/calls">
${csrfField(context.csrfToken)}
<p><button class="primary" type="submit">Open a room</button></p>
</form>`,
  })
}

/**
 * The room's page. `studio`: a channel's studio (co-streaming) as its host sees it, with the
 * broadcast's controls (`panel`) beside the call; `studioOf`: the channel whose studio a guest's
 * room is, said at the top.
 */
export function callRoomPage(
  context: PageContext,
  view: {room: string; publicUrl: string; socketIoUrl: string; callJsUrl: string; invited?: string; studio?: {title: string; heading: string; panel: string}; studioOf?: string},
): string {
  const link = `${view.publicUrl.replace(/\/$/, '')}${roomPath(view.room)}`
  const guest =
    view.studioOf === undefined
      ? ''
      : `<p class="notice" id="studio-guest" data-playback="${escapeHtml(playbackApiPath(view.studioOf))}">This is the studio of <a href="/c/${encodeURIComponent(view.studioOf)}">${escapeHtml(view.studioOf)}</a>: while it is on the air, what your camera and microphone send may be seen and heard live by the channel's viewers, and recorded. <strong class="studio-on-air" id="studio-on-air" hidden>● On the air now.</strong></p>\n`
  return page(context, {
    title: view.studio?.title ?? (view.studioOf === undefined ? 'Call' : `Studio · ${view.studioOf}`),
    width: 'wide',
    scripts: [view.socketIoUrl, view.callJsUrl],
    data: {room: view.room, namespace: CALLS_NAMESPACE},
    body: `<div class="call" id="call">
${view.studio === undefined ? `<h1>${view.studioOf === undefined ? 'Call' : 'Studio'}</h1>` : view.studio.heading}
${guest}${view.studio?.panel ?? ''}
<p class="notice error" id="call-problem" role="alert" hidden></p>
<p class="notice ok" id="call-notice" role="status"${view.invited === undefined ? ' hidden' : ''}>${view.invited === undefined ? '' : invitedText(view.invited)}</p>
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
<p><button type="button" class="primary" id="sound" hidden>The browser holds the sound back: turn it on</button></p>
<div class="call-controls" role="toolbar" aria-label="Call controls">
<button type="button" id="mute" aria-pressed="false">Mute</button>
<button type="button" id="camera" aria-pressed="false">Camera off</button>
<button type="button" id="share" aria-pressed="false">Share screen</button>
<button type="button" data-copy="room-link">Copy link</button>
<button type="button" class="danger" id="leave">Leave</button>
</div>
</section>
<details class="call-invite-box"><summary>Invite someone by username</summary>
${inviteForm(context, `${roomPath(view.room)}/invite`, {id: 'invite', button: 'Invite'})}
</details>
<section id="left" hidden><p id="left-text">You left the call.</p><p><button class="primary" type="button" id="rejoin">Join again</button> <a href="/calls">Calls</a></p></section>
</div>`,
  })
}

export interface CallRoutesOptions {
  users: Users
  /** Rings the invited person's bell (and mails them, if they chose it). */
  notify: Notifier
  socketIoJs: Asset
  callJs: Asset
  /** The site's address, for the room's link. */
  publicUrl: string
  pageContext: PageContextOf
  /** The channel whose studio this room is, if it is one. */
  studioOf?: (room: string) => Promise<string | undefined>
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
  /** Tells `username` that the viewer invites them into `room`; the refusal to show, if any. */
  const invite = async (inviter: {id: string; username: string}, room: string, username: string): Promise<string | undefined> => {
    const name = username.trim().replace(/^@/, '')
    if (name === '') return 'Write the username of the person to call.'
    const invitee = await options.users.byUsername(name)
    if (invitee === null || invitee.status !== 'active') return `Nobody here is called ${name}: check the spelling.`
    if (invitee._id.toHexString() === inviter.id) return 'That is you: write someone else\'s username.'
    await options.notify({kind: 'call', key: `call:${room}`, userIds: [invitee._id.toHexString()], actor: inviter.username, text: `${inviter.username} invites you to a call`, url: roomPath(room)})
    return undefined
  }
  // At most 30 invitations a minute from one address: a bell is no place for spam.
  const limited = {config: {rateLimit: {max: 30, timeWindow: 60_000}}}
  app.post<{Body: Record<string, unknown>}>('/calls/invite', limited, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const room = randomBytes(16).toString('base64url')
    const username = formText(request.body?.username)
    const refusal = await invite(viewer, room, username)
    if (refusal !== undefined) return html(reply, 400, callsIndexPage(pageContext(request, reply, {form: true}), {username, error: refusal}))
    return reply.redirect(`${roomPath(room)}?invited=${encodeURIComponent(username.trim().replace(/^@/, ''))}`, 303)
  })
  // From the room's page: the script sends it (accept: JSON) and stays in the call.
  app.post<{Params: {room: string}; Body: Record<string, unknown>}>('/calls/:room/invite', limited, async (request, reply): Promise<FastifyReply> => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    if (!ROOM_ID_PATTERN.test(request.params.room)) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'No room has that address.'}))
    const username = formText(request.body?.username).trim().replace(/^@/, '')
    const refusal = await invite(viewer, request.params.room, username)
    if (request.headers.accept?.includes('application/json') === true) {
      return reply.code(refusal === undefined ? 200 : 400).send(refusal === undefined ? {invited: username} : {error: refusal})
    }
    return reply.redirect(`${roomPath(request.params.room)}${refusal === undefined ? `?invited=${encodeURIComponent(username)}` : ''}`, 303)
  })
  app.get<{Params: {room: string}; Querystring: {invited?: unknown}}>('/calls/:room', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    if (!ROOM_ID_PATTERN.test(request.params.room)) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'No room has that address: check the link, or open a new room.'}))
    const invited = typeof request.query.invited === 'string' && request.query.invited.length <= 30 ? request.query.invited : undefined
    const studioOf = await options.studioOf?.(request.params.room).catch(() => undefined)
    return html(
      reply,
      200,
      callRoomPage(pageContext(request, reply, {form: true}), {
        room: request.params.room,
        publicUrl: options.publicUrl,
        socketIoUrl: options.socketIoJs.url,
        callJsUrl: options.callJs.url,
        ...(invited === undefined ? {} : {invited}),
        ...(studioOf === undefined ? {} : {studioOf}),
      }),
    )
  })
}
