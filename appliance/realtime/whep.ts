/**
 * WHEP, the web's side (docs/whep.md): a player POSTs its SDP offer to /whep/<channel>; the web
 * finds the channel's real-time room (the ingest keeps it in Redis), joins it on that SFU as the
 * viewer, consumes its video and audio there with the codecs and ids the offer names, and answers
 * 201 with the SDP answer and the session's URL, which DELETE ends. No account is needed (the
 * channel's page plays for anyone), and other sites' players may play it too (CORS).
 */
import {randomBytes} from 'node:crypto'

import type {FastifyInstance, FastifyReply} from 'fastify'
import type {Redis} from 'ioredis'
import type {types} from 'mediasoup'
import {Counter, type Registry} from 'prom-client'

import {
  CHANNEL_PATTERN,
  realtimeKey,
  realtimeRecordSchema,
  sfuRpcToken,
  WHEP_OFFER_MAX_BYTES,
  WHEP_PATH,
  WHEP_SESSION_PATTERN,
  whepSessionPath,
  type CallAck,
  type CallMethod,
  type CallRequest,
  type CallResults,
  type RealtimeRecord,
  type RegistryRecord,
} from '../contract/index.js'
import {iceServerLinks} from '../ingest/whip-ingest.js'
import {writeAnswer, type TransportSide} from '../ingest/whip-sdp.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'
import {askSfu, SfuUnreachable} from '../sfu/rpc-client.js'
import {answerable, readViewerOffer, WhepOfferError} from './whep-sdp.js'

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, DELETE, PATCH, OPTIONS',
  'access-control-allow-headers': 'Content-Type, If-Match',
  'access-control-expose-headers': 'Location, ETag, Link, Retry-After, Accept-Post',
}

const refuse = (reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}): FastifyReply =>
  reply.code(status).headers({...cors, 'cache-control': 'no-store', ...headers}).type('text/plain; charset=utf-8').send(`${message}\n`)

const NOT_OFFERED = 'This channel is not live in real time now: play it over LL-HLS'

export interface WhepRoutesOptions {
  redis: Redis
  streamKeySecret: string
  publicHost: string
  registry: Registry
  log: Logger
}

export async function whepRoutes(app: FastifyInstance, options: WhepRoutesOptions): Promise<void> {
  const {redis, log} = options
  const token = sfuRpcToken(options.streamKeySecret)
  const answered = new Counter({name: 'shing_web_whep_requests_total', help: 'WHEP offers answered, by HTTP status', labelNames: ['status'], registers: [options.registry]})
  app.addContentTypeParser('application/sdp', {parseAs: 'string', bodyLimit: WHEP_OFFER_MAX_BYTES}, (_request, body, done) => done(null, body))
  app.addHook('onSend', async (request, reply, payload) => {
    reply.headers(cors)
    if (request.method === 'POST') answered.inc({status: String(reply.statusCode)})
    return payload
  })

  const where = async (channel: string): Promise<RealtimeRecord | undefined> => {
    const parsed = realtimeRecordSchema.safeParse(safeJson((await redis.get(realtimeKey(channel))) ?? ''))
    return parsed.success ? parsed.data : undefined
  }

  const config = {csrf: false}
  app.options(`${WHEP_PATH}/*`, {config}, async (_request, reply) => reply.code(204).headers({...cors, 'accept-post': 'application/sdp', 'access-control-max-age': '600'}).send())
  app.patch(`${WHEP_PATH}/*`, {config}, async (_request, reply) =>
    // The SFU is ICE-lite and needs none of the player's candidates; an ICE restart is a new session.
    refuse(reply, 405, 'This server takes no trickled candidates and no ICE restarts: start again with a new offer', {allow: 'DELETE, OPTIONS'}),
  )

  // A player asks once, and again after a failure: 30 a minute from one address is plenty.
  app.post<{Params: {channel: string}; Body: unknown}>(`${WHEP_PATH}/:channel`, {config: {...config, rateLimit: {max: 30, timeWindow: 60_000}}}, async (request, reply) => {
    const {channel} = request.params
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/sdp' || typeof request.body !== 'string') return refuse(reply, 415, 'Send the SDP offer as the body, with Content-Type: application/sdp')
    if (!CHANNEL_PATTERN.test(channel)) return refuse(reply, 404, NOT_OFFERED)
    let read
    try {
      read = readViewerOffer(request.body)
    } catch (error) {
      if (error instanceof WhepOfferError) return refuse(reply, 400, error.message)
      throw error
    }
    let record: RealtimeRecord | undefined
    let sfu: RegistryRecord | undefined
    try {
      record = await where(channel)
      sfu = record === undefined ? undefined : (await listNodes(redis, 'sfu')).find((node) => node.id === record!.sfu)
    } catch {
      return refuse(reply, 503, 'The site cannot find the real-time stream right now: try again in a moment', {'retry-after': '5'})
    }
    if (record === undefined) return refuse(reply, 404, NOT_OFFERED)
    if (sfu?.ports.http === undefined) return refuse(reply, 503, 'The real-time server of this channel is moving: try again in a few seconds', {'retry-after': '5'})

    const peer = randomBytes(12).toString('base64url')
    const ask = async <M extends CallMethod>(request: CallRequest): Promise<CallResults[M]> => {
      const ack = (await askSfu<M>(sfu, token, {room: record.room, peer, user: {id: `whep:${channel}`, name: 'viewer'}, internal: true, request})) as CallAck<M>
      if (!ack.ok) throw new Error(`${sfu.id}: ${request.method}: ${ack.error}`)
      return ack.result
    }
    try {
      // With the offer's payload types: the answer must send what the player's offer numbered.
      const joined = await ask<'join'>({method: 'join', room: record.room, rtpCapabilities: read.rtpCapabilities as unknown as Record<string, unknown>, matchPayloadTypes: true})
      const producers = joined.peers.flatMap((other) => other.producers)
      const video = producers.find((p) => p.kind === 'video')
      const audio = producers.find((p) => p.kind === 'audio')
      if (video === undefined) {
        await ask({method: 'leave'}).catch(() => undefined)
        return refuse(reply, 404, NOT_OFFERED)
      }
      const transport = await ask<'createTransport'>({method: 'createTransport', direction: 'recv'})
      await ask({method: 'connectTransport', transportId: transport.id, dtlsParameters: read.dtlsParameters as unknown as Record<string, unknown>})
      const consumers: Partial<Record<'audio' | 'video', types.RtpParameters>> = {}
      for (const producer of [video, audio]) {
        const section = producer === undefined ? undefined : read.sections[producer.kind]
        if (producer === undefined || section === undefined) continue
        const consumer = await ask<'consume'>({method: 'consume', transportId: transport.id, producerId: producer.id, mid: section.mid}).catch((error: unknown) => {
          // A player that cannot decode the audio (or has none) still gets the picture; the video it must take.
          if (producer.kind === 'audio') return undefined
          throw new WhepOfferError(`This player cannot play the channel's H.264 video (${(error as Error).message.replace(/^[^:]+: consume: /, '')})`)
        })
        if (consumer === undefined) continue
        consumers[producer.kind] = consumer.rtpParameters as types.RtpParameters
        await ask({method: 'resumeConsumer', consumerId: consumer.id})
      }
      const answer = writeAnswer(answerable(read, consumers, `shing-${channel}`), transport as unknown as TransportSide)
      const links = iceServerLinks(sfu, options.publicHost, options.streamKeySecret, `whep:${channel}`)
      log.info({channel, sfu: sfu.id, session: peer, tracks: Object.keys(consumers)}, 'whep: a viewer plays in real time')
      return reply
        .code(201)
        .headers({
          ...cors,
          'content-type': 'application/sdp',
          location: whepSessionPath(channel, sfu.id, peer),
          etag: `"${peer}"`,
          'cache-control': 'no-store',
          ...(links.length === 0 ? {} : {link: links.join(', ')}),
        })
        .send(answer)
    } catch (error) {
      await ask({method: 'leave'}).catch(() => undefined)
      if (error instanceof WhepOfferError) return refuse(reply, 400, error.message)
      if (error instanceof SfuUnreachable) return refuse(reply, 503, 'The real-time server of this channel does not answer: try again in a few seconds', {'retry-after': '5'})
      log.warn({channel, sfu: sfu.id, err: (error as Error).message}, 'whep: the viewer could not be connected')
      return refuse(reply, 503, 'The real-time stream could not be set up: play it over LL-HLS, or try again in a moment', {'retry-after': '5'})
    }
  })

  app.delete<{Params: {channel: string; sfu: string; session: string}}>(`${WHEP_PATH}/:channel/:sfu/:session`, {config}, async (request, reply) => {
    const {channel, sfu: sfuId, session} = request.params
    if (!WHEP_SESSION_PATTERN.test(session)) return refuse(reply, 404, 'No such WHEP session')
    const record = await where(channel).catch(() => undefined)
    const sfu = (await listNodes(redis, 'sfu').catch(() => [])).find((node) => node.id === sfuId)
    // Its room or its SFU gone: the session went with them.
    if (record === undefined || record.sfu !== sfuId || sfu === undefined) return refuse(reply, 404, 'No such WHEP session (the real-time stream ended or moved)')
    const ack = await askSfu(sfu, token, {room: record.room, peer: session, user: {id: `whep:${channel}`, name: 'viewer'}, internal: true, request: {method: 'leave'}}).catch(() => undefined)
    if (ack === undefined) return refuse(reply, 503, 'The real-time server does not answer: the session ends by itself when the player stops', {'retry-after': '5'})
    return reply.code(200).headers({...cors, 'cache-control': 'no-store'}).send()
  })
}
