/**
 * Chat's pages and API (the messages themselves go over Socket.IO: server.ts): the pop-out chat
 * /c/<channel>/chat, and a past broadcast's chat for its replay.
 */
import type {FastifyInstance} from 'fastify'
import type {Db} from 'mongodb'
import {z} from 'zod'

import {channelNameSchema, CHANNEL_PATTERN, type ChatReplay} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {listVods, STREAM_ID_PATTERN, streamStartedAt} from '../vods/vods.js'
import type {Asset} from '../web/assets.js'
import {notFoundPage, type PageContextOf} from '../web/html.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {chatPopoutPage, chatReplayPath} from './chat-page.js'
import type {ChatRooms} from './rooms.js'
import {messageView} from './store.js'

export interface ChatRoutesOptions {
  rooms: ChatRooms
  db: Db
  socketIoJs: Asset
  pageContext: PageContextOf
  log: Logger
}

const chatReplaySchema = z.object({
  messages: z.array(
    z.object({
      id: z.string(),
      channel: z.string(),
      user: z.string(),
      text: z.string().describe('Plain text: show it as text'),
      at: z.string(),
      badge: z.enum(['owner', 'moderator', 'staff']).optional(),
      offsetSeconds: z.number().describe('When it was said, in seconds from the start of the broadcast'),
    }),
  ),
})

export async function chatRoutes(app: FastifyInstance, options: ChatRoutesOptions): Promise<void> {
  const {rooms, db, pageContext} = options

  app.get<{Params: {channel: string}}>('/c/:channel/chat', {config: {microcache: true}}, async (request, reply) => {
    const {channel} = request.params
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
    const context = pageContext(request, reply)
    if (!CHANNEL_PATTERN.test(channel) || (await rooms.get(channel)) === null) return reply.code(404).send(notFoundPage(context, {what: 'There is no channel by that name.'}))
    return reply.send(chatPopoutPage(context, {channel, socketIoJs: options.socketIoJs}))
  })

  app.get<{Params: {channel: string; streamId: string}}>(
    chatReplayPath(':channel', ':streamId'),
    {
      schema: {
        summary: 'A past broadcast\'s chat',
        description: 'What was said while the broadcast ran, oldest first, each with its time from the broadcast\'s start: a player shows each message as the video reaches it. Removed messages are not in it.',
        tags: ['streams'],
        params: jsonSchema(z.object({channel: channelNameSchema, streamId: z.string().regex(STREAM_ID_PATTERN)}), 'input'),
        response: {200: jsonSchema(chatReplaySchema), ...errorResponses(400, 404)},
      },
    },
    async (request, reply) => {
      const {channel, streamId} = request.params
      const vod = (await listVods(db, channel, 200)).find((v) => v.streamId === streamId)
      if (vod === undefined) return reply.code(404).send({error: 'not found', message: 'There is no such broadcast on this channel.'})
      // The stream id says when the broadcast began (the VOD's createdAt is when it was closed).
      const start = streamStartedAt(streamId) ?? new Date(new Date(vod.createdAt).getTime() - vod.durationSeconds * 1000)
      const end = new Date(start.getTime() + (vod.durationSeconds + 5) * 1000)
      const messages = (await rooms.store.between(channel, start, end)).map((doc) => ({...messageView(doc), offsetSeconds: Math.max(0, (doc.at.getTime() - start.getTime()) / 1000)}))
      return reply.header('cache-control', 'public, max-age=10').send({messages} satisfies ChatReplay)
    },
  )
}
