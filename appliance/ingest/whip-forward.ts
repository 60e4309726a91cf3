/**
 * The web's half of WHIP (docs/whip.md): POST /whip/<channel> arrives at the site (the edge sends
 * everything but /live/* to the web), and the web hands it to the least-loaded ingest with a free
 * slot, which answers it; DELETE on a session's URL goes to the ingest named in it. Other sites'
 * pages may publish (the key is the credential, no cookie is read): CORS lets them.
 */
import type {FastifyInstance, FastifyReply} from 'fastify'
import type {Redis} from 'ioredis'

import {WHIP_OFFER_MAX_BYTES, WHIP_PATH, WHIP_RETRY_AFTER_SECONDS} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'

/** How long an ingest may take to place a session (SFU round trips, ffmpeg starting). */
const INGEST_TIMEOUT_MS = 20_000
/** The ingest's answer headers the encoder needs. */
const PASSED_HEADERS = ['content-type', 'location', 'etag', 'link', 'retry-after', 'www-authenticate', 'cache-control']

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, DELETE, PATCH, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, If-Match',
  'access-control-expose-headers': 'Location, ETag, Link, Retry-After, WWW-Authenticate, Accept-Post',
}

const refuse = (reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}): FastifyReply =>
  reply.code(status).headers({...cors, 'cache-control': 'no-store', ...headers}).type('text/plain; charset=utf-8').send(`${message}\n`)

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host)

export async function whipRoutes(app: FastifyInstance, options: {redis: Redis; log: Logger}): Promise<void> {
  const {log} = options
  app.addContentTypeParser('application/sdp', {parseAs: 'string', bodyLimit: WHIP_OFFER_MAX_BYTES}, (_request, body, done) => done(null, body))
  // Every answer, refusals made before a handler runs (429, 413) included, readable by pages on other sites.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.headers(cors)
    return payload
  })

  /** Sends the request to an ingest and the ingest's answer back as it came. */
  const forward = async (reply: FastifyReply, url: string, init: {method: string; authorization?: string; body?: string}): Promise<FastifyReply> => {
    let response: Response
    try {
      response = await fetch(url, {
        method: init.method,
        headers: {...(init.authorization === undefined ? {} : {authorization: init.authorization}), ...(init.body === undefined ? {} : {'content-type': 'application/sdp'})},
        ...(init.body === undefined ? {} : {body: init.body}),
        signal: AbortSignal.timeout(INGEST_TIMEOUT_MS),
      })
    } catch (error) {
      log.warn({url, err: (error as Error).message}, 'whip: the ingest does not answer')
      return refuse(reply, 503, 'The ingest does not answer: try again in a moment', {'retry-after': '5'})
    }
    const headers: Record<string, string> = {...cors}
    for (const name of PASSED_HEADERS) {
      const value = response.headers.get(name)
      if (value !== null) headers[name] = value
    }
    return reply.code(response.status).headers(headers).send(Buffer.from(await response.arrayBuffer()))
  }

  const config = {csrf: false}
  app.options(`${WHIP_PATH}/*`, {config}, async (_request, reply) => reply.code(204).headers({...cors, 'accept-post': 'application/sdp', 'access-control-max-age': '600'}).send())
  app.patch(`${WHIP_PATH}/*`, {config}, async (_request, reply) =>
    // The SFU is ICE-lite and needs none of the encoder's candidates; an ICE restart is a new session.
    refuse(reply, 405, 'This server takes no trickled candidates and no ICE restarts: publish again with a new offer', {allow: 'DELETE, OPTIONS'}),
  )

  // An encoder publishes once and retries after a refusal: 30 a minute from one address is plenty.
  app.post<{Params: {channel: string}; Body: unknown}>(`${WHIP_PATH}/:channel`, {config: {...config, rateLimit: {max: 30, timeWindow: 60_000}}}, async (request, reply) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/sdp' || typeof request.body !== 'string') return refuse(reply, 415, 'Send the SDP offer as the body, with Content-Type: application/sdp')
    let ingests
    try {
      ingests = await listNodes(options.redis, 'ingest')
    } catch {
      return refuse(reply, 503, 'The site cannot find an ingest right now: try again in a minute', {'retry-after': String(WHIP_RETRY_AFTER_SECONDS)})
    }
    // With no free slot anywhere, the least loaded still answers: a bad key is 401 and a live channel 409 before "no room" (503).
    const reachable = ingests.filter((n) => n.ports.http !== undefined)
    const ingest = reachable.find((n) => (n.load.slotsFree ?? 0) > 0) ?? reachable[0]
    if (ingest === undefined) {
      return refuse(reply, 503, 'No ingest is running on this site: try again in a few minutes, or ask the admin (shing status)', {'retry-after': String(WHIP_RETRY_AFTER_SECONDS)})
    }
    const url = `http://${urlHost(ingest.host)}:${ingest.ports.http}${WHIP_PATH}/${encodeURIComponent(request.params.channel)}`
    return forward(reply, url, {method: 'POST', body: request.body, ...(request.headers.authorization === undefined ? {} : {authorization: request.headers.authorization})})
  })

  app.delete<{Params: {channel: string; ingest: string; session: string}}>(`${WHIP_PATH}/:channel/:ingest/:session`, {config}, async (request, reply) => {
    const {channel, ingest: ingestId, session} = request.params
    const ingest = (await listNodes(options.redis, 'ingest').catch(() => [])).find((n) => n.id === ingestId)
    if (ingest?.ports.http === undefined) return refuse(reply, 404, 'No such WHIP session (its ingest is gone, and the broadcast with it)')
    const url = `http://${urlHost(ingest.host)}:${ingest.ports.http}${WHIP_PATH}/${encodeURIComponent(channel)}/${encodeURIComponent(ingestId)}/${encodeURIComponent(session)}`
    return forward(reply, url, {method: 'DELETE', ...(request.headers.authorization === undefined ? {} : {authorization: request.headers.authorization})})
  })
}
