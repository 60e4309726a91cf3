/**
 * The streamer's dashboard (/dashboard): make a channel, set its title (also while live) and its
 * profile and images, see it live or offline, make and revoke its stream keys with the OBS server
 * beside them, and delete past broadcasts or keep them past the site's retention. A new key is shown once: it travels to the next page in the session (Redis)
 * and is dropped there.
 */
import multipart from '@fastify/multipart'
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import {KEY_ID_PATTERN, rtmpUrl, whipUrl} from '../contract/index.js'
import {assignIngest} from '../ingest/assign.js'
import type {Logger} from '../platform/logger.js'
import type {Storage} from '../platform/storage.js'
import type {Viewer} from '../accounts/users.js'
import {errorPage, formText as text, notFoundPage, sendPage as html, viewerOrLogIn, type FieldErrors, type PageContextOf} from '../web/html.js'
import {verifyCsrfToken} from '../web/security.js'
import {ChannelInputError, Channels, type ChannelDoc} from './channels.js'
import {channelDashboardPage, dashboardPage} from './dashboard-pages.js'
import {figuresOf, readLivePanel, type LivePanel} from './live-panel.js'
import {
  CHANNEL_IMAGES,
  deleteChannelImage,
  IMAGE_UPLOAD_LIMIT_BYTES,
  ImageUploadError,
  imageObjectName,
  isChannelImageKind,
  renderChannelImage,
  storeChannelImage,
  tooLargeMessage,
  type ChannelImageKind,
} from './images.js'
import {parseProfile, type ProfileForm} from './profile.js'
import {listVods, STREAM_ID_PATTERN, vodPage, VODS_COLLECTION, type VodDoc} from '../vods/vods.js'
import {StreamKeys} from './stream-keys.js'
import {markArchiveDeleted, StreamRecords, StreamStates} from './stream-state.js'

declare module 'fastify' {
  interface Session {
    /** A stream key made on the dashboard, until the next page shows it (once). */
    newStreamKey?: {channel: string; key: string; keyId: string}
  }
}

const keptNotice = (kept: boolean): string =>
  kept ? "The broadcast is kept: the site's retention will not delete it." : 'The broadcast is no longer kept: it is deleted on the date beside it (within minutes, if that date has passed).'

/** Image uploads per address: plenty to try a few pictures, too few to keep the CPU drawing. */
const UPLOAD_LIMIT = {max: 30, timeWindow: '10 minutes'}

export interface DashboardOptions {
  db: Db
  redis: Redis
  streamKeySecret: string
  /** Where OBS publishes when no ingest is assigned: the site's RTMP host and port. */
  publicHost: string
  rtmpPort: number
  /** The site's own URL: WHIP publishes to <it>/whip/<channel>. */
  publicUrl: string
  /** Hands a deleted broadcast's archive to the worker (vod.delete). */
  deleteArchive: (channel: string, streamId: string) => Promise<void>
  /** Where channel images go (channels/<name>/ in the bucket). */
  storage: Storage
  /** Why this account may not make stream keys yet (an unconfirmed address), or undefined. */
  goLiveRefusal: (viewer: Viewer) => string | undefined
  /** How many channels an account may own (the site's setting). */
  channelsPerAccount: () => Promise<number>
  /** The site's retention.vodDays: past broadcasts older than that go unless their streamer keeps them (0: all stay). */
  vodDays: number
  pageContext: PageContextOf
  log: Logger
}

export async function dashboardRoutes(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const {db, redis, pageContext, log} = options
  const channels = new Channels(db)
  const keys = new StreamKeys({db, redis, secret: options.streamKeySecret})
  const states = new StreamStates(redis)
  const records = new StreamRecords(db)
  /** The logged-in user's id, or a redirect to the log-in page (and undefined). */
  const userOf = (request: FastifyRequest, reply: FastifyReply): string | undefined => viewerOrLogIn(request, reply)?.id

  // Someone else's channel looks the same as none.
  const notYours = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You have no channel by that name.'}))

  // One image per request, its CSRF field before it; a larger file is read to its end and dropped.
  await app.register(multipart, {limits: {fileSize: IMAGE_UPLOAD_LIMIT_BYTES, files: 1, fields: 2, fieldSize: 1024, parts: 3}})

  const showChannel = async (
    request: FastifyRequest,
    reply: FastifyReply,
    channel: ChannelDoc,
    extra: {status?: number; notice?: string; errors?: FieldErrors; profile?: ProfileForm} = {},
  ): Promise<FastifyReply> => {
    const [state, latest, list, assignment, vods, panel] = await Promise.all([
      states.get(channel.name).catch(() => undefined),
      records.latest(channel.name).catch(() => null),
      keys.list(channel.name),
      assignIngest(redis, options.publicHost).catch(() => undefined),
      listVods(db, channel.name, 100, options.vodDays),
      readLivePanel(redis, states, channel.name).catch((): LivePanel => ({live: false, ...figuresOf(undefined, undefined)})),
    ])
    const fresh = request.session.newStreamKey
    let newKey: {key: string; keyId: string} | undefined
    if (fresh?.channel === channel.name) {
      newKey = {key: fresh.key, keyId: fresh.keyId}
      delete request.session.newStreamKey
    }
    return html(
      reply,
      extra.status ?? 200,
      channelDashboardPage(pageContext(request, reply, {form: true}), {
        channel,
        ...(state === undefined ? {} : {live: {since: state.since, renditions: state.renditions.map((r) => (r.height === 0 ? r.name : `${r.height}p`))}}),
        warnings: latest?.sourceWarnings ?? [],
        panel,
        ...(request.viewer === undefined || options.goLiveRefusal(request.viewer) === undefined ? {} : {keysRefusal: options.goLiveRefusal(request.viewer)}),
        keys: list,
        vods: vods.map((v) => ({
          streamId: v.streamId,
          page: vodPage(channel.name, v.streamId),
          startedAt: v.createdAt,
          durationSeconds: v.durationSeconds,
          kept: v.kept,
          ...(v.expiresAt === undefined ? {} : {expiresAt: v.expiresAt}),
        })),
        vodDays: options.vodDays,
        server: assignment?.rtmpUrl ?? rtmpUrl(options.publicHost, options.rtmpPort),
        whipUrl: whipUrl(options.publicUrl, channel.name),
        ...(newKey === undefined ? {} : {newKey}),
        ...(extra.notice === undefined ? {} : {notice: extra.notice}),
        ...(extra.errors === undefined ? {} : {errors: extra.errors}),
        ...(extra.profile === undefined ? {} : {profile: extra.profile}),
      }),
    )
  }

  app.get('/dashboard', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const [mine, limit] = await Promise.all([channels.byOwner(userId), options.channelsPerAccount()])
    return html(reply, 200, dashboardPage(pageContext(request, reply, {form: true}), {channels: mine, canCreate: mine.length < limit}))
  })

  app.post<{Body: Record<string, unknown>}>('/dashboard/channels', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const values = {name: text(request.body?.name), title: text(request.body?.title)}
    try {
      const channel = await channels.create({...values, ownerId: userId, limit: await options.channelsPerAccount()})
      log.info({channel: channel.name, user: request.viewer?.username}, 'channel created')
      return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?created=1`, 303)
    } catch (error) {
      if (!(error instanceof ChannelInputError)) throw error
      const mine = await channels.byOwner(userId)
      return html(reply, 400, dashboardPage(pageContext(request, reply, {form: true}), {channels: mine, canCreate: true, values, errors: {[error.field]: error.message}}))
    }
  })

  app.post<{Params: {channel: string; streamId: string}}>('/dashboard/c/:channel/vods/:streamId/delete', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    const {streamId} = request.params
    if (channel === null || !STREAM_ID_PATTERN.test(streamId)) return notYours(request, reply)
    // The document first, so that it leaves every page at once; then the worker empties S3.
    const removed = await db.collection<VodDoc>(VODS_COLLECTION).deleteOne({channel: channel.name, streamId})
    if (removed.deletedCount === 1) {
      await markArchiveDeleted(db, streamId)
      await options.deleteArchive(channel.name, streamId)
      log.info({channel: channel.name, streamId, user: request.viewer?.username}, 'past broadcast deleted on the dashboard')
    }
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?deleted=1`, 303)
  })

  // Keep a past broadcast past the site's retention, or let it go again (keep=1 / keep=0).
  app.post<{Params: {channel: string; streamId: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/vods/:streamId/keep', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    const {streamId} = request.params
    if (channel === null || !STREAM_ID_PATTERN.test(streamId)) return notYours(request, reply)
    const keep = text(request.body?.keep) === '1'
    const vods = db.collection<VodDoc>(VODS_COLLECTION)
    const found = await vods.updateOne({channel: channel.name, streamId}, keep ? {$set: {kept: true}} : {$unset: {kept: ''}})
    if (found.matchedCount === 0) return notYours(request, reply)
    log.info({channel: channel.name, streamId, kept: keep, user: request.viewer?.username}, keep ? 'past broadcast kept on the dashboard' : 'past broadcast no longer kept')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?kept=${keep ? '1' : '0'}#past-broadcasts`, 303)
  })

  app.get<{Params: {channel: string}; Querystring: {created?: string; revoked?: string; deleted?: string; kept?: string; saved?: string; removed?: string}}>('/dashboard/c/:channel', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null) return notYours(request, reply)
    const {saved, removed} = request.query
    const notice =
      request.query.created !== undefined
        ? 'Your channel is ready. Create a stream key to go live.'
        : request.query.revoked !== undefined
          ? 'The key is revoked: publishing with it is refused, and a broadcast using it ends within seconds.'
          : request.query.deleted !== undefined
            ? 'The broadcast is deleted: it is gone from your channel, and its recording from storage.'
            : request.query.kept !== undefined
              ? keptNotice(request.query.kept === '1')
              : saved === 'profile'
                ? 'Your channel profile is saved.'
                : saved !== undefined && isChannelImageKind(saved)
                  ? `The new ${CHANNEL_IMAGES[saved].label.toLowerCase()} is saved.`
                  : removed !== undefined && isChannelImageKind(removed)
                    ? `The ${CHANNEL_IMAGES[removed].label.toLowerCase()} is removed.`
                    : undefined
    return showChannel(request, reply, channel, {...(notice === undefined ? {} : {notice})})
  })

  // What the dashboard's island reads every few seconds: the live state, viewers and encoder figures.
  app.get<{Params: {channel: string}}>('/dashboard/c/:channel/live.json', async (request, reply) => {
    const userId = request.viewer?.id
    const channel = userId === undefined ? null : await channels.owned(request.params.channel, userId)
    if (channel === null) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found', message: 'You have no channel by that name (log in again?).'})
    try {
      return reply.header('cache-control', 'no-store').send(await readLivePanel(redis, states, channel.name))
    } catch (error) {
      log.warn({channel: channel.name, err: (error as Error).message}, 'live panel unavailable: Redis does not answer')
      return reply.code(503).header('cache-control', 'no-store').send({error: 'service unavailable', message: 'The live state cannot be read now; it comes back by itself.'})
    }
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/title', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null) return notYours(request, reply)
    try {
      await channels.setTitle(channel.name, text(request.body?.title))
    } catch (error) {
      if (!(error instanceof ChannelInputError)) throw error
      return showChannel(request, reply, {...channel, title: text(request.body?.title)}, {status: 400, errors: {[error.field]: error.message}})
    }
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}`, 303)
  })

  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/profile', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null) return notYours(request, reply)
    const body = request.body ?? {}
    const form: ProfileForm = {description: text(body.description), category: text(body.category), tags: text(body.tags), language: text(body.language), mature: body.mature !== undefined, realtime: body.realtime !== undefined}
    const parsed = parseProfile(form)
    if (parsed.errors !== undefined) return showChannel(request, reply, channel, {status: 400, errors: parsed.errors, profile: form})
    await channels.setProfile(channel.name, parsed.profile)
    log.info({channel: channel.name, user: request.viewer?.username}, 'channel profile saved')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?saved=profile`, 303)
  })

  /** Puts a new image in place, then deletes the one it replaces (a failure there leaves an orphan, not a hole). */
  const replaceImage = async (channel: string, kind: ChannelImageKind, image: Buffer | undefined): Promise<void> => {
    const object = image === undefined ? undefined : imageObjectName(kind, image)
    if (image !== undefined && object !== undefined) await storeChannelImage(options.storage, channel, object, image)
    const previous = await channels.setImage(channel, kind, object)
    if (previous === undefined) return
    await deleteChannelImage(options.storage, channel, previous).catch((error: Error) => log.warn({channel, object: previous, err: error.message}, 'the replaced image stays in S3: cannot delete it'))
  }

  // The CSRF token comes in the multipart body, read here (the preHandler sees no body yet).
  // Each upload is decoded and drawn again: limited, so that nobody keeps the CPU busy with it.
  app.post<{Params: {channel: string; kind: string}}>('/dashboard/c/:channel/images/:kind', {config: {csrf: false, rateLimit: UPLOAD_LIMIT}}, async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const {kind} = request.params
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null || !isChannelImageKind(kind)) return notYours(request, reply)
    const part = await request.file()
    const refuse = async (status: number, message: string): Promise<FastifyReply> => showChannel(request, reply, channel, {status, errors: {[kind]: message}})
    // (A browser always sends the file field, empty or not: without one this changes nothing.)
    if (part === undefined) return refuse(400, 'Choose a file to upload.')
    const token = part.fields._csrf
    try {
      await verifyCsrfToken(app, request, token !== undefined && 'value' in token ? text(token.value) : '')
    } catch (error) {
      // Read the rest of the request (and drop it) so that the refusal reaches the browser.
      part.file.resume()
      throw error
    }
    let upload: Buffer
    try {
      upload = await part.toBuffer()
    } catch (error) {
      if (error instanceof app.multipartErrors.RequestFileTooLargeError) return refuse(413, tooLargeMessage)
      throw error
    }
    if (upload.length === 0) return refuse(400, 'Choose a file to upload.')
    let image: Buffer
    try {
      image = await renderChannelImage(kind, upload)
    } catch (error) {
      if (error instanceof ImageUploadError) return refuse(400, error.message)
      throw error
    }
    await replaceImage(channel.name, kind, image)
    log.info({channel: channel.name, kind, bytes: image.length, user: request.viewer?.username}, 'channel image saved')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?saved=${kind}`, 303)
  })

  app.post<{Params: {channel: string; kind: string}}>('/dashboard/c/:channel/images/:kind/remove', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const {kind} = request.params
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null || !isChannelImageKind(kind)) return notYours(request, reply)
    await replaceImage(channel.name, kind, undefined)
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?removed=${kind}`, 303)
  })

  app.post<{Params: {channel: string}}>('/dashboard/c/:channel/keys', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null) return notYours(request, reply)
    const refusal = options.goLiveRefusal(request.viewer!)
    if (refusal !== undefined) return html(reply, 403, errorPage(pageContext(request, reply), {title: 'Not yet', message: refusal, back: '/account'}))
    const created = await keys.create(channel.name)
    log.info({channel: channel.name, keyId: created.keyId, user: request.viewer?.username}, 'stream key created on the dashboard')
    request.session.newStreamKey = {channel: channel.name, key: created.key, keyId: created.keyId}
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}`, 303)
  })

  app.post<{Params: {channel: string; keyId: string}}>('/dashboard/c/:channel/keys/:keyId/revoke', async (request, reply) => {
    const userId = userOf(request, reply)
    if (userId === undefined) return reply
    const channel = await channels.owned(request.params.channel, userId)
    if (channel === null || !KEY_ID_PATTERN.test(request.params.keyId)) return notYours(request, reply)
    const result = await keys.revoke(channel.name, request.params.keyId)
    log.info({channel: channel.name, revoked: result.revoked, user: request.viewer?.username}, 'stream key revoked on the dashboard')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel.name)}?revoked=1`, 303)
  })
}
