/**
 * Call signalling on the web: the browser's requests arrive on the site's Socket.IO connection
 * (namespace /calls, logged-in people only), go to the SFU process the room is placed on
 * (placement.ts) over HTTP, and their answers come back as the acks. What the SFU says happened in
 * a room arrives through Redis; each web instance passes it to the room's sockets it holds on that
 * SFU (a room that spans processes has sockets on each, and each process tells its own). A
 * socket that goes away leaves its call; an SFU that cannot be reached is avoided, and the
 * browser told to join again, which places the room on another SFU.
 */
import {randomBytes} from 'node:crypto'

import type {FastifyInstance} from 'fastify'
import {Redis} from 'ioredis'
import type {Server, Socket} from 'socket.io'

import type {RedisSessionStore} from '../accounts/sessions.js'
import {socketSession} from '../accounts/socket-session.js'
import type {Users} from '../accounts/users.js'
import {
  CALL_EVENTS_CHANNEL,
  CALL_PRESENCE_REFRESH_MS,
  CALL_PRESENCE_TTL_SECONDS,
  CALLS_NAMESPACE,
  callPresenceKey,
  callEventMessageSchema,
  callRequestSchema,
  sfuRpcToken,
  turnCredentials,
  turnUrls,
  type CallAck,
  type CallTransportInfo,
  type CallEventMessage,
  type CallRequest,
  type RegistryRecord,
  type SfuRpc,
} from '../contract/index.js'
import type {Metrics} from '../platform/http-server.js'
import type {Logger} from '../platform/logger.js'
import {safeJson} from '../platform/json.js'
import {reconnectDelay, type RedisEndpoint} from '../platform/redis.js'
import {askSfu, SfuRefused, SfuUnreachable} from '../sfu/rpc-client.js'
import {placeRoom} from './placement.js'

/** Requests one socket may make per 10 s: joining a full room takes about 3 per participant. */
const REQUESTS_PER_10S = 300
/** Requests one socket may have waiting for their turn (a join of a full room asks about 100). */
const MAX_WAITING = 150
/** An SFU this web could not reach is left alone this long (its registry record may outlive it by a TTL). */
const AVOID_MS = 20_000

interface CallSocketData {
  userId: string
  peer: string
  name?: string
  room?: string
  sfu?: RegistryRecord
  requests: number
  windowStart: number
  /** The socket's requests, one after the other: a join waits for the one before it. */
  queue: Promise<unknown>
  /** Requests waiting in that queue. */
  waiting: number
}
type CallSocket = Socket & {data: CallSocketData}

export interface CallSignallingOptions {
  io: Server
  app: FastifyInstance
  users: Users
  sessions: RedisSessionStore
  sessionSecret: string
  sessionCookie: string
  streamKeySecret: string
  /** The site's public host (SHING_PUBLIC_HOST): TURN's address where an SFU's record names none of its own. */
  publicHost: string
  redis: Redis
  redisEndpoint: RedisEndpoint
  metrics: Metrics
  log: Logger
}

const roomOf = (room: string, sfu?: string): string => (sfu === undefined ? `call:${room}` : `call:${room}@${sfu}`)
const peerRoomOf = (peer: string): string => `call-peer:${peer}`

export function startCallSignalling(options: CallSignallingOptions): {close(): Promise<void>} {
  const {redis, log} = options
  const token = sfuRpcToken(options.streamKeySecret)
  const nsp = options.io.of(CALLS_NAMESPACE)
  /** SFU id → until when this web does not send rooms there. */
  const avoided = new Map<string, number>()
  options.metrics.gauge('shing_call_sockets', 'Call signalling connections to this web instance', () => nsp.sockets.size)

  const avoid = (): Set<string> => {
    const now = Date.now()
    for (const [id, until] of avoided) if (until < now) avoided.delete(id)
    return new Set(avoided.keys())
  }

  /**
   * The room's SFU does not answer: everyone still on it joins again now, rather than when their
   * browser notices that the media stopped (several seconds).
   */
  const roomLost = (room: string, sfu: string): void => {
    const message: CallEventMessage = {room, event: {type: 'roomClosed', reason: 'The call server stopped: joining again…', sfu}}
    redis.publish(CALL_EVENTS_CHANNEL, JSON.stringify(message)).catch((error: unknown) => log.debug({err: (error as Error).message}, 'call: room loss not published'))
  }

  const rpc = async (sfu: RegistryRecord, body: SfuRpc): Promise<CallAck> => {
    try {
      return await askSfu(sfu, token, body)
    } catch (error) {
      if (error instanceof SfuRefused) {
        log.error({sfu: sfu.id, err: error.message}, 'call: the SFU refused the web')
        return {ok: false, error: 'The call server refused this site: an admin should check the logs.'}
      }
      avoided.set(sfu.id, Date.now() + AVOID_MS)
      throw error
    }
  }

  /**
   * A request to `sfu` for `peer` got no answer: the SFU may be gone, or only slow, and then it has
   * the peer still (a join it finished after the web gave up). Told to drop it, in the background;
   * its presence key goes too, so that the SFU's sweep drops it if this does not reach it.
   */
  const forget = (sfu: RegistryRecord, room: string, peer: string, user: SfuRpc['user']): void => {
    redis.del(callPresenceKey(peer)).catch(() => undefined)
    askSfu(sfu, token, {room, peer, user, request: {method: 'leave'}}, 30_000).catch(() => undefined)
  }

  /** Out of every call room and peer room, whatever the socket's data says. */
  const leaveRooms = async (socket: CallSocket): Promise<void> => {
    await Promise.all([...socket.rooms].filter((name) => name.startsWith('call:') || name.startsWith('call-peer:')).map((name) => socket.leave(name)))
  }

  const leave = async (socket: CallSocket): Promise<void> => {
    const {room, sfu, peer, userId, name} = socket.data
    if (room === undefined || sfu === undefined) return
    delete socket.data.room
    delete socket.data.sfu
    await leaveRooms(socket)
    await redis.del(callPresenceKey(peer)).catch(() => undefined)
    await rpc(sfu, {room, peer, user: {id: userId, name: name ?? '?'}, request: {method: 'leave'}}).catch(() => undefined)
  }

  const join = async (socket: CallSocket, request: Extract<CallRequest, {method: 'join'}>): Promise<CallAck> => {
    if (socket.data.room !== undefined) await leave(socket)
    await leaveRooms(socket)
    const user = await options.users.byId(socket.data.userId)
    if (user === null || user.status !== 'active') return {ok: false, error: 'Your account cannot join calls now: log in again.'}
    socket.data.name = user.username
    // A new peer id per join: what the old one left on a dead SFU is never mistaken for this one.
    socket.data.peer = randomBytes(9).toString('base64url')
    // In the room's Socket.IO rooms before the SFU hears of this peer: what happens meanwhile (someone
    // else starts their camera) reaches the page, and what concerns only others skips it.
    await socket.join([roomOf(request.room), peerRoomOf(socket.data.peer)])
    for (let tries = 0; tries < 3; tries += 1) {
      const placement = await placeRoom(redis, request.room, avoid())
      if (placement === undefined) break
      const {sfu, hub} = placement
      // Moved (its SFU gone from the registry, or unreachable from here): those still on the old one join again.
      if (placement.movedFrom !== undefined) roomLost(request.room, placement.movedFrom)
      await socket.join(roomOf(request.room, sfu.id))
      try {
        const ack = await rpc(sfu, {
          room: request.room,
          peer: socket.data.peer,
          user: {id: socket.data.userId, name: user.username},
          ...(hub === undefined || hub.ports.http === undefined ? {} : {hub: {id: hub.id, host: hub.host, http: hub.ports.http}}),
          request,
        })
        if (!ack.ok) {
          await leaveRooms(socket)
          return ack
        }
        socket.data.room = request.room
        socket.data.sfu = sfu
        await redis.set(callPresenceKey(socket.data.peer), '1', 'EX', CALL_PRESENCE_TTL_SECONDS).catch(() => undefined)
        return {ok: true, result: {...(ack.result as Extract<CallAck<'join'>, {ok: true}>['result']), sfu: sfu.id}}
      } catch (error) {
        if (!(error instanceof SfuUnreachable)) throw error
        log.warn({room: request.room, err: error.message}, 'call: SFU unreachable; placing the room elsewhere')
        forget(sfu, request.room, socket.data.peer, {id: socket.data.userId, name: user.username})
        await socket.leave(roomOf(request.room, sfu.id))
        // The next SFU gets another peer id: a late join there keeps no presence that would keep it.
        await socket.leave(peerRoomOf(socket.data.peer))
        socket.data.peer = randomBytes(9).toString('base64url')
        await socket.join(peerRoomOf(socket.data.peer))
      }
    }
    await leaveRooms(socket)
    return {ok: false, error: 'No call server can take this call now: trying again…', rejoin: true}
  }

  nsp.use(socketSession({...options, loggedOut: 'Log in to join calls.', unavailable: 'Calls are unavailable for a moment: try again.'}))
  nsp.on('connection', (raw) => {
    const socket = raw as CallSocket
    socket.data.peer = randomBytes(9).toString('base64url')
    socket.data.requests = 0
    socket.data.windowStart = Date.now()
    socket.data.queue = Promise.resolve()
    socket.data.waiting = 0
    socket.on('call', (input: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return
      const reply = ack as (answer: CallAck) => void
      // Counted as they come, not as they are answered: a slow SFU does not let a socket pile requests up.
      const now = Date.now()
      if (now - socket.data.windowStart > 10_000) {
        socket.data.windowStart = now
        socket.data.requests = 0
      }
      socket.data.requests += 1
      if (socket.data.requests > REQUESTS_PER_10S || socket.data.waiting >= MAX_WAITING) return reply({ok: false, error: 'Too many requests: slow down.'})
      socket.data.waiting += 1
      // In order, one at a time: a join that overtook the previous one would leave a participant behind on the SFU.
      socket.data.queue = socket.data.queue
        .then(() => answer(input, reply))
        .catch((error: unknown) => log.warn({err: (error as Error).message}, 'call request failed'))
        .finally(() => {
          socket.data.waiting -= 1
        })
    })
    const answer = async (input: unknown, reply: (answer: CallAck) => void): Promise<void> => {
      const parsed = callRequestSchema.safeParse(input)
      if (!parsed.success) return reply({ok: false, error: `That request is not understood: ${parsed.error.issues[0]?.message ?? 'invalid'}.`})
      const request = parsed.data
      try {
        if (request.method === 'join') return reply(await join(socket, request))
        if (request.method === 'leave') {
          await leave(socket)
          return reply({ok: true, result: {}})
        }
        const {room, sfu, peer, userId, name} = socket.data
        if (room === undefined || sfu === undefined) return reply({ok: false, error: 'Join the call first.', rejoin: true})
        const answer = await rpc(sfu, {room, peer, user: {id: userId, name: name ?? '?'}, request})
        // The SFU's TURN server, with credentials for this account, for a browser that cannot reach the SFU itself.
        if (answer.ok && request.method === 'createTransport' && sfu.ports.turn !== undefined) {
          const {username, credential} = turnCredentials(options.streamKeySecret, userId)
          ;(answer.result as CallTransportInfo).iceServers = [{urls: turnUrls(sfu.publicHost ?? options.publicHost, sfu.ports.turn), username, credential}]
        }
        reply(answer)
      } catch (error) {
        if (error instanceof SfuUnreachable) {
          if (socket.data.room !== undefined && socket.data.sfu !== undefined) {
            roomLost(socket.data.room, socket.data.sfu.id)
            forget(socket.data.sfu, socket.data.room, socket.data.peer, {id: socket.data.userId, name: socket.data.name ?? '?'})
          }
          delete socket.data.room
          delete socket.data.sfu
          await leaveRooms(socket)
          return reply({ok: false, error: 'The call server went away: joining again…', rejoin: true})
        }
        log.warn({method: request.method, err: (error as Error).message}, 'call request failed')
        reply({ok: false, error: 'Calls are unavailable for a moment: try again.'})
      }
    }
    socket.on('disconnect', () => {
      socket.data.queue = socket.data.queue.then(() => leave(socket)).catch((error: unknown) => log.debug({err: (error as Error).message}, 'call: leave failed'))
    })
  })

  // Subscribed connections take no other command: one of its own, waiting for Redis when it is away.
  const subscriber = new Redis({...options.redisEndpoint, connectionName: 'calls', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  subscriber.on('error', (error: Error) => log.debug({err: error.message}, 'calls redis error'))
  subscriber.subscribe(CALL_EVENTS_CHANNEL).catch((error: unknown) => log.warn({err: (error as Error).message}, 'calls: not subscribed; participants miss what changes'))
  subscriber.on('message', (_channel, message) => {
    const parsed = callEventMessageSchema.safeParse(safeJson(message))
    if (!parsed.success) return
    const {room, sfu, to, except, event} = parsed.data
    if (event.type === 'roomClosed') {
      // Only to those still on that SFU: those who joined again elsewhere stay where they are.
      for (const socket of nsp.sockets.values()) {
        const data = (socket as CallSocket).data
        if (data.room !== room || data.sfu?.id !== event.sfu) continue
        // Not left: the room is gone from there. The browser joins again.
        delete data.room
        delete data.sfu
        void leaveRooms(socket as CallSocket)
        socket.emit('callEvent', event)
      }
      return
    }
    // This instance's own sockets on that SFU; the other instances serve theirs, the other SFUs tell theirs.
    const target = to !== undefined ? nsp.local.to(peerRoomOf(to)) : nsp.local.to(roomOf(room, sfu))
    ;(except === undefined ? target : target.except(peerRoomOf(except))).emit('callEvent', event)
  })

  // This instance's participants are still here: the SFU drops those whose key runs out.
  const presence = setInterval(() => {
    const peers = [...nsp.sockets.values()].map((socket) => (socket as CallSocket).data).filter((data) => data.room !== undefined).map((data) => data.peer)
    if (peers.length === 0) return
    const batch = redis.pipeline()
    for (const peer of peers) batch.set(callPresenceKey(peer), '1', 'EX', CALL_PRESENCE_TTL_SECONDS)
    batch.exec().catch((error: unknown) => log.debug({err: (error as Error).message}, 'call presence not refreshed'))
  }, CALL_PRESENCE_REFRESH_MS)

  return {
    close: async () => {
      clearInterval(presence)
      subscriber.disconnect()
      await Promise.all([...nsp.sockets.values()].map((socket) => leave(socket as CallSocket).catch(() => undefined)))
      nsp.disconnectSockets(true)
    },
  }
}
