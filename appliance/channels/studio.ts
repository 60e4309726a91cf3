/**
 * A channel's studio (co-streaming, docs/costream.md): a call room of the channel's own, whose
 * link the streamer sends to up to three guests. From the studio page (the call, with the
 * broadcast's controls) the streamer puts the room on the air in a layout of 1, 2 or 4 tiles:
 * the web asks the least-loaded ingest with a free slot to composite it, and later to change the
 * layout or to end it (contract: COSTREAM_PATH).
 */
import {randomBytes} from 'node:crypto'

import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import type {Viewer} from '../accounts/users.js'
import {callRoomPage} from '../calls/pages.js'
import {roomSfu} from '../calls/placement.js'
import {
  COSTREAM_EMPTY_ROOM,
  COSTREAM_MAX_GUESTS,
  COSTREAM_PATH,
  costreamLayouts,
  costreamEndedKey,
  costreamLiveKey,
  costreamLiveSchema,
  sfuRpcToken,
  type CostreamLayout,
  type CostreamLive,
} from '../contract/index.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'
import type {Asset} from '../web/assets.js'
import {csrfField, escapeHtml, formText as text, notFoundPage, sendPage as html, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'
import {Channels, type ChannelDoc} from './channels.js'

export interface StudioOptions {
  db: Db
  redis: Redis
  streamKeySecret: string
  publicUrl: string
  socketIoJs: Asset
  callJs: Asset
  goLiveRefusal: (viewer: Viewer) => string | undefined
  pageContext: PageContextOf
  log: Logger
}

export const studioPath = (channel: string): string => `/dashboard/c/${encodeURIComponent(channel)}/studio`
/** How long an ingest may take to put the studio on the air (SFU round trips, ffmpeg starting). */
const INGEST_TIMEOUT_MS = 20_000

const layoutNames: Record<CostreamLayout, string> = {1: 'Just you', 2: 'You and a guest, side by side', 4: 'Up to four, in a grid'}

/** The studio's room: made on first use, replaced when the streamer wants a new link. */
export async function studioRoom(channels: Channels, channel: string, fresh = false): Promise<string> {
  if (!fresh) {
    const found = await channels.collection.findOne({name: channel}, {projection: {studioRoom: 1}})
    if (found?.studioRoom !== undefined) return found.studioRoom
  }
  const room = randomBytes(16).toString('base64url')
  if (fresh) {
    await channels.collection.updateOne({name: channel}, {$set: {studioRoom: room}})
    return room
  }
  // Two first visits at once: the first one's room is the studio's.
  await channels.collection.updateOne({name: channel, studioRoom: {$exists: false}}, {$set: {studioRoom: room}})
  const stored = await channels.collection.findOne({name: channel}, {projection: {studioRoom: 1}})
  return stored?.studioRoom ?? room
}

/** Whether the studio is on the air, and how; else why its last broadcast ended, if that was lately. */
export async function studioLive(redis: Redis, channel: string): Promise<CostreamLive | undefined> {
  const parsed = costreamLiveSchema.safeParse(safeJson((await redis.get(costreamLiveKey(channel))) ?? ''))
  return parsed.success ? parsed.data : undefined
}

interface StudioState {
  live?: CostreamLive
  /** Why the last broadcast ended (the ingest says so for a few minutes). */
  ended?: string
}

async function studioState(redis: Redis, channel: string): Promise<StudioState> {
  const [live, ended] = await Promise.all([studioLive(redis, channel), redis.get(costreamEndedKey(channel)).catch(() => null)])
  return {...(live === undefined ? {} : {live}), ...(ended === null || live !== undefined ? {} : {ended})}
}

const statusText = ({live, ended}: StudioState): string =>
  live === undefined
    ? `Off the air${ended === undefined ? '' : ` (the last broadcast ended: ${ended})`}. Join the call, choose a layout, then go live.`
    : `On the air: ${live.tiles.length === 0 ? 'nobody is in the picture' : live.tiles.join(', ')} (${layoutNames[live.layout].toLowerCase()}).`

export function studioPanel(context: PageContext, view: {channel: ChannelDoc; live?: CostreamLive; ended?: string; refusal?: string}): string {
  const path = studioPath(view.channel.name)
  const chosen = view.live?.layout ?? 2
  const radios = costreamLayouts
    .map((layout) => `<label class="choice"><input type="radio" name="layout" value="${layout}"${layout === chosen ? ' checked' : ''}> ${escapeHtml(layoutNames[layout])}</label>`)
    .join('\n')
  const controls =
    view.refusal !== undefined
      ? `<p class="notice" id="studio-refusal">${escapeHtml(view.refusal)} <a href="/account">Your account</a></p>`
      : view.channel.disabled !== undefined
        ? `<p class="notice error" role="alert">This channel is disabled by the site's moderators: it cannot go live.</p>`
        : `<form id="studio-form" class="stack" method="post" action="${path}/live">
${csrfField(context.csrfToken)}
<fieldset class="choices"><legend>Layout</legend>
${radios}
</fieldset>
<p class="actions"><button class="primary" type="submit" id="studio-live"${view.live === undefined ? '' : ' hidden'}>Go live</button> <button class="secondary" type="submit" id="studio-layout" formaction="${path}/layout"${view.live === undefined ? ' hidden' : ''}>Change the layout</button> <button class="danger" type="submit" id="studio-stop" formaction="${path}/stop"${view.live === undefined ? ' hidden' : ''}>End broadcast</button></p>
</form>`
  return `<section class="studio" id="studio" aria-labelledby="studio-heading" data-live="${view.live === undefined ? 'false' : 'true'}" data-state="${path}/state.json">
<h2 id="studio-heading">Broadcast</h2>
<p class="notice error" id="studio-problem" role="alert" hidden></p>
<p class="studio-status" id="studio-status" role="status" aria-live="polite">${escapeHtml(statusText(view))}</p>
${controls}
<p class="hint">Invite up to ${COSTREAM_MAX_GUESTS} guests: send them the room's link (Copy link). They join with their camera and microphone; you are the first tile, then the others in the order they came. Viewers see it on <a href="/c/${encodeURIComponent(view.channel.name)}">your channel page</a>, and it is recorded like any broadcast.</p>
<form method="post" action="${path}/new-link" class="studio-new-link">
${csrfField(context.csrfToken)}
<button type="submit" class="secondary">New link</button> <span class="hint">A new room for the studio: what is sent on the old link is no longer on the air.</span>
</form>
</section>`
}

/** What the page's script reads (state.json, and the answer to each of its requests). */
const stateAnswer = (state: StudioState): {live: boolean; layout?: number; tiles?: string[]; status: string} => ({
  live: state.live !== undefined,
  ...(state.live === undefined ? {} : {layout: state.live.layout, tiles: state.live.tiles}),
  status: statusText(state),
})

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host)

export async function studioRoutes(app: FastifyInstance, options: StudioOptions): Promise<void> {
  const {redis, pageContext, log} = options
  const channels = new Channels(options.db)
  const token = sfuRpcToken(options.streamKeySecret)
  const owned = async (request: FastifyRequest<{Params: {channel: string}}>): Promise<ChannelDoc | null> =>
    request.viewer === undefined ? null : channels.owned(request.params.channel, request.viewer.id)

  const studioPage = async (request: FastifyRequest<{Params: {channel: string}}>, reply: FastifyReply, channel: ChannelDoc, problem?: string): Promise<FastifyReply> => {
    const room = await studioRoom(channels, channel.name)
    const state = await studioState(redis, channel.name)
    const refusal = options.goLiveRefusal(request.viewer!)
    const context = pageContext(request, reply, {form: true})
    const panel = studioPanel(context, {channel, ...state, ...(refusal === undefined ? {} : {refusal})})
    const heading = `<p><a href="/dashboard/c/${encodeURIComponent(channel.name)}">${escapeHtml(channel.name)}'s dashboard</a></p>
<h1>Studio</h1>${problem === undefined ? '' : `\n<p class="notice error" role="alert">${escapeHtml(problem)}</p>`}`
    return html(
      reply,
      problem === undefined ? 200 : 409,
      callRoomPage(context, {room, publicUrl: options.publicUrl, socketIoUrl: options.socketIoJs.url, callJsUrl: options.callJs.url, studio: {title: `Studio · ${channel.name}`, heading, panel}}),
    )
  }

  app.get<{Params: {channel: string}}>('/dashboard/c/:channel/studio', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    const channel = await owned(request)
    if (channel === null) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You have no channel by that name.'}))
    return studioPage(request, reply, channel)
  })

  app.get<{Params: {channel: string}}>('/dashboard/c/:channel/studio/state.json', async (request, reply) => {
    if (request.viewer === undefined) return reply.code(401).send({error: 'unauthorized', message: 'Your session ended: log in again.'})
    const channel = await owned(request)
    if (channel === null) return reply.code(404).send({error: 'not found', message: 'You have no channel by that name.'})
    return reply.header('cache-control', 'no-store').send(stateAnswer(await studioState(redis, channel.name)))
  })

  /** Sends the studio's request to an ingest; its answer, or why there is none. */
  const toIngest = async (ingest: {host: string; ports: {http?: number}}, channel: string, method: 'POST' | 'PUT' | 'DELETE', body?: unknown): Promise<{status: number; answer: {message?: string; tiles?: string[]}}> => {
    try {
      const response = await fetch(`http://${urlHost(ingest.host)}:${ingest.ports.http}${COSTREAM_PATH}/${encodeURIComponent(channel)}`, {
        method,
        headers: {authorization: `Bearer ${token}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
        ...(body === undefined ? {} : {body: JSON.stringify(body)}),
        signal: AbortSignal.timeout(INGEST_TIMEOUT_MS),
      })
      return {status: response.status, answer: (await response.json().catch(() => ({}))) as {message?: string}}
    } catch (error) {
      log.warn({channel, err: (error as Error).message}, 'studio: the ingest does not answer')
      return {status: 503, answer: {message: 'The server does not answer: try again in a moment.'}}
    }
  }

  /** A JSON answer for the page's script, or the page again for a browser without it. */
  const answer = async (request: FastifyRequest<{Params: {channel: string}}>, reply: FastifyReply, channel: ChannelDoc, status: number, message?: string): Promise<FastifyReply> => {
    if (request.headers.accept?.includes('application/json') === true) {
      return reply
        .code(status)
        .header('cache-control', 'no-store')
        .send({...stateAnswer(await studioState(redis, channel.name)), ...(message === undefined ? {} : {message})})
    }
    if (status < 400) return reply.redirect(studioPath(channel.name), 303)
    return studioPage(request, reply, channel, message)
  }

  const layoutOf = (request: FastifyRequest<{Body: Record<string, unknown>}>): CostreamLayout | undefined => {
    const value = Number(text(request.body?.layout))
    return costreamLayouts.find((layout) => layout === value)
  }

  type StudioRequest = FastifyRequest<{Params: {channel: string}; Body: Record<string, unknown>}>
  const guarded = async (request: StudioRequest, reply: FastifyReply, then: (channel: ChannelDoc) => Promise<FastifyReply>): Promise<FastifyReply> => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    const channel = await owned(request)
    if (channel === null) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You have no channel by that name.'}))
    return then(channel)
  }

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/studio/live', async (request, reply) =>
    guarded(request, reply, async (channel) => {
      const refusal = options.goLiveRefusal(request.viewer!)
      if (refusal !== undefined) return answer(request, reply, channel, 403, refusal)
      if (channel.disabled !== undefined) return answer(request, reply, channel, 403, "This channel is disabled by the site's moderators: it cannot go live.")
      const layout = layoutOf(request)
      if (layout === undefined) return answer(request, reply, channel, 400, 'Choose a layout: 1, 2 or 4 tiles.')
      if ((await studioLive(redis, channel.name)) !== undefined) return answer(request, reply, channel, 200)
      const room = await studioRoom(channels, channel.name)
      // Nobody there is said first: it is true whatever the servers' load.
      if ((await roomSfu(redis, room).catch(() => undefined)) === undefined) return answer(request, reply, channel, 409, COSTREAM_EMPTY_ROOM)
      const ingests = (await listNodes(redis, 'ingest').catch(() => [])).filter((n) => (n.load.slotsFree ?? 0) > 0 && n.ports.http !== undefined)
      const ingest = ingests[0]
      if (ingest === undefined) return answer(request, reply, channel, 503, 'No server has room for another broadcast now: try again in a few minutes.')
      const started = await toIngest(ingest, channel.name, 'POST', {room, host: request.viewer!.username, layout})
      if (started.status !== 201) {
        log.info({channel: channel.name, ingest: ingest.id, status: started.status, why: started.answer.message}, 'studio: the ingest did not put it on the air')
        return answer(request, reply, channel, started.status >= 500 ? 503 : 409, started.answer.message ?? 'The studio could not go live: try again in a moment.')
      }
      log.info({channel: channel.name, ingest: ingest.id, layout}, 'studio: on the air')
      return answer(request, reply, channel, 200)
    }),
  )

  /** The ingest the studio is on the air from, or the answer that it is not. */
  const onAir = async (channel: ChannelDoc): Promise<{live: CostreamLive; ingest: {host: string; ports: {http?: number}}} | undefined> => {
    const live = await studioLive(redis, channel.name)
    if (live === undefined) return undefined
    const ingest = (await listNodes(redis, 'ingest').catch(() => [])).find((n) => n.id === live.ingest && n.ports.http !== undefined)
    return ingest === undefined ? undefined : {live, ingest}
  }

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/studio/layout', async (request, reply) =>
    guarded(request, reply, async (channel) => {
      const layout = layoutOf(request)
      if (layout === undefined) return answer(request, reply, channel, 400, 'Choose a layout: 1, 2 or 4 tiles.')
      const air = await onAir(channel)
      if (air === undefined) return answer(request, reply, channel, 409, 'The studio is not on the air: go live first.')
      const changed = await toIngest(air.ingest, channel.name, 'PUT', {layout})
      if (changed.status !== 200) return answer(request, reply, channel, 409, changed.answer.message ?? 'The layout could not be changed: try again.')
      return answer(request, reply, channel, 200)
    }),
  )

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/studio/stop', async (request, reply) =>
    guarded(request, reply, async (channel) => {
      const air = await onAir(channel)
      if (air !== undefined) {
        const ended = await toIngest(air.ingest, channel.name, 'DELETE')
        if (ended.status !== 204 && ended.status !== 404) return answer(request, reply, channel, 503, ended.answer.message ?? 'The broadcast could not be ended: try again.')
      }
      await redis.del(costreamLiveKey(channel.name)).catch(() => undefined)
      log.info({channel: channel.name}, 'studio: off the air')
      return answer(request, reply, channel, 200)
    }),
  )

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/studio/new-link', async (request, reply) =>
    guarded(request, reply, async (channel) => {
      if ((await studioLive(redis, channel.name)) !== undefined) return answer(request, reply, channel, 409, 'End the broadcast first: a new link makes a new room, and the broadcast shows the old one.')
      await studioRoom(channels, channel.name, true)
      return reply.redirect(studioPath(channel.name), 303)
    }),
  )
}

/** The channel whose studio `room` is (for the guest's page), if any. */
export async function studioOf(db: Db, room: string): Promise<string | undefined> {
  const found = await new Channels(db).collection.findOne({studioRoom: room}, {projection: {name: 1}})
  return found?.name
}
