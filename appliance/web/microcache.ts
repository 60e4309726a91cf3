/**
 * A micro-cache in front of the web app, as nginx's microcaching is: the pages every visitor who
 * is not logged in sees alike (the front page, a channel page) are answered for a couple of
 * seconds from the last complete answer (status 200, no cookie set, security headers included),
 * before fastify, its hooks and the renderer run. A request with a session cookie, a method other
 * than GET/HEAD, a query string, or a path not marked cacheable always goes to the app.
 */
import type {IncomingMessage, OutgoingHttpHeaders, ServerResponse} from 'node:http'

import type {FastifyInstance} from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answers to visitors without a session may be served from the micro-cache. */
    microcache?: boolean
  }
}

interface Entry {
  at: number
  headers: OutgoingHttpHeaders
  body: Buffer
}

export class MicroCache {
  private readonly entries = new Map<string, Entry>()
  private readonly pending = new WeakMap<object, Buffer>()
  hits = 0

  constructor(
    private readonly ttlMs: number,
    /** A request cookie header that means "logged in or holding a form": never cached. */
    private readonly sessionCookie: string,
    private readonly maxEntries = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  private cacheable(request: IncomingMessage): boolean {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false
    // A query string makes a new URL at will: those go to the app, so nobody fills the cache.
    if (request.url === undefined || request.url.includes('?')) return false
    const cookie = request.headers.cookie
    return cookie === undefined || !cookie.includes(`${this.sessionCookie}=`)
  }

  /** Answers from the cache when it can (true); otherwise the app answers. */
  serve(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.cacheable(request)) return false
    const entry = this.entries.get(request.url ?? '')
    if (entry === undefined || this.now() - entry.at >= this.ttlMs) return false
    this.hits += 1
    response.writeHead(200, entry.headers)
    response.end(request.method === 'HEAD' ? undefined : entry.body)
    return true
  }

  /** Keeps the complete answers of routes marked `microcache` to visitors without a session. */
  register(app: FastifyInstance): void {
    app.addHook('onSend', async (request, _reply, payload) => {
      if (request.routeOptions.config.microcache === true && request.method === 'GET' && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
        this.pending.set(request, typeof payload === 'string' ? Buffer.from(payload) : payload)
      }
      return payload
    })
    app.addHook('onResponse', async (request, reply) => {
      const body = this.pending.get(request)
      if (body === undefined) return
      this.pending.delete(request)
      if (reply.statusCode !== 200 || reply.getHeader('set-cookie') !== undefined || !this.cacheable(request.raw)) return
      const headers = {...reply.getHeaders()} as OutgoingHttpHeaders
      // Node writes its own date and connection headers with each answer.
      for (const name of ['date', 'connection', 'keep-alive', 'transfer-encoding']) delete headers[name]
      headers['content-length'] = body.length
      this.entries.delete(request.url)
      this.entries.set(request.url, {at: this.now(), headers, body})
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
    })
  }
}
