import type {FastifyReply, FastifyRequest} from 'fastify'

import {notFoundPage, sendPage, viewerOrLogIn, type PageContextOf} from '../web/html.js'
import type {Channels} from './channels.js'

/**
 * For a streamer's page of one channel (/dashboard/c/<channel>/…): the viewer's channel of that
 * name, or undefined once answered: the log-in page, or a 404 (someone else's channel looks the
 * same as none).
 */
export function ownedChannelOf(channels: Channels, pageContext: PageContextOf) {
  return async (request: FastifyRequest<{Params: {channel: string}}>, reply: FastifyReply): Promise<string | undefined> => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return undefined
    const channel = await channels.owned(request.params.channel, viewer.id)
    if (channel === null) {
      sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You have no channel by that name.'}))
      return undefined
    }
    return channel.name
  }
}
