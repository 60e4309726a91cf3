/**
 * Chat over Socket.IO on the web's own HTTP server: one room per channel, WebSocket only (the
 * edge has no sticky sessions), across web instances through Redis streams (a Redis restart loses
 * nothing that was sent after it), and connection-state recovery (a viewer whose network blinks
 * gets what they missed). The session cookie says who writes; anyone reads. Every message passes
 * the channel's ban list, the author's time-out, slow mode and flood control, and the channel's
 * rules, in that order, before it is stored (MongoDB) and delivered.
 */
import type {IncomingMessage} from 'node:http'

import {Signer} from '@fastify/cookie'
import {createAdapter} from '@socket.io/redis-streams-adapter'
import type {FastifyInstance} from 'fastify'
import {Redis} from 'ioredis'
import {Server, type Socket} from 'socket.io'

import type {RedisSessionStore} from '../accounts/sessions.js'
import type {UserDoc, Users} from '../accounts/users.js'
import type {LiveStates} from '../channels/stream-state.js'
import {
  CHAT_SOCKET_PATH,
  CHANNEL_PATTERN,
  chatHandshakeSchema,
  chatModerationSchema,
  type ChatAck,
  type ChatClientEvents,
  type ChatLimits,
  type ChatModeration,
  type ChatPermission,
  type ChatServerEvents,
  type ChatYou,
} from '../contract/index.js'
import type {Metrics} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {reconnectDelay, type RedisEndpoint} from '../platform/redis.js'
import {notifyChatModeration, notifyMentions, type Notifier} from '../community/chat-notifications.js'
import {ChatFloodGate} from './flood.js'
import {ChatRooms, mayActAgainst, standingOf, type ChatRoom} from './rooms.js'
import {formatSeconds, messageRefusal, normalizeMessage, writerRefusal, type Author} from './rules.js'
import {messageView} from './store.js'

interface SocketData {
  channel: string
  userId?: string
}
type ChatSocket = Socket<ChatClientEvents, ChatServerEvents, Record<string, never>, SocketData>
type ChatIo = Server<ChatClientEvents, ChatServerEvents, Record<string, never>, SocketData>

export const roomOf = (channel: string): string => `chat:${channel}`
/** One person's connections to one room: where their time-out or ban is told. */
const personalRoom = (channel: string, userId: string): string => `chat:${channel}:${userId}`

const UNAVAILABLE = 'Chat is unavailable for a moment: your message was not sent. Try again in a few seconds.'
const ACTION_PERMISSION: Record<ChatModeration['action'], ChatPermission> = {delete: 'delete', timeout: 'timeout', ban: 'ban', unban: 'ban'}

export interface ChatServerOptions {
  app: FastifyInstance
  rooms: ChatRooms
  users: Users
  sessions: RedisSessionStore
  sessionSecret: string
  sessionCookie: string
  liveStates: LiveStates
  redis: Redis
  redisEndpoint: RedisEndpoint
  limits: ChatLimits
  /** The site sends mail (verified-e-mail-only applies only then). */
  siteMails: boolean
  /** Tells people they were mentioned or moderated (community/notifications.ts). */
  notify?: Notifier
  metrics: Metrics
  log: Logger
}

/** The client's address: the edge's X-Forwarded-For names it (the one proxy in front), else the peer. */
function clientAddress(request: IncomingMessage): string {
  const forwarded = request.headers['x-forwarded-for']
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').pop()?.trim()
  return last !== undefined && last !== '' ? last : (request.socket.remoteAddress ?? '')
}

/**
 * A browser sends its cookies with a WebSocket from any page: only pages of this site may open one
 * (the Origin is this host). Clients that send no Origin are not browsers and carry no one's cookie.
 */
function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return true
  try {
    const host = request.headers['x-forwarded-host'] ?? request.headers.host
    return new URL(origin).host === host
  } catch {
    return false
  }
}

export interface RunningChat {
  /** A channel's settings changed (on this instance): its room gets them now, every connection what it may do. */
  settingsChanged(channel: string): Promise<void>
  /** Someone's standing in a channel changed (made or unmade a moderator): their connections are told. */
  standingChanged(channel: string, userId: string): Promise<void>
  /** The Socket.IO server (other namespaces share its connection and Redis adapter: the notification bell). */
  io: Server
  close(): Promise<void>
}

export function startChat(options: ChatServerOptions): RunningChat {
  const {rooms, users, limits, log} = options
  const store = rooms.store
  const gate = new ChatFloodGate(options.redis, limits)
  const signer = new Signer(options.sessionSecret)
  // The adapter blocks on XREAD: its own connection, without the general client's 3 s command
  // timeout. Its commands wait for Redis rather than fail: the adapter leaves some of its promises
  // (SUBSCRIBE, heartbeats) unhandled, and a web started while Redis is away must not die of them.
  // A message is never queued there: send() asks Redis first, on the general client, and refuses.
  const adapterRedis = new Redis({...options.redisEndpoint, connectionName: 'chat', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  adapterRedis.on('error', (error: Error) => log.debug({err: error.message}, 'chat redis error'))
  const io: ChatIo = new Server(options.app.server, {
    path: CHAT_SOCKET_PATH,
    serveClient: false,
    transports: ['websocket'],
    // Other sockets on this server (browser broadcasts, ingest/browser-forward.ts) are not Socket.IO's to close.
    destroyUpgrade: false,
    maxHttpBufferSize: limits.maxFrameBytes,
    allowRequest: (request, callback) => callback(null, sameOrigin(request)),
    connectionStateRecovery: {maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true},
    adapter: createAdapter(adapterRedis, {streamName: 'shing:chat', sessionKeyPrefix: 'shing:chat:recovery:', channelPrefix: 'shing:chat', maxLen: 10_000, blockTimeInMs: 2000}),
  })
  let accepted = 0
  options.metrics.gauge('shing_chat_connections', 'Chat connections to this web instance', () => io.engine.clientsCount)
  options.metrics.gauge('shing_chat_messages_accepted', 'Chat messages this instance accepted since start', () => accepted)

  // Who is connected from where: a flood of connections from one address is refused.
  const perAddress = new Map<string, number>()

  io.use((socket, next) => {
    const handshake = chatHandshakeSchema.safeParse(socket.handshake.auth)
    if (!handshake.success || !CHANNEL_PATTERN.test(handshake.data.channel)) return next(new Error('Say which channel: auth {channel}.'))
    const address = clientAddress(socket.request)
    if ((perAddress.get(address) ?? 0) >= limits.connectionsPerAddress) return next(new Error('Too many chat connections from your address.'))
    socket.data.channel = handshake.data.channel
    const raw = options.app.parseCookie(socket.request.headers.cookie ?? '')[options.sessionCookie]
    const sessionId = raw === undefined ? undefined : signer.unsign(raw)
    if (sessionId === undefined || !sessionId.valid || sessionId.value === null) return next()
    options.sessions.get(sessionId.value, (error, session) => {
      if (error !== null && error !== undefined) log.warn({err: (error as Error).message}, 'chat: sessions unavailable; this connection reads only')
      else if (session?.userId !== undefined) socket.data.userId = session.userId
      next()
    })
  })

  /** What the rules need to know of an author (whether they follow: only where that is asked). */
  const authorOf = async (room: ChatRoom, user: UserDoc): Promise<Author> => ({
    createdAt: user.createdAt,
    emailVerified: user.emailVerifiedAt !== undefined,
    ...(room.settings.followersOnly ? {follows: (await rooms.follows.get(user._id.toHexString(), room.channel)) !== null} : {}),
  })

  /** What this connection may do here now. */
  const youOf = async (room: ChatRoom, user: UserDoc | null): Promise<ChatYou> => {
    if (user === null || user.status !== 'active') return {cannotWrite: 'Log in to chat.', permissions: []}
    const id = user._id.toHexString()
    const standing = standingOf(room, {id, role: user.role})
    const you: ChatYou = {user: user.username, permissions: standing.permissions}
    if (standing.badge !== undefined) return you
    const [banned, until] = await Promise.all([store.isBanned(room.channel, id), gate.timedOutUntil(room.channel, id)])
    if (banned) return {...you, cannotWrite: 'You are banned from this chat.'}
    if (until !== undefined) return {...you, cannotWrite: `You are timed out until ${until.toISOString().slice(11, 19)} UTC.`, timedOutUntil: until.toISOString()}
    const refusal = writerRefusal(await authorOf(room, user), room.settings, {now: Date.now(), siteMails: options.siteMails})
    return refusal === undefined ? you : {...you, cannotWrite: refusal}
  }

  const welcome = async (socket: ChatSocket): Promise<void> => {
    const {channel, userId} = socket.data
    const room = await rooms.get(channel)
    if (room === null) {
      socket.disconnect(true)
      return
    }
    const user = userId === undefined ? null : await users.byId(userId)
    const [history, you] = await Promise.all([store.recent(channel), youOf(room, user)])
    const {slowModeSeconds, linksAllowed, emoteOnly} = room.settings
    socket.emit('welcome', {channel, history: history.map(messageView), settings: {slowModeSeconds, linksAllowed, emoteOnly}, you})
  }

  const send = async (socket: ChatSocket, input: unknown): Promise<ChatAck<{id: string}>> => {
    const {channel, userId} = socket.data
    if (userId === undefined) return {ok: false, error: 'Log in to chat.'}
    if (typeof input !== 'string') return {ok: false, error: 'A message is text.'}
    const text = normalizeMessage(input)
    const [room, user] = await Promise.all([rooms.get(channel), users.byId(userId)])
    if (room === null) return {ok: false, error: 'This channel has no chat.'}
    if (user === null || user.status !== 'active') return {ok: false, error: 'Log in to chat.'}
    const standing = standingOf(room, {id: userId, role: user.role})
    const exempt = standing.badge !== undefined
    if (!exempt) {
      if (await store.isBanned(channel, userId)) return {ok: false, error: 'You are banned from this chat.'}
      const refusal = writerRefusal(await authorOf(room, user), room.settings, {now: Date.now(), siteMails: options.siteMails})
      if (refusal !== undefined) return {ok: false, error: refusal}
    }
    const problem = messageRefusal(text, exempt ? {...room.settings, emoteOnly: false} : room.settings)
    if (problem !== undefined) return {ok: false, error: problem}
    const verdict = await gate.check(channel, userId, exempt ? 0 : room.settings.slowModeSeconds)
    if (!verdict.ok) {
      if (verdict.reason === 'timed-out') return {ok: false, error: `You are timed out until ${verdict.until.toISOString().slice(11, 19)} UTC.`}
      const wait = formatSeconds(Math.max(1, Math.ceil(verdict.waitMs / 1000)))
      return {ok: false, error: verdict.reason === 'slow-mode' ? `Slow mode: wait ${wait} before your next message.` : `You are sending messages too fast: wait ${wait}.`}
    }
    const live = options.liveStates.lastKnown(channel)
    const doc = await store.add({
      channel,
      ...(live?.streamId === undefined ? {} : {streamId: live.streamId}),
      userId,
      user: user.username,
      text,
      at: new Date(),
      ...(standing.badge === undefined ? {} : {badge: standing.badge}),
    })
    io.to(roomOf(channel)).emit('message', messageView(doc))
    accepted += 1
    // After delivery, not awaited: a mention's notification never slows the chat.
    if (options.notify !== undefined) {
      notifyMentions(options.notify, users, {channel, messageId: doc._id.toHexString(), sender: user.username, text}).catch((error: unknown) => log.warn({channel, err: (error as Error).message}, 'chat: mentions not notified'))
    }
    return {ok: true, id: doc._id.toHexString()}
  }

  /** Tells a person's connections to this room what they may do now. */
  const tell = async (room: ChatRoom, target: UserDoc): Promise<void> => {
    io.to(personalRoom(room.channel, target._id.toHexString())).emit('you', await youOf(room, target))
  }

  const moderate = async (socket: ChatSocket, input: unknown): Promise<ChatAck> => {
    const {channel, userId} = socket.data
    const request = chatModerationSchema.safeParse(input)
    if (!request.success) return {ok: false, error: 'That is not a moderation request this chat knows.'}
    const [room, actor] = await Promise.all([rooms.get(channel), userId === undefined ? null : users.byId(userId)])
    if (room === null || actor === null || actor.status !== 'active') return {ok: false, error: 'Log in to moderate.'}
    const actorMember = {id: actor._id.toHexString(), role: actor.role}
    const action = request.data
    if (!standingOf(room, actorMember).permissions.includes(ACTION_PERMISSION[action.action])) return {ok: false, error: 'You may not do that in this chat.'}
    const authorId = action.action === 'delete' ? await store.authorOf(channel, action.messageId) : undefined
    const target = action.action === 'delete' ? (authorId === undefined ? null : await users.byId(authorId)) : await users.byUsername(action.user)
    if (target === null) return {ok: false, error: action.action === 'delete' ? 'That message is gone already.' : `There is no account called ${action.user}.`}
    const targetMember = {id: target._id.toHexString(), role: target.role}
    const refusal = mayActAgainst(room, actorMember, targetMember)
    if (refusal !== undefined) return {ok: false, error: refusal}
    const record = (details?: string): Promise<void> => store.record({channel, actor: actor.username, action: action.action, target: target.username, ...(details === undefined ? {} : {details})})
    switch (action.action) {
      case 'delete': {
        const removed = await store.remove(channel, action.messageId, actor.username)
        if (removed === undefined) return {ok: false, error: 'That message is gone already.'}
        io.to(roomOf(channel)).emit('deleted', {ids: [action.messageId]})
        await record(removed.text.slice(0, 200))
        break
      }
      case 'timeout': {
        await gate.timeOut(channel, targetMember.id, action.seconds)
        await record(formatSeconds(action.seconds))
        await tell(room, target)
        await toldByNotification(channel, targetMember.id, 'timeout', formatSeconds(action.seconds))
        break
      }
      case 'ban': {
        await store.ban({channel, userId: targetMember.id, user: target.username, by: actor.username, at: new Date()})
        const ids = await store.removeAllBy(channel, targetMember.id, actor.username)
        if (ids.length > 0) io.to(roomOf(channel)).emit('deleted', {ids})
        await record(`${ids.length} message${ids.length === 1 ? '' : 's'} removed`)
        await tell(room, target)
        await toldByNotification(channel, targetMember.id, 'ban')
        break
      }
      case 'unban': {
        const wasBanned = await store.unban(channel, targetMember.id)
        await gate.endTimeout(channel, targetMember.id)
        await record(wasBanned ? undefined : 'was not banned; time-out ended')
        await tell(room, target)
        break
      }
    }
    return {ok: true}
  }

  /** The target of a time-out or ban hears of it even when not in the chat now (a failure is logged: the action stands). */
  const toldByNotification = async (channel: string, targetId: string, action: 'timeout' | 'ban', duration?: string): Promise<void> => {
    if (options.notify === undefined) return
    await notifyChatModeration(options.notify, {channel, targetId, action, ...(duration === undefined ? {} : {duration})}).catch((error: unknown) => log.warn({channel, err: (error as Error).message}, 'chat: moderation not notified'))
  }

  /** A failure of Redis or MongoDB: the sender is told, nothing is half-delivered. */
  const answer = <T extends object>(socket: ChatSocket, what: string, work: () => Promise<ChatAck<T>>, ack: unknown): Promise<void> => {
    if (typeof ack !== 'function') return Promise.resolve()
    return work().then(
      (result) => (ack as (answer: ChatAck<T>) => void)(result),
      (error: unknown) => {
        log.warn({channel: socket.data.channel, err: (error as Error).message}, `chat ${what} failed`)
        ;(ack as (answer: ChatAck<T>) => void)({ok: false, error: UNAVAILABLE})
      },
    )
  }

  io.on('connection', (socket) => {
    const address = clientAddress(socket.request)
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1)
    socket.on('disconnect', () => {
      const left = (perAddress.get(address) ?? 1) - 1
      if (left <= 0) perAddress.delete(address)
      else perAddress.set(address, left)
    })
    // Per connection: more events than the limit in 10 s and it is closed (a script, not a person).
    let windowStart = Date.now()
    let events = 0
    socket.use((_packet, next) => {
      const now = Date.now()
      if (now - windowStart > 10_000) {
        windowStart = now
        events = 0
      }
      events += 1
      if (events > limits.eventsPer10s) {
        log.info({channel: socket.data.channel, address}, 'chat connection closed: too many events')
        socket.disconnect(true)
        return
      }
      next()
    })
    // One request at a time per connection: what someone types quickly arrives in the order they typed it.
    let queue = Promise.resolve()
    const inTurn = (run: () => Promise<void>): void => {
      queue = queue.then(run)
    }
    socket.on('send', (text, ack) => inTurn(() => answer(socket, 'send', () => send(socket, text), ack)))
    socket.on('moderate', (request, ack) => inTurn(() => answer(socket, 'moderation', () => moderate(socket, request), ack)))
    // A recovered connection is back in its rooms and was given what it missed.
    if (socket.recovered) return
    void socket.join(roomOf(socket.data.channel))
    if (socket.data.userId !== undefined) void socket.join(personalRoom(socket.data.channel, socket.data.userId))
    welcome(socket).catch((error: unknown) => {
      log.warn({channel: socket.data.channel, err: (error as Error).message}, 'chat: could not welcome a connection; it will retry')
      socket.disconnect(true)
    })
  })

  return {
    io: io as unknown as Server,
    settingsChanged: async (channel) => {
      rooms.forget(channel)
      const room = await rooms.get(channel)
      if (room === null) return
      const {slowModeSeconds, linksAllowed, emoteOnly} = room.settings
      io.to(roomOf(channel)).emit('settings', {slowModeSeconds, linksAllowed, emoteOnly})
    },
    standingChanged: async (channel, userId) => {
      rooms.forget(channel)
      const [room, user] = await Promise.all([rooms.get(channel), users.byId(userId)])
      if (room !== null && user !== null) await tell(room, user)
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        io.close(() => resolve())
      }).catch(() => undefined)
      adapterRedis.disconnect()
    },
  }
}
