/**
 * VODs as viewers reach them: the list per channel, the archive served from S3 under /vod/, and
 * the downloadable MP4 (asked for from the VOD page, served with its file name).
 */
import type {FastifyInstance} from 'fastify'
import type {Db} from 'mongodb'
import {z} from 'zod'

import type {ChannelDirectory} from '../channels/directory.js'
import {CHANNEL_PATTERN, channelNameSchema} from '../contract/index.js'
import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'
import type {Storage} from '../platform/storage.js'
import {IMMUTABLE} from '../web/assets.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {sendStoredObject} from '../web/stored-object.js'
import {dvrPrefix} from './dvr-archive.js'
import {requestVodDownload, vodDownloadFileName, vodDownloadState, type VodDownloadState} from './download.js'
import {listVods, STREAM_ID_PATTERN, vodPage, VODS_COLLECTION, type VodDoc} from './vods.js'

/** Archived objects served under /vod/<channel>/<streamId>/: playlists, init and segments; the downloadable MP4. */
const VOD_OBJECT = /^(?:(?:[a-z0-9][a-z0-9_-]{0,31}\/)?(?:master\.m3u8|index\.m3u8|init\.mp4|seg\d{1,10}\.m4s)|download\.mp4)$/
const DOWNLOAD_OBJECT = 'download.mp4'
const vodTypes: Record<string, string> = {m3u8: 'application/vnd.apple.mpegurl', mp4: 'video/mp4', m4s: 'video/iso.segment'}

const vodListSchema = z.object({
  channel: z.string(),
  vods: z.array(
    z.object({
      streamId: z.string(),
      channel: z.string(),
      segments: z.number(),
      durationSeconds: z.number(),
      createdAt: z.string(),
      url: z.string().describe('The master playlist, on the site (/vod/<channel>/<streamId>/master.m3u8)'),
      kept: z.boolean().describe("Its streamer keeps it past the site's retention"),
      expiresAt: z.string().optional().describe("When the site's retention deletes it; absent when never (kept, or the site keeps every broadcast)"),
      poster: z.string().optional().describe('Its poster, a 640×360 JPEG (/vod/<channel>/<streamId>/previews/poster.jpg), once made'),
      previews: z.string().optional().describe("Its scrubbing previews' WebVTT map: each cue's text is a sprite sheet beside it and a tile's #xywh=x,y,w,h; once made"),
    }),
  ),
})

const vodDownloadSchema = z
  .discriminatedUnion('state', [
    z.object({state: z.literal('none').describe('Not made yet: POST the VOD page\'s form (/c/<channel>/vod/<streamId>/download) to ask for it')}),
    z.object({state: z.literal('preparing').describe('Being made: ask again in a few seconds')}),
    z.object({state: z.literal('ready'), url: z.string().describe('The MP4 on the site (/vod/<channel>/<streamId>/download.mp4)'), bytes: z.number()}),
  ])
  .describe("Where the VOD's downloadable MP4 stands")

const vodParams = z.object({channel: channelNameSchema, streamId: z.string().regex(STREAM_ID_PATTERN)})

export interface VodRoutesOptions {
  db: Db
  storage: Storage
  channels: ChannelDirectory
  /** Where a requested download's vod.mp4 job goes. */
  jobs: JobQueues
  log: Logger
  /** The site's retention.vodDays: the list says when each goes (0: never). */
  vodDays: number
}

export async function vodRoutes(app: FastifyInstance, options: VodRoutesOptions): Promise<void> {
  const {db, storage, channels, jobs, log} = options
  const vods = db.collection<VodDoc>(VODS_COLLECTION)
  const findVod = (channel: string, streamId: string): Promise<VodDoc | null> =>
    CHANNEL_PATTERN.test(channel) && STREAM_ID_PATTERN.test(streamId) ? vods.findOne({channel, streamId}) : Promise.resolve(null)
  app.get<{Params: {channel: string}}>(
    '/api/streams/:channel/vods',
    {
      schema: {
        summary: 'A channel\'s past broadcasts',
        description: 'Newest first; each plays as HLS from its url.',
        tags: ['streams'],
        params: jsonSchema(z.object({channel: channelNameSchema}), 'input'),
        response: {200: jsonSchema(vodListSchema.describe('The past broadcasts, newest first')), ...errorResponses(400, 404)},
      },
    },
    async (request, reply) => {
      const {channel} = request.params
      if (!(await channels.exists(channel))) return reply.code(404).send({error: 'not found', message: 'There is no channel by that name.'})
      return {channel, vods: await listVods(db, channel, 50, options.vodDays)} satisfies z.infer<typeof vodListSchema>
    },
  )

  app.get<{Params: {channel: string; streamId: string}}>(
    '/api/streams/:channel/vods/:streamId/download',
    {
      schema: {
        summary: "A past broadcast's downloadable MP4",
        description: 'Made on first request (the VOD page\'s Download MP4 button), then kept: none, preparing, or ready with its URL.',
        tags: ['streams'],
        params: jsonSchema(vodParams, 'input'),
        response: {200: jsonSchema(vodDownloadSchema), ...errorResponses(400, 404)},
      },
    },
    async (request, reply) => {
      const vod = await findVod(request.params.channel, request.params.streamId)
      if (vod === null) return reply.code(404).send({error: 'not found', message: 'There is no such past broadcast on this channel.'})
      return reply.header('cache-control', 'no-store').send(vodDownloadState(vod) satisfies z.infer<typeof vodDownloadSchema>)
    },
  )

  // The VOD page's Download MP4 form (CSRF-checked like every form): queues the remux once. A
  // script asks for JSON and shows the progress in place; without one, back to the page. Limited
  // per address: a script asking for every VOD's MP4 would fill the bucket and the workers.
  app.post<{Params: {channel: string; streamId: string}}>('/c/:channel/vod/:streamId/download', {config: {rateLimit: {max: 10, timeWindow: 60_000}}}, async (request, reply) => {
    const {channel, streamId} = request.params
    const vod = await findVod(channel, streamId)
    if (vod === null) return reply.code(404).send({error: 'not found', message: 'There is no such past broadcast on this channel.'})
    let state: VodDownloadState
    try {
      state = await requestVodDownload(db, jobs, vod)
    } catch (error) {
      log.error({channel, streamId, err: (error as Error).message}, '503: the download could not be queued')
      return reply.code(503).header('retry-after', '5').send({error: 'unavailable', message: 'The download cannot be prepared right now; try again in a moment.'})
    }
    if ((request.headers.accept ?? '').includes('application/json')) return reply.header('cache-control', 'no-store').send(state)
    return reply.redirect(`${vodPage(channel, streamId)}#download`, 303)
  })

  // The archive plays as a VOD from S3 through the web (the edge sends everything but /live/* here).
  app.get<{Params: {channel: string; streamId: string; '*': string}}>('/vod/:channel/:streamId/*', async (request, reply) => {
    const {channel, streamId} = request.params
    const object = request.params['*']
    if (!CHANNEL_PATTERN.test(channel) || !STREAM_ID_PATTERN.test(streamId) || !VOD_OBJECT.test(object)) {
      return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    }
    const key = `${dvrPrefix(channel, streamId)}/${object}`
    const extension = object.slice(object.lastIndexOf('.') + 1)
    const download = object === DOWNLOAD_OBJECT
    // Playlists change while the broadcast is live (EVENT); media objects never change. The
    // download is made again after a re-encode: revalidated by its ETag (and a resumed download
    // of the old one, If-Range, gets the whole new file).
    return sendStoredObject(storage, key, request, reply, {
      type: vodTypes[extension] ?? 'application/octet-stream',
      cacheControl: extension === 'm3u8' || download ? 'no-cache' : IMMUTABLE,
      headers: {'access-control-allow-origin': '*', ...(download ? {'content-disposition': `attachment; filename="${vodDownloadFileName(channel, streamId)}"`} : {})},
      etag: download,
    })
  })
}
