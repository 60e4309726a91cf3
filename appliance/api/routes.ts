/**
 * The API for scripts (and the browser): who am I, my channels and whether they are live, my
 * channels' stream keys, and for admins, finding accounts. Each route declares its schemas (they
 * validate the input and make the OpenAPI document at /api/docs) and the scope it needs
 * (api/auth.ts checks it). Someone else's channel answers as none would.
 */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import {z} from 'zod'

import {accountStatuses, Users, type Viewer} from '../accounts/users.js'
import {Channels} from '../channels/channels.js'
import {StreamKeys} from '../channels/stream-keys.js'
import {StreamStates} from '../channels/stream-state.js'
import {channelNameSchema, createdStreamKeySchema, KEY_ID_PATTERN, playbackApiPath, revokeResultSchema, roleSchema, rtmpUrl, streamKeyInfoSchema} from '../contract/index.js'
import {assignIngest} from '../ingest/assign.js'
import type {Logger} from '../platform/logger.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {ApiError} from './auth.js'
import {tokenScopes} from './tokens.js'

const meSchema = z.object({
  id: z.string(),
  username: z.string(),
  role: roleSchema,
  token: z.object({name: z.string(), scopes: z.array(z.enum(tokenScopes))}).optional().describe('The token the request came with; absent for a browser session'),
}).describe('Your account')

const myChannelSchema = z.object({
  name: z.string(),
  title: z.string().optional(),
  createdAt: z.string(),
  live: z.boolean(),
  since: z.string().optional().describe('When the broadcast started, while live'),
  page: z.string().describe('The watch page, relative to the site'),
  playback: z.string().describe('The playback API of the channel'),
})

const channelParams = z.object({channel: channelNameSchema})
const keyParams = z.object({channel: channelNameSchema, keyId: z.string().regex(KEY_ID_PATTERN, 'a key id is hex, as the key list shows it')})
const newKeySchema = createdStreamKeySchema.extend({server: z.string().describe('OBS\'s "Server": the RTMP URL to publish to, with the key as the stream key')})

const adminUserSchema = z.object({id: z.string(), username: z.string(), email: z.string(), role: roleSchema, status: z.enum(accountStatuses), createdAt: z.string()})
const usersQuery = z.object({
  q: z.string().max(100).optional().describe('The start of a username or e-mail address (any case); empty: the newest accounts'),
  limit: z.coerce.number().int().min(1).max(200).optional().describe('At most this many (default 50)'),
})

export interface ApiRoutesOptions {
  db: Db
  redis: Redis
  users: Users
  streamKeySecret: string
  /** Where OBS publishes when no ingest is assigned: the site's RTMP host and port. */
  publicHost: string
  rtmpPort: number
  /** Why this account may not make stream keys yet (an unconfirmed address), or undefined. */
  goLiveRefusal: (viewer: Viewer) => string | undefined
  log: Logger
}

export async function apiRoutes(app: FastifyInstance, options: ApiRoutesOptions): Promise<void> {
  const {db, redis, users, log} = options
  const channels = new Channels(db)
  const keys = new StreamKeys({db, redis, secret: options.streamKeySecret})
  const states = new StreamStates(redis)
  const notYours = (): ApiError => new ApiError(404, 'You have no channel by that name: GET /api/me/channels lists yours.')
  /** The channel if the caller owns it. */
  const owned = async (name: string, userId: string): Promise<string> => {
    const channel = await channels.owned(name, userId)
    if (channel === null) throw notYours()
    return channel.name
  }

  app.get(
    '/api/me',
    {
      config: {scope: 'read'},
      schema: {summary: 'Who you are', description: 'The account the token (or session) belongs to.', tags: ['account'], response: {200: jsonSchema(meSchema), ...errorResponses(401, 403, 429)}},
    },
    async (request) => {
      const viewer = request.viewer!
      const token = request.apiToken
      return {...viewer, ...(token === undefined ? {} : {token: {name: token.name, scopes: token.scopes}})} satisfies z.infer<typeof meSchema>
    },
  )

  app.get(
    '/api/me/channels',
    {
      config: {scope: 'read'},
      schema: {
        summary: 'Your channels and whether they are live',
        tags: ['channels'],
        response: {200: jsonSchema(z.object({channels: z.array(myChannelSchema)}).describe('Your channels, oldest first')), ...errorResponses(401, 403, 429)},
      },
    },
    async (request) => {
      const mine = await channels.byOwner(request.viewer!.id)
      const live = await Promise.all(mine.map((c) => states.get(c.name)))
      return {
        channels: mine.map((c, i) => ({
          name: c.name,
          ...(c.title === undefined ? {} : {title: c.title}),
          createdAt: c.createdAt.toISOString(),
          live: live[i] !== undefined,
          ...(live[i] === undefined ? {} : {since: live[i].since}),
          page: `/c/${c.name}`,
          playback: playbackApiPath(c.name),
        })),
      } satisfies {channels: z.infer<typeof myChannelSchema>[]}
    },
  )

  app.get<{Params: z.infer<typeof channelParams>}>(
    '/api/channels/:channel/stream-keys',
    {
      config: {scope: 'read'},
      schema: {
        summary: 'Your channel\'s stream keys',
        description: 'Their ids and dates, never the keys themselves (a key is shown once, when it is made).',
        tags: ['channels'],
        params: jsonSchema(channelParams, 'input'),
        response: {200: jsonSchema(z.object({channel: z.string(), keys: z.array(streamKeyInfoSchema)}).describe('The channel\'s keys, revoked ones too')), ...errorResponses(400, 401, 403, 404, 429)},
      },
    },
    async (request) => {
      const channel = await owned(request.params.channel, request.viewer!.id)
      return {channel, keys: await keys.list(channel)}
    },
  )

  app.post<{Params: z.infer<typeof channelParams>}>(
    '/api/channels/:channel/stream-keys',
    {
      config: {scope: 'stream-keys'},
      schema: {
        summary: 'Make a stream key for your channel',
        description: 'The key is in this answer and nowhere else: put it in OBS (or your encoder) with the server beside it.',
        tags: ['channels'],
        params: jsonSchema(channelParams, 'input'),
        response: {201: jsonSchema(newKeySchema.describe('The new key: shown this once')), ...errorResponses(400, 401, 403, 404, 429)},
      },
    },
    async (request, reply) => {
      const channel = await owned(request.params.channel, request.viewer!.id)
      const refusal = options.goLiveRefusal(request.viewer!)
      if (refusal !== undefined) throw new ApiError(403, refusal)
      const created = await keys.create(channel)
      const assignment = await assignIngest(redis, options.publicHost).catch(() => undefined)
      log.info({channel, keyId: created.keyId, user: request.viewer!.username, token: request.apiToken?.id}, 'stream key created through the API')
      return reply.code(201).send({...created, server: assignment?.rtmpUrl ?? rtmpUrl(options.publicHost, options.rtmpPort)} satisfies z.infer<typeof newKeySchema>)
    },
  )

  app.delete<{Params: z.infer<typeof keyParams>}>(
    '/api/channels/:channel/stream-keys/:keyId',
    {
      config: {scope: 'stream-keys'},
      schema: {
        summary: 'Revoke one of your channel\'s stream keys',
        description: 'Publishing with it is refused from now on, and a broadcast using it ends within seconds.',
        tags: ['channels'],
        params: jsonSchema(keyParams, 'input'),
        response: {200: jsonSchema(revokeResultSchema.describe('The key is revoked')), ...errorResponses(400, 401, 403, 404, 429)},
      },
    },
    async (request) => {
      const channel = await owned(request.params.channel, request.viewer!.id)
      const result = await keys.revoke(channel, request.params.keyId)
      if (result.revoked.length === 0) throw new ApiError(404, 'No live key of this channel has that id: GET /api/channels/<channel>/stream-keys lists them.')
      log.info({channel, revoked: result.revoked, user: request.viewer!.username, token: request.apiToken?.id}, 'stream key revoked through the API')
      return result
    },
  )

  app.get<{Querystring: z.infer<typeof usersQuery>}>(
    '/api/admin/users',
    {
      config: {scope: 'admin'},
      schema: {
        summary: 'Find accounts',
        tags: ['admin'],
        querystring: jsonSchema(usersQuery, 'input'),
        response: {200: jsonSchema(z.object({users: z.array(adminUserSchema)}).describe('Accounts, newest first')), ...errorResponses(400, 401, 403, 429)},
      },
    },
    async (request) => {
      const found = await users.search(request.query.q ?? '', request.query.limit ?? 50)
      return {
        users: found.map((u) => ({id: u._id.toHexString(), username: u.username, email: u.email, role: u.role, status: u.status, createdAt: u.createdAt.toISOString()})),
      } satisfies {users: z.infer<typeof adminUserSchema>[]}
    },
  )
}
