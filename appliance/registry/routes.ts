import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'

import {NODES_API_PATH, registeredRoles, type NodesView} from '../contract/index.js'
import {listNodes} from './nodes.js'

/** The live registry by role, least loaded first: GET /api/nodes. */
export async function readNodes(redis: Redis): Promise<NodesView> {
  const [ingest = [], relay = [], sfu = []] = await Promise.all(registeredRoles.map((role) => listNodes(redis, role)))
  return {ingest, relay, sfu}
}

export async function registryRoutes(app: FastifyInstance, options: {redis: Redis}): Promise<void> {
  app.get(NODES_API_PATH, async () => readNodes(options.redis))
}
