/**
 * Calls on the SFU as the browser, the web and the SFU agree on them. The browser signals over the
 * site's Socket.IO connection (namespace CALLS_NAMESPACE, the session cookie says who); the web
 * places each room on an SFU process and forwards the browser's requests to it over HTTP
 * (SFU_RPC_PATH, with a token both derive from the stream-key secret); the SFU tells the browsers
 * what changed in their room through Redis (CALL_EVENTS_CHANNEL), which every web instance hears
 * and passes to the sockets it holds. docs/calls.md tells the whole exchange.
 */
import {createHmac} from 'node:crypto'
import {isIP} from 'node:net'

import {z} from 'zod'

export const CALLS_NAMESPACE = '/calls'
/** A room's id: 128 random bits, base64url (its link is its invitation). */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/
export const CALL_MAX_PARTICIPANTS = 16
/** What a participant shows as their name (their username), at most this long. */
export const CALL_NAME_MAX = 40

/** Where the SFU answers the web's forwarded requests (its own HTTP port, on the overlay network). */
export const SFU_RPC_PATH = '/calls/rpc'
/** The bearer token the web sends and the SFU checks: only components that hold the secret know it. */
export const sfuRpcToken = (streamKeySecret: string): string => createHmac('sha256', streamKeySecret).update('shing sfu rpc v1').digest('base64url')

/**
 * TURN (coturn beside each SFU, for browsers whose network lets no media through to the SFU): its
 * shared secret, derived from the stream-key secret, and the time-limited credentials the web
 * mints from it (coturn's REST-API scheme: username "<expiry>:<user>", password
 * base64(HMAC-SHA1(secret, username))).
 */
export const turnSecret = (streamKeySecret: string): string => createHmac('sha256', streamKeySecret).update('shing turn v1').digest('base64url')
export const TURN_CREDENTIAL_TTL_SECONDS = 12 * 3600
export function turnCredentials(streamKeySecret: string, userId: string, now = Date.now()): {username: string; credential: string} {
  // The expiry rounded up to the hour: an account's credentials are the same for an hour, so coturn's per-user quota holds.
  const expiry = Math.ceil((now / 1000 + TURN_CREDENTIAL_TTL_SECONDS) / 3600) * 3600
  const username = `${expiry}:${userId}`
  return {username, credential: createHmac('sha1', turnSecret(streamKeySecret)).update(username).digest('base64')}
}

/** A host for a turn: URL: a name or IPv4 without a port, an IPv6 address in brackets. */
export function turnHost(host: string): string {
  const bare = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : isIP(host) === 6 ? host : host.replace(/:\d+$/, '')
  return isIP(bare) === 6 ? `[${bare}]` : bare
}
/** An SFU's TURN server (coturn beside it), over UDP and TCP. */
export const turnUrls = (host: string, port: number): string[] => [`turn:${turnHost(host)}:${port}?transport=udp`, `turn:${turnHost(host)}:${port}?transport=tcp`]

/** Redis pub/sub channel of room events, SFU → every web instance → the room's sockets. */
export const CALL_EVENTS_CHANNEL = 'shing:calls:events'
/** Redis key: the SFU process a room lives on (its registry id), while the room is used. */
export const callRoomKey = (room: string): string => `shing:calls:room:${room}`
/**
 * Redis set: the other SFU processes a room continues on when its own is full (a room spans
 * processes and boxes). Each links to the room's SFU, its hub, with a pair of mediasoup pipe
 * transports; the hub passes every participant's media and news to every other process.
 */
export const callSpanKey = (room: string): string => `shing:calls:span:${room}`
/** How long a room's placement is kept after its last join. */
export const CALL_ROOM_TTL_SECONDS = 12 * 3600
/**
 * Redis key: a participant's page is connected to a web instance (refreshed by it every
 * CALL_PRESENCE_REFRESH_MS). The SFU drops a participant whose key is gone: their web instance
 * died with their connection, and nothing else would say they left.
 */
export const callPresenceKey = (peer: string): string => `shing:calls:peer:${peer}`
export const CALL_PRESENCE_TTL_SECONDS = 45
export const CALL_PRESENCE_REFRESH_MS = 15_000

const id = z.string().min(1).max(64)
/** mediasoup's own structures pass through the web unread: the SFU parses them. Bounded in size by the socket's frame limit. */
const opaque = z.record(z.string(), z.unknown())
export const mediaSources = ['mic', 'camera', 'screen'] as const
export type MediaSource = (typeof mediaSources)[number]

/** What the browser asks (Socket.IO event 'call', with an ack); the web adds room and peer. */
export const callRequestSchema = z.discriminatedUnion('method', [
  /**
   * `matchPayloadTypes` (components only): the SFU sends this receiver the room's media with the
   * payload types its rtpCapabilities name (a WHEP player's offer), not the router's.
   */
  z.object({method: z.literal('join'), room: z.string().regex(ROOM_ID_PATTERN), rtpCapabilities: opaque.optional(), matchPayloadTypes: z.boolean().optional()}),
  z.object({method: z.literal('setRtpCapabilities'), rtpCapabilities: opaque}),
  z.object({method: z.literal('createTransport'), direction: z.enum(['send', 'recv'])}),
  z.object({method: z.literal('connectTransport'), transportId: id, dtlsParameters: opaque}),
  z.object({method: z.literal('restartIce'), transportId: id}),
  z.object({method: z.literal('produce'), transportId: id, kind: z.enum(['audio', 'video']), rtpParameters: opaque, source: z.enum(mediaSources)}),
  z.object({method: z.literal('closeProducer'), producerId: id}),
  z.object({method: z.literal('pauseProducer'), producerId: id}),
  z.object({method: z.literal('resumeProducer'), producerId: id}),
  /** `mid`: the receiver's own m-section for it (a WHEP viewer's offer names its mids; a call's page takes the SFU's). */
  z.object({method: z.literal('consume'), transportId: id, producerId: id, mid: z.string().min(1).max(32).optional()}),
  z.object({method: z.literal('resumeConsumer'), consumerId: id}),
  /** Which simulcast layer a tile needs (0 = smallest). */
  z.object({method: z.literal('setPreferredLayer'), consumerId: id, spatialLayer: z.number().int().min(0).max(2)}),
  z.object({method: z.literal('leave')}),
])
export type CallRequest = z.infer<typeof callRequestSchema>
export type CallMethod = CallRequest['method'] | InternalRequest['method']

/** Where one SFU process answers the others (and the web): its registry id, host and HTTP port. */
const sfuAddressSchema = z.object({id, host: z.string().min(1).max(255), http: z.number().int().min(1).max(65_535)})
export type SfuAddress = z.infer<typeof sfuAddressSchema>

/**
 * Plain RTP into and out of a room, for components (never forwarded from a browser): a transport
 * that takes RTP where it comes from (comedia, for producing) or sends to an address (for
 * consuming), then `produce` / `consume` on it as on a WebRTC transport. What co-streaming's
 * compositor and bench:sfu use.
 */
export const internalRequestSchema = z.discriminatedUnion('method', [
  z.object({method: z.literal('plainTransport'), direction: z.enum(['send', 'recv'])}),
  z.object({method: z.literal('plainConnect'), transportId: id, ip: z.union([z.ipv4(), z.ipv6()]), port: z.number().int().min(1).max(65_535)}),
  /** Asks the sender for a keyframe for this consumer now (a decoder that starts needs one). */
  z.object({method: z.literal('requestKeyFrame'), consumerId: id}),
  /** The RTP packets a producer of the room has received so far (a compositor leaves out a source that sends nothing). */
  z.object({method: z.literal('producerStats'), producerId: id}),
  /**
   * From an SFU process the room continues on, to the room's hub: its pipe transport is at
   * `ip`:`port`; the hub answers with its own, and with everyone in the room and what they send,
   * already sent over it (each producer's RTP parameters on the pipe).
   */
  z.object({method: z.literal('link'), from: sfuAddressSchema, ip: z.union([z.ipv4(), z.ipv6()]), port: z.number().int().min(1).max(65_535), srtp: opaque}),
  /** Between linked SFU processes: send this producer over the link to `from` (its RTP parameters there). */
  z.object({method: z.literal('pipeConsume'), from: id, producerId: id}),
  /** Between linked SFU processes: who `from` should know of from here, and what they send (a check for news lost on the way). */
  z.object({method: z.literal('roster'), from: id}),
])
export type InternalRequest = z.infer<typeof internalRequestSchema>

/** What the web (or another component holding the token) sends the SFU: a request and who asks, in which room. */
export const sfuRpcSchema = z.object({
  room: z.string().regex(ROOM_ID_PATTERN),
  peer: id,
  /** Who the peer is: the SFU tells the others. */
  user: z.object({id, name: z.string().min(1).max(CALL_NAME_MAX)}),
  /**
   * A component's own peer (a compositor, a benchmark), not a person: it does not count against a
   * call's participants, and receives without a person's limits. The web never sets it.
   */
  internal: z.boolean().optional(),
  /**
   * With a join, from the web: the room's own SFU (its hub) when the room continues on this one
   * because the hub is full. Absent: this SFU is the room's own.
   */
  hub: sfuAddressSchema.optional(),
  request: z.union([callRequestSchema, internalRequestSchema]),
})
export type SfuRpc = z.infer<typeof sfuRpcSchema>

export interface CallProducerView {
  id: string
  kind: 'audio' | 'video'
  source: MediaSource
  paused: boolean
}
export interface CallPeerView {
  peer: string
  name: string
  producers: CallProducerView[]
}
export interface CallJoined {
  rtpCapabilities: unknown
  /** Who else is in the room, and what they send. */
  peers: CallPeerView[]
  /** The SFU process the room is on (shown to admins; a rejoin may land elsewhere). */
  sfu: string
}
export interface CallTransportInfo {
  id: string
  iceParameters: unknown
  iceCandidates: unknown
  dtlsParameters: unknown
  /** TURN servers the browser may use, with credentials for this session. */
  iceServers?: unknown
}
export interface CallConsumerInfo {
  id: string
  producerId: string
  kind: 'audio' | 'video'
  rtpParameters: unknown
  peer: string
  source: MediaSource
}

/** Results per method (the ack's `result`). */
export interface CallResults {
  join: CallJoined
  setRtpCapabilities: Record<string, never>
  createTransport: CallTransportInfo
  connectTransport: Record<string, never>
  restartIce: {iceParameters: unknown}
  produce: {id: string}
  closeProducer: Record<string, never>
  pauseProducer: Record<string, never>
  resumeProducer: Record<string, never>
  consume: CallConsumerInfo
  resumeConsumer: Record<string, never>
  setPreferredLayer: Record<string, never>
  leave: Record<string, never>
  /** Where the plain transport listens (for RTP to it) or sends from. */
  plainTransport: {id: string; ip: string; port: number}
  plainConnect: Record<string, never>
  requestKeyFrame: Record<string, never>
  producerStats: {packets: number}
  /** The hub's pipe transport (`srtp`: its SRTP parameters), and everyone in the room. */
  link: {ip: string; port: number; srtp: unknown; peers: PipedPeerView[]}
  pipeConsume: PipedProducerView
  roster: {peers: CallPeerView[]}
}

/** A producer as sent over a link between SFU processes. */
export interface PipedProducerView extends CallProducerView {
  rtpParameters: unknown
}
/** A participant as a linked SFU process learns of them. */
export interface PipedPeerView {
  peer: string
  name: string
  producers: PipedProducerView[]
}

/** The ack of every request: a result, or an error said to the person (and whether joining again may help). */
export type CallAck<M extends CallMethod = CallMethod> = {ok: true; result: CallResults[M]} | {ok: false; error: string; rejoin?: boolean}

/** What the SFU says happened in a room; `to` / `except` name peers (absent: everyone in the room). */
export const callEventSchema = z.discriminatedUnion('type', [
  z.object({type: z.literal('peerJoined'), peer: id, name: z.string()}),
  z.object({type: z.literal('peerLeft'), peer: id}),
  z.object({type: z.literal('newProducer'), peer: id, producer: z.object({id, kind: z.enum(['audio', 'video']), source: z.enum(mediaSources), paused: z.boolean()})}),
  z.object({type: z.literal('producerClosed'), peer: id, producerId: id}),
  z.object({type: z.literal('producerPaused'), peer: id, producerId: id, paused: z.boolean()}),
  z.object({type: z.literal('consumerClosed'), consumerId: id}),
  z.object({type: z.literal('activeSpeaker'), peer: id.nullable()}),
  /** The room's SFU process (`sfu`, its registry id) is going away or gone: join again (the web places the room elsewhere). */
  z.object({type: z.literal('roomClosed'), reason: z.string(), sfu: id}),
])
export type CallEvent = z.infer<typeof callEventSchema>
export const callEventMessageSchema = z.object({
  room: z.string().regex(ROOM_ID_PATTERN),
  /** The SFU process that says it: the web passes it to the room's sockets on that process only. */
  sfu: id.optional(),
  /** About someone on another process (its registry id), passed on by the room's hub: that process said it first. */
  relayed: id.optional(),
  to: id.optional(),
  except: id.optional(),
  event: callEventSchema,
})
export type CallEventMessage = z.infer<typeof callEventMessageSchema>
