/**
 * The API's own description: an OpenAPI 3 document made from the routes' JSON schemas (so it
 * cannot drift from what the routes validate), at /api/openapi.json, and Swagger UI reading it at
 * /api/docs, served from the web itself. Swagger UI's page loads its scripts by URL only, so it
 * runs under the site's Content-Security-Policy unchanged; its base layout is used, since the
 * standalone one's top bar draws a logo with an inline <style> the policy refuses. Only /api/*
 * routes are described.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type {FastifyInstance, FastifySchema} from 'fastify'
import {z} from 'zod'

export const OPENAPI_PATH = '/api/openapi.json'
export const API_DOCS_PATH = '/api/docs'

/** A JSON Schema (draft-07, as fastify validates) from a zod schema: the contract's shapes describe the API. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const {$schema: _dialect, ...rest} = z.toJSONSchema(schema, {target: 'draft-7', io, unrepresentable: 'any'})
  return rest
}

/** Every API error: a short kind ("not found", "unauthorized") and a sentence saying what to do. */
export const apiErrorJsonSchema = {
  type: 'object',
  properties: {error: {type: 'string', description: 'The kind of error, e.g. "not found"'}, message: {type: 'string', description: 'What went wrong and how to fix it'}},
  required: ['error', 'message'],
} as const

const errorMeanings: Record<number, string> = {
  400: 'The input does not fit the schema: the message names the field',
  401: 'No valid token or session: the message says how to get one',
  403: 'The token lacks the scope this needs, or the account the role',
  404: 'There is no such thing, or it is not yours',
  429: 'Too many wrong tokens from this address: wait (Retry-After)',
  503: 'Not possible right now: the message says why',
}

/** Response schemas for the error statuses a route answers with, each with what it means. */
export const errorResponses = (...statuses: number[]): Record<number, typeof apiErrorJsonSchema & {description: string}> =>
  Object.fromEntries(statuses.map((status) => [status, {...apiErrorJsonSchema, description: errorMeanings[status] ?? 'An error'}]))

/** Swagger UI, fitted: no empty "Links" column (no operation has links), and room for the examples on a phone. */
const docsCss = `.swagger-ui .response-col_links { display: none; }
.swagger-ui .highlight-code pre { white-space: pre; word-break: normal; overflow-x: auto; }
@media (max-width: 30rem) {
  .swagger-ui .wrapper { padding: 0 .5rem; }
  .swagger-ui .info { margin: 1.25rem 0; }
  .swagger-ui .opblock .opblock-section-header, .swagger-ui .opblock-description-wrapper, .swagger-ui .responses-inner { padding: .5rem; }
  .swagger-ui .response-col_status { padding-right: .5rem; }
}
`

export async function registerApiDocs(app: FastifyInstance, options: {siteName: string}): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: `${options.siteName} API`,
        version: '1',
        description:
          'The JSON API of this Shing site. A browser calls it with its session (and, to change anything, its CSRF token); ' +
          'a script sends a personal access token, made on [your account\'s tokens page](/account/tokens), as `Authorization: Bearer shing_pat_…`. ' +
          'Each operation says the scope it needs (read, stream-keys, admin). Every error answers `{error, message}`.',
      },
      components: {
        securitySchemes: {
          token: {type: 'http', scheme: 'bearer', description: 'A personal access token (shing_pat_…) from /account/tokens'},
          session: {type: 'apiKey', in: 'cookie', name: 'shing_session', description: 'A logged-in browser session'},
        },
      },
      tags: [
        {name: 'account', description: 'The account a token or session belongs to'},
        {name: 'channels', description: 'Your channels, their live state and stream keys'},
        {name: 'streams', description: 'Public: what players load'},
        {name: 'admin', description: 'For admins (the admin scope)'},
        {name: 'internal', description: 'Used by the platform itself'},
      ],
    },
    // Pages, assets, health and metrics are not the API; an API route shows the scope it needs.
    transform: ({schema, url, route}) => {
      const described: FastifySchema = {...schema}
      if (!url.startsWith('/api/')) return {schema: {...described, hide: true}, url}
      const scope = route.config?.scope
      if (scope !== undefined) {
        described.security = [{token: []}, {session: []}]
        described.description = [`Needs the **${scope}** scope.`, described.description].filter(Boolean).join(' ')
      }
      return {schema: described, url}
    },
  })
  await app.register(swaggerUi, {routePrefix: API_DOCS_PATH, theme: {title: `${options.siteName} API`, css: [{filename: 'shing.css', content: docsCss}]}, uiConfig: {layout: 'BaseLayout', deepLinking: true, defaultModelsExpandDepth: 0}})
  app.get(OPENAPI_PATH, {schema: {hide: true}}, async (_request, reply) => reply.header('cache-control', 'no-cache').send(app.swagger()))
}
