/**
 * /account/tokens: a logged-in user makes personal access tokens (a name and scopes), sees each
 * new one once, sees when each was last used, and revokes them. Forms post and redirect; the new
 * token travels to the next page in the session (Redis) and is dropped there.
 */
import type {FastifyInstance} from 'fastify'

import type {Logger} from '../platform/logger.js'
import {formList, formText as text, sendPage as html, viewerOrLogIn, type FieldErrors, type PageContextOf} from '../web/html.js'
import {tokensPage} from './token-pages.js'
import {TokenInputError, tokenScopes, type AccessTokens, type TokenScope} from './tokens.js'

declare module 'fastify' {
  interface Session {
    /** A token made on the tokens page, until the next page shows it (once). */
    newAccessToken?: {name: string; token: string}
  }
}

export async function tokenRoutes(app: FastifyInstance, options: {tokens: AccessTokens; pageContext: PageContextOf; log: Logger}): Promise<void> {
  const {tokens, pageContext, log} = options
  const scopesFor = (role: string): TokenScope[] => tokenScopes.filter((s) => s !== 'admin' || role === 'admin')

  app.get<{Querystring: {revoked?: string}}>('/account/tokens', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const created = request.session.newAccessToken
    delete request.session.newAccessToken
    const notice = request.query.revoked !== undefined ? 'The token is revoked: a script using it is refused from now on.' : undefined
    return html(
      reply,
      200,
      tokensPage(pageContext(request, reply, {form: true}), {
        tokens: await tokens.list(viewer.id),
        scopes: scopesFor(viewer.role),
        ...(created === undefined ? {} : {created}),
        ...(notice === undefined ? {} : {notice}),
      }),
    )
  })

  app.post<{Body: Record<string, unknown>}>('/account/tokens', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const values = {name: text(request.body?.name), scopes: formList(request.body?.scopes)}
    try {
      const {token, info} = await tokens.create({userId: viewer.id, isAdmin: viewer.role === 'admin', ...values})
      log.info({user: viewer.username, token: info._id.toHexString(), scopes: info.scopes}, 'access token created')
      request.session.newAccessToken = {name: info.name, token}
      return reply.redirect('/account/tokens', 303)
    } catch (error) {
      if (!(error instanceof TokenInputError)) throw error
      const errors: FieldErrors = {[error.field]: error.message}
      return html(reply, 400, tokensPage(pageContext(request, reply, {form: true}), {tokens: await tokens.list(viewer.id), scopes: scopesFor(viewer.role), values, errors}))
    }
  })

  app.post<{Params: {id: string}}>('/account/tokens/:id/revoke', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    if (await tokens.revoke(viewer.id, request.params.id)) log.info({user: viewer.username, token: request.params.id}, 'access token revoked')
    return reply.redirect('/account/tokens?revoked=1', 303)
  })
}
