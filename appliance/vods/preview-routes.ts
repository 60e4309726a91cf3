/** A VOD's poster, sprite sheets and their WebVTT map, served from S3 under /vod/<channel>/<streamId>/previews/. */
import type {FastifyInstance} from 'fastify'

import {CHANNEL_PATTERN} from '../contract/index.js'
import {isMissingObject, type Storage} from '../platform/storage.js'
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
    const missing = (): unknown => reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    if (!CHANNEL_PATTERN.test(channel) || !STREAM_ID_PATTERN.test(streamId) || !PREVIEW_OBJECT.test(file)) return missing()
    const key = `${previewsPrefix(channel, streamId)}/${file}`
    let size: number
    try {
      size = (await storage.client.statObject(storage.bucket, key)).size
    } catch (error) {
      if (isMissingObject(error)) return missing()
      throw error
    }
    return reply
      .type(file.endsWith('.vtt') ? 'text/vtt; charset=utf-8' : 'image/jpeg')
      .header('cache-control', PREVIEW_CACHE)
      .header('content-length', size)
      .send(await storage.client.getObject(storage.bucket, key))
  })
}
