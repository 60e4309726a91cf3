/** A channel as viewers reach it: the playback API and the watch page /c/<channel>. */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'

import {CHANNEL_PATTERN, LIVE_PREFIX, playbackApiPath, type Playback} from '../contract/index.js'
import {listNodes} from '../registry/nodes.js'
import {notFoundPage} from '../web/html.js'
import {StreamStates} from './stream-state.js'
import {watchPage} from './watch-page.js'

export interface ChannelRoutesOptions {
  redis: Redis
  siteName: string
  /** SHING_PUBLIC_URL: players elsewhere get absolute URLs under it. */
  publicUrl: string
  /** hls.js's content version, for its immutable URL. */
  hlsJsVersion: string
}

export async function channelRoutes(app: FastifyInstance, options: ChannelRoutesOptions): Promise<void> {
  const {redis, siteName} = options
  const states = new StreamStates(redis)
  const publicUrl = options.publicUrl.replace(/\/+$/, '')

  app.get<{Params: {channel: string}}>(playbackApiPath(':channel'), async (request, reply) => {
    const {channel} = request.params
    if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send({error: 'no such channel'})
    const [state, relays] = await Promise.all([states.get(channel), listNodes(redis, 'relay')])
    const playback: Playback = {
      live: state !== undefined,
      ...(state === undefined ? {} : {since: state.since, streamId: state.streamId}),
      url: `${LIVE_PREFIX}/${channel}/master.m3u8`,
      publicUrl: `${publicUrl}${LIVE_PREFIX}/${channel}/master.m3u8`,
      ...(relays[0] === undefined ? {} : {relay: relays[0].id}),
    }
    return playback
  })

  app.get<{Params: {channel: string}}>('/c/:channel', async (request, reply) => {
    const {channel} = request.params
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
    if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send(notFoundPage({siteName, what: 'There is no channel by that name.'}))
    return watchPage({siteName, channel, assetVersion: options.hlsJsVersion})
  })
}
