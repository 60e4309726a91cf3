/**
 * A disabled channel's pages (every route under /c/<channel>) answer 410 with a page that says so,
 * whatever route serves them: the watch page, its broadcasts, the report form.
 */
import type {FastifyInstance} from 'fastify'
import type {Db} from 'mongodb'

import {CHANNEL_PATTERN} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {escapeHtml, page, sendPage, type PageContextOf} from '../web/html.js'
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
  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.url?.startsWith('/c/:channel') !== true) return
    const {channel} = request.params as {channel?: string}
    if (channel === undefined || !CHANNEL_PATTERN.test(channel) || !(await isDisabled(channel))) return
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
