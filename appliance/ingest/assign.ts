/** Where a streamer publishes: the least-loaded ingest with a free ladder slot. */
import type {FastifyInstance, FastifySchema} from 'fastify'
import type {Redis} from 'ioredis'

import {INGEST_ASSIGN_PATH, ingestAssignmentSchema, rtmpUrl, type IngestAssignment} from '../contract/index.js'
import {listNodes} from '../registry/nodes.js'
import {errorResponses, jsonSchema} from '../web/openapi.js'

/** Its own public address when the ingest registered one, else the site's. */
export async function assignIngest(redis: Redis, publicHost: string): Promise<IngestAssignment | undefined> {
  const ingests = await listNodes(redis, 'ingest')
  const free = ingests.find((n) => (n.load.slotsFree ?? 0) > 0 && n.ports.rtmp !== undefined)
  if (free?.ports.rtmp === undefined) return undefined
  return {rtmpUrl: rtmpUrl(free.publicHost ?? publicHost, free.ports.rtmp), ingestId: free.id}
}

export async function assignRoutes(app: FastifyInstance, options: {redis: Redis; publicHost: string}): Promise<void> {
  const schema: FastifySchema = {
    summary: 'Where an encoder publishes now',
    description: 'The RTMP server of the least-loaded ingest with a free transcode slot (OBS\'s "Server"); 503 when none has one.',
    tags: ['streams'],
    response: {200: jsonSchema(ingestAssignmentSchema.describe('The ingest to publish to')), ...errorResponses(503)},
  }
  app.get(INGEST_ASSIGN_PATH, {schema}, async (_request, reply) => {
    const assignment = await assignIngest(options.redis, options.publicHost)
    if (assignment === undefined) {
      return reply.code(503).send({error: 'no free ingest', message: 'no ingest has a free transcode slot: wait for a broadcast to end (shing status shows each ingest\'s free slots)'})
    }
    return assignment
  })
}
