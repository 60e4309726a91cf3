/** Where a streamer publishes: the least-loaded ingest with a free ladder slot. */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'

import {INGEST_ASSIGN_PATH, rtmpUrl, type IngestAssignment} from '../contract/index.js'
import {listNodes} from '../registry/nodes.js'

/** Its own public address when the ingest registered one, else the site's. */
export async function assignIngest(redis: Redis, publicHost: string): Promise<IngestAssignment | undefined> {
  const ingests = await listNodes(redis, 'ingest')
  const free = ingests.find((n) => (n.load.slotsFree ?? 0) > 0 && n.ports.rtmp !== undefined)
  if (free?.ports.rtmp === undefined) return undefined
  return {rtmpUrl: rtmpUrl(free.publicHost ?? publicHost, free.ports.rtmp), ingestId: free.id}
}

export async function assignRoutes(app: FastifyInstance, options: {redis: Redis; publicHost: string}): Promise<void> {
  app.get(INGEST_ASSIGN_PATH, async (_request, reply) => {
    const assignment = await assignIngest(options.redis, options.publicHost)
    if (assignment === undefined) {
      return reply.code(503).send({error: 'no ingest has a free transcode slot: wait for a broadcast to end (shing status shows each ingest\'s free slots)'})
    }
    return assignment
  })
}
