/**
 * Clips on the web: a viewer with an account cuts one from the Clip form under a player (a form
 * post that goes on to the clip's page) or the API (202 with its id); the clip's status as JSON;
 * its page; its media served from S3 (its own objects, and the archive segments its playlist
 * reuses, by name); its deletion by whoever cut it, the channel's owner, its chat moderators or
 * the site's staff.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import {z} from 'zod'

import type {Viewer} from '../accounts/users.js'
import {Channels} from '../channels/channels.js'
import {StreamStates} from '../channels/stream-state.js'
import {standingOf, type ChatRooms} from '../chat/rooms.js'
import {CHANNEL_PATTERN, channelNameSchema} from '../contract/index.js'
import type {MediaSettings} from '../contract/media.js'
import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'
import {listObjectNames, type Storage} from '../platform/storage.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {STREAM_ID_PATTERN, streamStartedAt, vodPage, VODS_COLLECTION, type VodDoc} from '../vods/vods.js'
import {assetRoutes, IMMUTABLE, type Asset} from '../web/assets.js'
import {errorPage, formText, notFoundPage, sendPage, viewerOrLogIn, type PageContextOf} from '../web/html.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {sendStoredObject} from '../web/stored-object.js'
import {CLIP_ID_PATTERN, CLIP_MIN_SECONDS, CLIP_TITLE_MAX, clipMedia, clipPage, clipPrefix, Clips, clipTitle, newClipId, type ClipDoc} from './clips.js'
import {clipJs} from './clip-script.js'
import {channelClips, clipPageHtml} from './pages.js'

export interface ClipRoutesOptions {
  db: Db
  redis: Redis
  storage: Storage
  jobs: JobQueues
  rooms: ChatRooms
  media: MediaSettings
  hlsJs: Asset
  pageContext: PageContextOf
  log: Logger
}

/** What a viewer asked for, before it is checked. */
interface ClipInput {
  channel: string
  title: string
  seconds: number
  /** A VOD's broadcast; absent: the live one. */
  streamId?: string
  startSeconds?: number
}

/** A refusal the viewer can act on (400 page, or the API's 400/404/409). */
class ClipInputError extends Error {
  override name = 'ClipInputError'
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message)
  }
}

const clipStatusSchema = z.object({
  clipId: z.string(),
  channel: z.string(),
  streamId: z.string(),
  title: z.string(),
  status: z.enum(['pending', 'ready', 'failed']),
  reason: z.string().optional().describe('Why it failed'),
  notice: z.string().optional().describe('Why it is shorter than asked (cut at an interruption of the broadcast)'),
  rendition: z.string().optional(),
  startOffsetSeconds: z.number().optional().describe('Where it starts in the broadcast'),
  durationSeconds: z.number().optional(),
  createdAt: z.string(),
  page: z.string().describe('/clip/<id>'),
  playable: z.boolean().describe('It plays (its HLS form is written); the MP4 and poster come when it is ready'),
  hls: z.string().optional().describe('Its HLS playlist, once playable'),
  mp4: z.string().optional().describe('Its MP4 (faststart), once ready'),
  poster: z.string().optional(),
})
type ClipStatusJson = z.infer<typeof clipStatusSchema>

const createSchema = z.strictObject({
  channel: channelNameSchema,
  title: z.string().min(1).max(400).describe(`Its name (1–${CLIP_TITLE_MAX} characters once spaces are tidied)`),
  seconds: z.number().int().min(CLIP_MIN_SECONDS).max(60).describe('How long; at most the site\'s media.clips.maxSeconds'),
  streamId: z.string().regex(STREAM_ID_PATTERN).optional().describe('A past broadcast to clip; left out: the last `seconds` of the live one'),
  startSeconds: z.number().min(0).optional().describe('With streamId: where the clip starts, in seconds into the broadcast'),
})

export function clipJson(clip: ClipDoc): ClipStatusJson {
  const ready = clip.status === 'ready'
  const playable = ready || (clip.status === 'pending' && clip.playable === true)
  return {
    clipId: clip.clipId,
    channel: clip.channel,
    streamId: clip.streamId,
    title: clip.title,
    status: clip.status,
    ...(clip.reason === undefined ? {} : {reason: clip.reason}),
    ...(clip.notice === undefined ? {} : {notice: clip.notice}),
    ...(clip.rendition === undefined ? {} : {rendition: clip.rendition}),
    ...(clip.startOffsetSeconds === undefined ? {} : {startOffsetSeconds: clip.startOffsetSeconds}),
    ...(clip.durationSeconds === undefined ? {} : {durationSeconds: clip.durationSeconds}),
    createdAt: clip.createdAt.toISOString(),
    page: clipPage(clip.clipId),
    playable,
    ...(playable ? {hls: clipMedia(clip.clipId, 'index.m3u8')} : {}),
    ...(ready ? {mp4: clipMedia(clip.clipId, 'clip.mp4')} : {}),
    ...(ready && clip.poster === true ? {poster: clipMedia(clip.clipId, 'poster.jpg')} : {}),
  }
}

/** "12:34" or "1:02:03" (or plain seconds) → seconds; undefined when it is none of these. */
export function parseClock(text: string): number | undefined {
  const match = /^\s*(?:(\d{1,3}):)?(?:(\d{1,3}):)?(\d{1,5})\s*$/.exec(text)
  if (match === null) return undefined
  const parts = [match[1], match[2], match[3]].filter((p): p is string => p !== undefined).map(Number)
  return parts.reduce((total, part) => total * 60 + part, 0)
}

/** A clip's objects under clips/<id>/ (what the media route serves by name besides the archive's). */
const OWN_MEDIA: Record<string, string> = {'index.m3u8': 'application/vnd.apple.mpegurl', 'clip.mp4': 'video/mp4', 'poster.jpg': 'image/jpeg'}
const SEGMENT_NAME = /^seg\d{1,10}\.m4s$/

export async function clipRoutes(app: FastifyInstance, options: ClipRoutesOptions): Promise<void> {
  const {db, storage, jobs, rooms, pageContext, log} = options
  const clips = new Clips(db)
  const channels = new Channels(db)
  const states = new StreamStates(options.redis)
  const maxSeconds = options.media.clips.maxSeconds
  // The media route asks for the clip at every segment: a ready clip is kept 5 s (its segments never change).
  const readyClips = new TtlCache<string, ClipDoc | null>(5000)
  await assetRoutes(app, {assets: [clipJs]})

  /** Checks the request and records the clip (pending), then hands it to a worker. */
  const create = async (viewer: Viewer, input: ClipInput): Promise<ClipDoc> => {
    const named = clipTitle(input.title)
    if ('problem' in named) throw new ClipInputError(400, named.problem)
    if (!Number.isInteger(input.seconds) || input.seconds < CLIP_MIN_SECONDS || input.seconds > maxSeconds) {
      throw new ClipInputError(400, `A clip is ${CLIP_MIN_SECONDS} to ${maxSeconds} seconds long.`)
    }
    const channel = CHANNEL_PATTERN.test(input.channel) ? await channels.byName(input.channel) : null
    if (channel === null || channel.disabled !== undefined) throw new ClipInputError(404, 'There is no channel by that name.')
    let streamId: string
    let startSeconds: number | undefined
    if (input.streamId === undefined) {
      const live = await states.get(channel.name)
      if (live === undefined) throw new ClipInputError(409, `${channel.name} is not live: clip one of its past broadcasts instead.`)
      streamId = live.streamId
    } else {
      const vod = STREAM_ID_PATTERN.test(input.streamId) ? await db.collection<VodDoc>(VODS_COLLECTION).findOne({channel: channel.name, streamId: input.streamId}) : null
      if (vod === null) throw new ClipInputError(404, 'There is no such broadcast on this channel.')
      startSeconds = input.startSeconds ?? 0
      if (!Number.isFinite(startSeconds) || startSeconds < 0 || startSeconds >= vod.durationSeconds) {
        throw new ClipInputError(400, `The broadcast is ${Math.floor(vod.durationSeconds)} s long: start the clip within it.`)
      }
      streamId = vod.streamId
    }
    const clip: ClipDoc = {
      clipId: newClipId(),
      channel: channel.name,
      streamId,
      title: named.title,
      createdBy: viewer.id,
      createdByName: viewer.username,
      request: {seconds: input.seconds, ...(startSeconds === undefined ? {} : {startSeconds})},
      status: 'pending',
      segmentKeys: [],
      createdAt: new Date(),
    }
    await clips.create(clip)
    try {
      await jobs.enqueue('clip.create', {clipId: clip.clipId, channel: clip.channel, streamId, seconds: input.seconds, ...(startSeconds === undefined ? {} : {startSeconds})})
    } catch (error) {
      await clips.remove(clip.clipId)
      throw error
    }
    log.info({clipId: clip.clipId, channel: clip.channel, streamId, seconds: input.seconds, startSeconds, user: viewer.username}, 'clip asked for')
    return clip
  }

  /** Whoever cut it, the channel's owner, its chat moderators, and the site's staff. */
  const mayDelete = async (viewer: Viewer | undefined, clip: ClipDoc): Promise<boolean> => {
    if (viewer === undefined) return false
    if (viewer.id === clip.createdBy || viewer.role === 'admin' || viewer.role === 'moderator') return true
    const room = await rooms.get(clip.channel)
    return room !== null && standingOf(room, {id: viewer.id, role: viewer.role}).badge !== undefined
  }

  /** Its broadcast, to link to: the VOD while it exists, the channel while it is live. */
  const broadcastOf = async (clip: ClipDoc): Promise<{href: string; label: string} | undefined> => {
    const startedAt = streamStartedAt(clip.streamId)
    const when = startedAt === undefined ? '' : ` of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`
    if ((await db.collection<VodDoc>(VODS_COLLECTION).findOne({streamId: clip.streamId}, {projection: {_id: 1}})) !== null) {
      return {href: vodPage(clip.channel, clip.streamId), label: `The broadcast${when}`}
    }
    const live = await states.get(clip.channel).catch(() => undefined)
    return live?.streamId === clip.streamId ? {href: `/c/${encodeURIComponent(clip.channel)}`, label: `The live broadcast${when}`} : undefined
  }

  const refusal = (request: FastifyRequest, reply: FastifyReply, error: ClipInputError): FastifyReply => {
    let back: string | undefined
    try {
      const referer = new URL(request.headers.referer ?? '')
      if (referer.host === request.host) back = referer.pathname
    } catch {
      // No referer: the error page links to the front page.
    }
    return sendPage(reply, error.status, errorPage(pageContext(request, reply), {title: 'The clip was not made', message: error.message, ...(back === undefined ? {} : {back})}))
  }

  // The Clip form under a player: made, the viewer goes on to the clip's page (which shows it being made).
  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/c/:channel/clip', {config: {rateLimit: {max: 10, timeWindow: 60_000}}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const body = request.body ?? {}
    const streamId = formText(body.streamId)
    const start = formText(body.start)
    const startSeconds = start === '' ? undefined : parseClock(start)
    try {
      if (start !== '' && startSeconds === undefined) throw new ClipInputError(400, 'Say where the clip starts as minutes:seconds, e.g. 12:30.')
      const clip = await create(viewer, {
        channel: request.params.channel,
        title: formText(body.title),
        seconds: Number(formText(body.seconds)),
        ...(streamId === '' ? {} : {streamId}),
        ...(startSeconds === undefined ? {} : {startSeconds}),
      })
      return reply.redirect(clipPage(clip.clipId), 303)
    } catch (error) {
      if (error instanceof ClipInputError) return refusal(request, reply, error)
      throw error
    }
  })

  app.post<{Body: z.infer<typeof createSchema>}>(
    '/api/clips',
    {
      config: {rateLimit: {max: 10, timeWindow: 60_000}},
      schema: {
        summary: 'Cut a clip',
        description:
          'From a live channel: its last `seconds`; from a past broadcast (streamId): `seconds` from `startSeconds`. Whole segments of the broadcast\'s ' +
          'archive, no re-encode; a range across an interruption of the broadcast keeps its longest uninterrupted part (the clip says so) or is refused with the reason. ' +
          'Answers 202 at once: follow `status` until it is ready or failed. A logged-in browser session (with its CSRF token in x-csrf-token) only.',
        tags: ['streams'],
        security: [{session: []}],
        body: jsonSchema(createSchema, 'input'),
        response: {202: jsonSchema(clipStatusSchema.extend({status: z.literal('pending'), statusUrl: z.string()}).describe('Being made')), ...errorResponses(400, 401, 403, 404, 429)},
      },
    },
    async (request, reply) => {
      const viewer = request.viewer
      if (viewer === undefined) return reply.code(401).send({error: 'unauthorized', message: 'Log in to cut a clip.'})
      if (request.apiToken !== undefined) return reply.code(403).send({error: 'forbidden', message: 'Clips are cut from a logged-in browser session, not with a token.'})
      try {
        const clip = await create(viewer, request.body)
        return reply.code(202).header('location', `/api/clips/${clip.clipId}`).send({...clipJson(clip), status: 'pending', statusUrl: `/api/clips/${clip.clipId}`})
      } catch (error) {
        if (!(error instanceof ClipInputError)) throw error
        return reply.code(error.status).send({error: error.status === 404 ? 'not found' : error.status === 409 ? 'conflict' : 'bad request', message: error.message})
      }
    },
  )

  app.get<{Params: {clipId: string}}>(
    '/api/clips/:clipId',
    {
      schema: {
        summary: 'A clip and whether it is ready',
        tags: ['streams'],
        params: jsonSchema(z.object({clipId: z.string().regex(CLIP_ID_PATTERN)}), 'input'),
        response: {200: jsonSchema(clipStatusSchema.describe('The clip')), ...errorResponses(400, 404)},
      },
    },
    async (request, reply) => {
      const clip = await clips.get(request.params.clipId)
      if (clip === null) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found', message: 'There is no such clip (it may have been deleted).'})
      return reply.header('cache-control', 'no-store').send(clipJson(clip))
    },
  )

  app.get<{Params: {channel: string}}>(
    '/api/streams/:channel/clips',
    {
      schema: {
        summary: "A channel's clips",
        description: 'The ready ones, newest first (at most 50).',
        tags: ['streams'],
        params: jsonSchema(z.object({channel: channelNameSchema}), 'input'),
        response: {200: jsonSchema(z.object({channel: z.string(), clips: z.array(clipStatusSchema)}).describe('Its clips')), ...errorResponses(400, 404)},
      },
    },
    async (request, reply) => {
      const {channel} = request.params
      if ((await channels.byName(channel)) === null) return reply.code(404).send({error: 'not found', message: 'There is no channel by that name.'})
      return {channel, clips: (await clips.listReady(channel, 50)).map(clipJson)}
    },
  )

  app.get<{Params: {clipId: string}}>('/clip/:clipId', async (request, reply) => {
    const clip = await clips.get(request.params.clipId)
    const context = pageContext(request, reply)
    if (clip === null) return sendPage(reply, 404, notFoundPage(context, {what: 'There is no such clip: it may have been deleted.'}))
    const [broadcast, deletable] = await Promise.all([broadcastOf(clip), mayDelete(request.viewer, clip)])
    // A pending page changes within seconds, and the delete button is this viewer's: nobody caches it.
    return sendPage(reply, 200, clipPageHtml(context, {clip, hlsJs: options.hlsJs, broadcast, mayDelete: deletable}))
  })

  // The clip's media: its own objects, and the archive's init and segments its playlist names.
  app.get<{Params: {clipId: string; name: string}}>('/clip/:clipId/media/:name', async (request, reply) => {
    const {clipId, name} = request.params
    const gone = (): FastifyReply => reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    if (!CLIP_ID_PATTERN.test(clipId)) return gone()
    // A ready clip is cached; one that plays while its MP4 is made is read each time (it changes).
    let clip = await readyClips.get(clipId, async () => {
      const found = await clips.get(clipId)
      return found?.status === 'ready' ? found : null
    })
    if (clip === null) {
      readyClips.forget(clipId)
      const found = await clips.get(clipId)
      if (found?.status !== 'pending' || found.playable !== true) return gone()
      clip = found
    }
    const headers = {'access-control-allow-origin': '*'}
    const own = OWN_MEDIA[name]
    if (own !== undefined) {
      // A clip made again (a retry) rewrites these under the same names: short caching only.
      return sendStoredObject(storage, `${clipPrefix(clipId)}/${name}`, request, reply, {type: own, cacheControl: name === 'index.m3u8' ? 'no-cache' : 'public, max-age=300', headers})
    }
    const [init, ...segments] = clip.segmentKeys
    const key = name === 'init.mp4' ? init : SEGMENT_NAME.test(name) ? segments.find((k) => k.endsWith(`/${name}`)) : undefined
    if (key === undefined) return gone()
    return sendStoredObject(storage, key, request, reply, {type: name === 'init.mp4' ? 'video/mp4' : 'video/iso.segment', cacheControl: IMMUTABLE, headers})
  })

  app.post<{Params: {clipId: string}}>('/clip/:clipId/delete', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const clip = await clips.get(request.params.clipId)
    if (clip === null || !(await mayDelete(viewer, clip))) {
      return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such clip, or it is not yours to delete.'}))
    }
    // The document first (it leaves every page at once), then the clip's own objects. The archive
    // segments it kept alive become orphans if nothing else lists them: housekeeping removes those.
    await clips.remove(clip.clipId)
    readyClips.forget(clip.clipId)
    const names = await listObjectNames(storage, `${clipPrefix(clip.clipId)}/`)
    if (names.length > 0) await storage.client.removeObjects(storage.bucket, names)
    log.info({clipId: clip.clipId, channel: clip.channel, user: viewer.username, objects: names.length}, 'clip deleted')
    return reply.redirect(`/c/${encodeURIComponent(clip.channel)}#clips`, 303)
  })
}

/** A channel's clips section for its page (channels/routes.ts asks for it). */
export function channelClipsSection(db: Db): (channel: string) => Promise<string> {
  const clips = new Clips(db)
  const cache = new TtlCache<string, string>(2000)
  return (channel) => cache.get(channel, async () => channelClips(channel, await clips.listReady(channel)))
}
