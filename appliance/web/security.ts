/**
 * What every web request goes through: security headers (a Content-Security-Policy with no inline
 * script, frame-ancestors, nosniff, Referrer-Policy), form bodies, server-side sessions (Redis),
 * CSRF tokens checked on every state-changing request, and rate limits shared by every web
 * instance (Redis). Registered on the root app, so every domain's routes get them.
 */
import cookie from '@fastify/cookie'
import csrf from '@fastify/csrf-protection'
import formbody from '@fastify/formbody'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import session, {type SessionStore} from '@fastify/session'
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: a state-changing route that needs no CSRF token (one authenticated otherwise). */
    csrf?: boolean
  }
}

export const SESSION_COOKIE = 'shing_session'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The token of a request to the API that says `Authorization: Bearer <token>` (maybe a wrong one),
 * else undefined. Such a request is its token's, never its cookie's (api/auth.ts refuses it unless
 * the token is good), and no other site can make a browser send that header: CSRF does not apply.
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  if (!request.url.startsWith('/api/')) return undefined
  const match = /^Bearer(?:\s+(.*))?$/i.exec(request.headers.authorization ?? '')
  return match === null ? undefined : (match[1] ?? '').trim()
}

export interface SecurityOptions {
  /** SHING_PUBLIC_URL: https sites get Secure cookies and HSTS. */
  publicUrl: string
  /** SHING_RELAY_DIRECT_ORIGIN: players may load live video from the relays there. */
  relayDirectOrigin?: string | undefined
  redis: Redis
  sessionSecret: string
  sessionStore: SessionStore
  /** A new (visitor's) session's lifetime; a log-in sets its own. */
  sessionTtlSeconds: number
}

/**
 * The policy every page is served under: scripts, styles and media from the site itself only, and
 * live video from the relays' own TLS port when viewers are sent there (relayDirectOrigin).
 */
export function contentSecurityPolicy(https: boolean, relayDirectOrigin?: string): Record<string, string[] | null> {
  const video = relayDirectOrigin === undefined ? [] : [new URL(relayDirectOrigin).origin]
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:', 'blob:'],
    // hls.js plays through MediaSource (blob: URLs) and may run its demuxer in a blob: worker.
    'media-src': ["'self'", 'blob:', ...video],
    'worker-src': ["'self'", 'blob:'],
    'connect-src': ["'self'", ...video],
    'font-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    // Over plain HTTP (a site on an IP address) upgrading would break every asset.
    'upgrade-insecure-requests': https ? [] : null,
  }
}

export async function registerSecurity(app: FastifyInstance, options: SecurityOptions): Promise<void> {
  const https = new URL(options.publicUrl).protocol === 'https:'
  await app.register(helmet, {
    contentSecurityPolicy: {useDefaults: false, directives: contentSecurityPolicy(https, options.relayDirectOrigin)},
    referrerPolicy: {policy: 'strict-origin-when-cross-origin'},
    hsts: https ? {maxAge: 180 * 24 * 3600} : false,
    // Players on other sites may load the public playlist URLs; pages themselves stay unframeable.
    crossOriginResourcePolicy: {policy: 'same-site'},
  })
  await app.register(formbody, {bodyLimit: 64 * 1024})
  await app.register(cookie)
  await app.register(session, {
    secret: options.sessionSecret,
    cookieName: SESSION_COOKIE,
    store: options.sessionStore,
    saveUninitialized: false,
    // Behind the edge (TLS) request.protocol is https: Secure cookies there, plain ones on an http site.
    cookie: {httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/', maxAge: options.sessionTtlSeconds * 1000},
  })
  await app.register(csrf, {sessionPlugin: '@fastify/session'})
  await app.register(rateLimit, {
    global: false,
    redis: options.redis,
    nameSpace: 'shing:rate-limit:',
    // Redis away: the site keeps working unthrottled rather than refusing every log-in.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => ({statusCode: 429, error: 'Too Many Requests', message: `Too many attempts: wait ${context.after} and try again.`}),
  })
  // Every state-changing request carries the token of its session (a form field or a header),
  // but for an API request made with a bearer token, which carries no session.
  app.addHook('preHandler', (request, reply, done) => {
    if (SAFE_METHODS.has(request.method) || request.routeOptions.config.csrf === false || bearerToken(request) !== undefined) return done()
    app.csrfProtection(request, reply, done)
  })
}

/**
 * Checks a CSRF token the route read itself: a multipart form's fields are read in its handler
 * (after the preHandler that checks every other form), its token field first, before the file.
 * Rejects with the same 403 as the preHandler.
 */
export function verifyCsrfToken(app: FastifyInstance, request: FastifyRequest, token: string): Promise<void> {
  request.body = {_csrf: token}
  return new Promise((resolve, reject) => {
    // The check answers a bad token with reply.send(error): here, that error is the rejection.
    app.csrfProtection(request, {send: reject} as unknown as FastifyReply, () => resolve())
  })
}
