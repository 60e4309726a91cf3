/** A VOD's poster, sprite sheets and their WebVTT map, served from S3 under /vod/<channel>/<streamId>/previews/. */
import type {FastifyInstance} from 'fastify'

import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Storage} from '../platform/storage.js'
import {sendStoredObject} from '../web/stored-object.js'
import {POSTER_NAME, previewsPrefix, VTT_NAME} from './previews.js'
import {STREAM_ID_PATTERN} from './vods.js'

const PREVIEW_OBJECT = new RegExp(`^(?:${POSTER_NAME.replace('.', '\\.')}|sprite-\\d{1,4}\\.jpg|${VTT_NAME.replace('.', '\\.')})$`)
/** Made once per broadcast (a job run again makes the same): kept a day, not for good, since a VOD may be deleted. */
const PREVIEW_CACHE = 'public, max-age=86400'

export async function vodPreviewRoutes(app: FastifyInstance, options: {storage: Storage}): Promise<void> {
  const {storage} = options
  // More specific than /vod/:channel/:streamId/*, so it answers these names first.
  app.get<{Params: {channel: string; streamId: string; file: string}}>('/vod/:channel/:streamId/previews/:file', async (request, reply) => {
    const {channel, streamId, file} = request.params
    if (!CHANNEL_PATTERN.test(channel) || !STREAM_ID_PATTERN.test(streamId) || !PREVIEW_OBJECT.test(file)) {
      return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    }
    return sendStoredObject(storage, `${previewsPrefix(channel, streamId)}/${file}`, request, reply, {
      type: file.endsWith('.vtt') ? 'text/vtt; charset=utf-8' : 'image/jpeg',
      cacheControl: PREVIEW_CACHE,
    })
  })
}
