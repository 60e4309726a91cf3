/**
 * A disabled channel's pages (every route under /c/<channel>) answer 410 with a page that says so,
 * whatever route serves them: the watch page, its broadcasts, the report form. What it shows
 * elsewhere is not shown either (410 too): its past broadcasts' media (/vod/<channel>/…), its API
 * (/api/streams/<channel>/…), and its clips (/clip/<id>, their media, /api/clips/<id>). Forms that
 * remove things (a clip's delete) still work.
 */
import type {FastifyInstance} from 'fastify'
import type {Db} from 'mongodb'

import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {escapeHtml, page, sendPage, type PageContextOf} from '../web/html.js'
import {CLIP_ID_PATTERN, Clips} from '../clips/clips.js'
import {Channels} from './channels.js'

/** A root-level hook (it must see every domain's /c/ routes): call it on the web's app itself. */
export function refuseDisabledChannels(app: FastifyInstance, options: {db: Db; pageContext: PageContextOf; log: Logger}): void {
  const channels = new Channels(options.db)
  // One MongoDB question per channel every 2 s, however busy its page.
  const known = new TtlCache<string, boolean>(2000)
  const isDisabled = (name: string): Promise<boolean> =>
    known.get(name, async () => {
      try {
        return (await channels.collection.findOne({name, disabled: {$exists: true}}, {projection: {_id: 1}})) !== null
      } catch (error) {
        // MongoDB away: the page itself answers as it does then (it has its own fallbacks).
        options.log.warn({channel: name, err: (error as Error).message}, 'could not check whether the channel is disabled')
        return false
      }
    })
  const clips = new Clips(options.db)
  // A clip's channel never changes: kept a minute.
  const clipChannels = new TtlCache<string, string | null>(60_000)
  const channelOf = async (url: string, params: {channel?: string; clipId?: string}): Promise<string | undefined> => {
    if (url.startsWith('/c/:channel') || url.startsWith('/vod/:channel') || url.startsWith('/api/streams/:channel')) return params.channel
    if ((url.startsWith('/clip/:clipId') || url.startsWith('/api/clips/:clipId')) && params.clipId !== undefined && CLIP_ID_PATTERN.test(params.clipId)) {
      const clipId = params.clipId
      return (await clipChannels.get(clipId, async () => (await clips.collection.findOne({clipId}, {projection: {_id: 0, channel: 1}}))?.channel ?? null)) ?? undefined
    }
    return undefined
  }
  app.addHook('preHandler', async (request, reply) => {
    const url = request.routeOptions.url ?? ''
    if (!url.startsWith('/c/:channel') && request.method !== 'GET' && request.method !== 'HEAD') return
    const channel = await channelOf(url, request.params as {channel?: string; clipId?: string})
    if (channel === undefined || !CHANNEL_PATTERN.test(channel) || !(await isDisabled(channel))) return
    if (!url.startsWith('/c/:channel') && !url.startsWith('/clip/:clipId')) {
      return reply.code(410).header('cache-control', 'no-store').send({error: 'gone', message: `The site's moderators disabled ${channel}: it cannot be watched.`})
    }
    if (url === '/clip/:clipId/media/:name') return reply.code(410).header('cache-control', 'no-store').send({error: 'gone'})
    return sendPage(
      reply,
      410,
      page(options.pageContext(request, reply), {
        title: `${channel} is disabled`,
        body: `<h1>This channel is disabled</h1>\n<p class="notice error" role="alert">The site's moderators disabled ${escapeHtml(channel)}: it cannot be watched or go live.</p>\n<p><a href="/">Go to the front page</a></p>`,
      }),
    )
  })
}
