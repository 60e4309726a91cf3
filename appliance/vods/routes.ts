/** VODs as viewers reach them: the list per channel, and the archive served from S3 under /vod/. */
import type {FastifyInstance} from 'fastify'
import type {Db} from 'mongodb'
import {combineRanges, parse as parseRange} from 'range-parser'
import {z} from 'zod'

import type {ChannelDirectory} from '../channels/directory.js'
import {CHANNEL_PATTERN, channelNameSchema} from '../contract/index.js'
import {isMissingObject, type Storage} from '../platform/storage.js'
import {IMMUTABLE} from '../web/assets.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {dvrPrefix} from './dvr-archive.js'
import {listVods, STREAM_ID_PATTERN} from './vods.js'

/** Archived objects served under /vod/<channel>/<streamId>/: playlists, init and segments. */
const VOD_OBJECT = /^(?:[a-z0-9][a-z0-9_-]{0,31}\/)?(?:master\.m3u8|index\.m3u8|init\.mp4|seg\d{1,10}\.m4s)$/
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
    }),
  ),
})

export async function vodRoutes(app: FastifyInstance, options: {db: Db; storage: Storage; channels: ChannelDirectory}): Promise<void> {
  const {db, storage, channels} = options
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
      return {channel, vods: await listVods(db, channel)} satisfies z.infer<typeof vodListSchema>
    },
  )

  // The archive plays as a VOD from S3 through the web (the edge sends everything but /live/* here).
  app.get<{Params: {channel: string; streamId: string; '*': string}}>('/vod/:channel/:streamId/*', async (request, reply) => {
    const {channel, streamId} = request.params
    const object = request.params['*']
    if (!CHANNEL_PATTERN.test(channel) || !STREAM_ID_PATTERN.test(streamId) || !VOD_OBJECT.test(object)) {
      return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    }
    const key = `${dvrPrefix(channel, streamId)}/${object}`
    let size: number
    try {
      size = (await storage.client.statObject(storage.bucket, key)).size
    } catch (error) {
      if (isMissingObject(error)) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
      throw error
    }
    const extension = object.slice(object.lastIndexOf('.') + 1)
    // Playlists change while the broadcast is live (EVENT); media objects never change.
    reply
      .type(vodTypes[extension] ?? 'application/octet-stream')
      .header('cache-control', extension === 'm3u8' ? 'no-cache' : IMMUTABLE)
      .header('access-control-allow-origin', '*')
      .header('accept-ranges', 'bytes')
    // One byte range, as players and downloaders ask: 206, or 416 when it is past the end.
    const asked = request.headers.range
    const ranges = asked === undefined ? undefined : parseRange(size, asked)
    // (A malformed Range is ignored, as HTTP allows; several disjoint ranges get the whole object.)
    if (ranges !== undefined && ranges.type === 'bytes' && (ranges.code & 1) === 0) {
      const combined = combineRanges(ranges.ranges)
      const [only] = combined
      if (only === undefined && size !== 0) return reply.code(416).header('content-range', `bytes */${size}`).header('content-length', 0).send()
      if (only !== undefined && combined.length === 1) {
        const length = only.end - only.start + 1
        const body = await storage.client.getPartialObject(storage.bucket, key, only.start, length)
        return reply.code(206).header('content-range', `bytes ${only.start}-${only.end}/${size}`).header('content-length', length).send(body)
      }
    }
    const body = await storage.client.getObject(storage.bucket, key)
    return reply.header('content-length', size).send(body)
  })
}
