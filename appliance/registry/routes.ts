import type {FastifyInstance, FastifySchema} from 'fastify'
import type {Redis} from 'ioredis'

import {NODES_API_PATH, nodesViewSchema, registeredRoles, type NodesView} from '../contract/index.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'
import {listNodes} from './nodes.js'

/** The live registry by role, least loaded first: GET /api/nodes. */
export async function readNodes(redis: Redis): Promise<NodesView> {
  const [ingest = [], relay = [], sfu = []] = await Promise.all(registeredRoles.map((role) => listNodes(redis, role)))
  return {ingest, relay, sfu}
}

/**
 * The boxes and their load are the admin's (`shing status` asks from inside a web container, over
 * loopback); to anyone else, through the edge, there is nothing here.
 */
export async function registryRoutes(app: FastifyInstance, options: {redis: Redis}): Promise<void> {
  const schema: FastifySchema = {
    summary: 'The live registry: ingests, relays and SFUs with their load',
    description: 'Answered over loopback only (`shing status` asks from inside a web container); elsewhere 404.',
    tags: ['internal'],
    response: {200: jsonSchema(nodesViewSchema.describe('The live processes by role, least loaded first')), ...errorResponses(404)},
  }
  app.get(NODES_API_PATH, {schema}, async (request, reply) => {
    if (!isLoopback(request.socket.remoteAddress ?? '')) return reply.code(404).send({error: 'not found', message: 'There is nothing at this address.'})
    return readNodes(options.redis)
  })
}

const isLoopback = (address: string): boolean => address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1'
