/**
 * Who calls the API, and what they may do there. A script sends `Authorization: Bearer
 * shing_pat_…`: on /api/* that token, never a cookie, says who it is, and only while its account
 * is active (a suspension or a ban stops it at once). A browser calls with its session cookie,
 * and a state-changing call with the CSRF token too. A route says which scope it needs in
 * `config.scope`; a token must carry it, and the admin scope works only while the account is an
 * admin. Failed token attempts are rate limited per address, on every web instance (Redis).
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {viewerOf, type Users} from '../accounts/users.js'
import type {Logger} from '../platform/logger.js'
import {bearerToken} from '../web/security.js'
import type {AccessTokens, TokenScope} from './tokens.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API scope a route needs: a token must carry it; a session needs only to be logged in (and an admin, for admin). */
    scope?: TokenScope
  }
  interface FastifyRequest {
    /** The token a request to the API came with, when it came with one (request.viewer is its account). */
    apiToken?: {id: string; name: string; scopes: TokenScope[]}
  }
}

/** An API refusal: the error handler answers it as JSON {error, message}. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/** Failed token attempts per client address before it waits (shared by every web instance). */
export const TOKEN_FAILURE_LIMIT = {max: 10, timeWindow: 60_000}
const MAKE_ONE = 'make one on your account page at /account/tokens'

export function registerApiAuth(app: FastifyInstance, options: {tokens: AccessTokens; users: Users; log: Logger}): void {
  const {tokens, users, log} = options
  app.decorateRequest('apiToken', undefined)
  const failures = app.createRateLimit({...TOKEN_FAILURE_LIMIT, keyGenerator: (request) => `api-token-failures:${request.ip}`})

  // After the session's account is loaded (accounts/routes.ts): a token replaces it.
  app.addHook('preHandler', async (request, reply) => {
    const token = bearerToken(request)
    if (token === undefined) return
    request.viewer = undefined
    const limit = await failures(request, {increment: false})
    if (!limit.isAllowed && limit.isExceeded) {
      reply.header('retry-after', limit.ttlInSeconds)
      throw new ApiError(429, `Too many wrong tokens from this address: wait ${limit.ttlInSeconds} s and try again.`)
    }
    const found = await tokens.verify(token)
    const user = found === null ? null : await users.byId(found.userId)
    if (found === null || user === null || user.status !== 'active') {
      await failures(request)
      log.info({ip: request.ip, token: found?._id.toHexString()}, 'API token refused')
      reply.header('www-authenticate', 'Bearer')
      throw new ApiError(401, `This token is not valid: it is mistyped, revoked, or its account cannot log in. Send Authorization: Bearer shing_pat_…; to get a token, ${MAKE_ONE}.`)
    }
    request.viewer = viewerOf(user)
    request.apiToken = {id: found._id.toHexString(), name: found.name, scopes: found.scopes}
  })

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const scope = request.routeOptions.config.scope
    if (scope === undefined) return
    const viewer = request.viewer
    if (viewer === undefined) {
      reply.header('www-authenticate', 'Bearer')
      throw new ApiError(401, `Log in, or send a personal access token as Authorization: Bearer shing_pat_…; to get a token, ${MAKE_ONE}.`)
    }
    if (request.apiToken !== undefined && !request.apiToken.scopes.includes(scope)) {
      throw new ApiError(403, `This needs the ${scope} scope, which this token does not have: ${MAKE_ONE} with the ${scope} scope.`)
    }
    if (scope === 'admin' && viewer.role !== 'admin') throw new ApiError(403, 'This needs an admin account: the admin scope works only while its account is an admin.')
  })
}
