/** A channel as viewers reach it: the playback API, the watch page /c/<channel>, and its VOD pages. */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {CHANNEL_PATTERN, LIVE_PREFIX, playbackApiPath, realtimeKey, WHEP_PATH, type Playback, type StreamState} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'
import {countViewers} from '../relay/audience.js'
import {vodDownloadState} from '../vods/download.js'
import {listVods, STREAM_ID_PATTERN, streamStartedAt, vodPage, vodPreviewUrls, vodUrl, VODS_COLLECTION, type VodDoc, type VodListing} from '../vods/vods.js'
import type {Asset} from '../web/assets.js'
import {notFoundPage, type PageContext, type PageContextOf} from '../web/html.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {Channels, type ChannelDoc} from './channels.js'
import type {ChannelDirectory} from './directory.js'
import {type LiveStates, StreamStates} from './stream-state.js'
import {watchPage} from './watch-page.js'

export interface ChannelRoutesOptions {
  redis: Redis
  db: Db
  channels: ChannelDirectory
  /** The last sweep of every live channel: the answer while Redis is away. */
  liveStates: LiveStates
  pageContext: PageContextOf
  /** SHING_PUBLIC_URL: players elsewhere get absolute URLs under it. */
  publicUrl: string
  /** SHING_RELAY_DIRECT_ORIGIN: the relays' own TLS port, offered while a relay serves it. */
  relayDirectOrigin?: string | undefined
  hlsJs: Asset
  /** The Socket.IO client, for the chat column. */
  socketIoJs: Asset
  /** The follow box of a channel for this page's viewer (community/). */
  followBox?: (context: PageContext, channel: string, viewer: {id?: string; owns: boolean}) => Promise<string>
  /** The Clip button and its form under the player, for this page's viewer (clips/); `vod` on a past broadcast's page. */
  clipBox?: (context: PageContext, channel: string, vod?: {streamId: string}) => string
  /** The channel's clips, for its page (clips/). */
  clipsSection?: (channel: string) => Promise<string>
  /** The channel's upcoming scheduled broadcasts, for its page (community/). */
  upcomingSection?: (channel: string) => Promise<string>
  /** The channel's newest posts and the way to its Community tab, for its page (community/). */
  postsSection?: (channel: string) => Promise<string>
  log: Logger
}

/** A 503 that says why, logged with its cause (the client gets the reason, not the stack). */
function unavailable(reply: FastifyReply, log: Logger, what: string, error: unknown): FastifyReply {
  log.error({err: (error as Error).message, url: reply.request.url.slice(0, 200)}, `503: ${what}`)
  return reply.code(503).header('retry-after', '5').header('cache-control', 'no-store').send({error: `${what}: retry in a moment`})
}

/** A VOD's poster and previews map for its page, once vod.previews made them. */
function previewsOf(vod: VodDoc): {vodPreviews?: {poster: string; vtt: string}} {
  if (vod.previews === undefined) return {}
  const urls = vodPreviewUrls(vod.channel, vod.streamId)
  return {vodPreviews: {poster: urls.poster, vtt: urls.previews}}
}

export async function channelRoutes(app: FastifyInstance, options: ChannelRoutesOptions): Promise<void> {
  const {redis, db, channels, liveStates, pageContext, log} = options
  const states = new StreamStates(redis)
  const channelDocs = new Channels(db)
  // The channel page's title and past broadcasts, kept 2 s: a popular channel costs MongoDB two queries per interval.
  const pageData = new TtlCache<string, [ChannelDoc | null, VodListing[]]>(2000)
  const publicUrl = options.publicUrl.replace(/\/+$/, '')
  const directOrigin = options.relayDirectOrigin === undefined ? undefined : new URL(options.relayDirectOrigin).origin
  const unknown = {error: 'no such channel'}

  app.get<{Params: {channel: string}}>(playbackApiPath(':channel'), async (request, reply) => {
    const {channel} = request.params
    if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send(unknown)
    try {
      if (!(await channels.exists(channel))) return reply.code(404).send(unknown)
    } catch (error) {
      return unavailable(reply, log, 'the channel directory (MongoDB) is unavailable', error)
    }
    let state: StreamState | undefined
    let stale = false
    try {
      state = await states.get(channel)
    } catch (error) {
      const known = liveStates.lastKnown(channel)
      if (known === undefined) return unavailable(reply, log, 'the live registry (Redis) is unavailable', error)
      log.warn({channel, err: (error as Error).message, ageSeconds: liveStates.ageSeconds()}, 'Redis unavailable: answering with the last known state')
      state = known ?? undefined
      stale = true
    }
    const [relays, vods, viewers, realtime] = await Promise.all([
      listNodes(redis, 'relay').catch(() => []),
      state === undefined ? listVods(db, channel, 1).catch(() => []) : Promise.resolve([]),
      state === undefined || stale ? Promise.resolve(undefined) : countViewers(redis, [channel]).then((counts) => counts.get(channel), () => undefined),
      state === undefined || stale ? Promise.resolve(false) : redis.exists(realtimeKey(channel)).then((n) => n === 1, () => false),
    ])
    const latest = vods[0]
    const playback: Playback = {
      live: state !== undefined,
      ...(state === undefined ? {} : {since: state.since, streamId: state.streamId, audioOnly: state.renditions.every((r) => r.height === 0)}),
      ...(viewers === undefined ? {} : {viewers}),
      url: `${LIVE_PREFIX}/${channel}/master.m3u8`,
      publicUrl: `${publicUrl}${LIVE_PREFIX}/${channel}/master.m3u8`,
      ...(relays[0] === undefined ? {} : {relay: relays[0].id}),
      // Only while a relay has its certificate (its registry record names the TLS port).
      ...(directOrigin !== undefined && relays.some((r) => r.ports.https !== undefined) ? {direct: `${directOrigin}${LIVE_PREFIX}/${channel}/master.m3u8`} : {}),
      ...(realtime ? {realtime: `${WHEP_PATH}/${channel}`} : {}),
      ...(stale ? {stale} : {}),
      ...(latest === undefined ? {} : {vod: {streamId: latest.streamId, url: latest.url, page: vodPage(channel, latest.streamId)}}),
    }
    return reply.header('cache-control', 'no-store').send(playback)
  })

  const page = async (request: FastifyRequest, reply: FastifyReply, channel: string, render: (context: PageContext) => Promise<string | undefined>, form = false): Promise<FastifyReply> => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
    const context = pageContext(request, reply, {form})
    const gone = (): FastifyReply => reply.code(404).send(notFoundPage(context, {what: 'There is no channel by that name.'}))
    if (!CHANNEL_PATTERN.test(channel)) return gone()
    try {
      if (!(await channels.exists(channel))) return gone()
    } catch (error) {
      log.error({channel, err: (error as Error).message}, '503: the channel directory (MongoDB) is unavailable')
      return reply.code(503).header('retry-after', '5').send(notFoundPage(context, {what: 'This page cannot be shown right now; try again in a moment.', title: 'Unavailable'}))
    }
    const html = await render(context)
    if (html === undefined) return reply.code(404).send(notFoundPage(context, {what: 'There is no such broadcast on this channel.'}))
    return reply.send(html)
  }

  const renderChannel = async (context: PageContext, channel: string, viewerId: string | undefined): Promise<string> => {
    const [doc, vods] = await pageData.get(channel, () => Promise.all([channelDocs.byName(channel), listVods(db, channel, 20)]))
    const owns = viewerId !== undefined && viewerId === doc?.ownerId
    const followBox = await options.followBox?.(context, channel, {...(viewerId === undefined ? {} : {id: viewerId}), owns}).catch((error: unknown) => {
      log.warn({channel, err: (error as Error).message}, 'follow box left out: MongoDB unavailable')
      return undefined
    })
    const clips = await options.clipsSection?.(channel).catch((error: unknown) => {
      log.warn({channel, err: (error as Error).message}, 'clips left out: MongoDB unavailable')
      return undefined
    })
    const upcoming = await options.upcomingSection?.(channel).catch((error: unknown) => {
      log.warn({channel, err: (error as Error).message}, 'schedule left out: MongoDB unavailable')
      return undefined
    })
    const posts = await options.postsSection?.(channel).catch((error: unknown) => {
      log.warn({channel, err: (error as Error).message}, 'posts left out: MongoDB unavailable')
      return undefined
    })
    const clipBox = options.clipBox?.(context, channel)
    return watchPage(context, {
      ...(posts === undefined ? {} : {posts}),
      ...(upcoming === undefined ? {} : {upcoming}),
      ...(followBox === undefined ? {} : {followBox}),
      ...(clips === undefined ? {} : {clips}),
      ...(clipBox === undefined ? {} : {clipBox}),
      channel,
      hlsJs: options.hlsJs,
      socketIoJs: options.socketIoJs,
      ...(doc === null ? {} : {profile: doc}),
      // createdAt is when the VOD was closed: the stream id says when the broadcast began.
      pastBroadcasts: vods.map((v) => ({page: vodPage(channel, v.streamId), startedAt: (streamStartedAt(v.streamId) ?? new Date(v.createdAt)).toISOString(), durationSeconds: v.durationSeconds, ...(v.poster === undefined ? {} : {poster: v.poster})})),
    })
  }
  app.get<{Params: {channel: string}}>('/c/:channel', {config: {microcache: true}}, async (request, reply) =>
    page(request, reply, request.params.channel, (context) => renderChannel(context, request.params.channel, request.viewer?.id)),
  )

  app.get<{Params: {channel: string; streamId: string}}>('/c/:channel/vod/:streamId', async (request, reply) => {
    const {channel, streamId} = request.params
    return page(request, reply, channel, async (context) => {
      if (!STREAM_ID_PATTERN.test(streamId)) return undefined
      const vod = await db.collection<VodDoc>(VODS_COLLECTION).findOne({channel, streamId})
      if (vod === null) return undefined
      const clipBox = options.clipBox?.(context, channel, {streamId})
      return watchPage(context, {channel, hlsJs: options.hlsJs, socketIoJs: options.socketIoJs, vod: {url: vodUrl(channel, streamId), startedAt: (streamStartedAt(streamId) ?? vod.createdAt).toISOString(), streamId, download: vodDownloadState(vod)}, ...previewsOf(vod), ...(clipBox === undefined ? {} : {clipBox})})
      // The Download MP4 form needs its CSRF token, logged in or not.
    }, true)
  })
}
