/** Static assets the pages load, served under URLs that carry their content's version. */
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'

import type {FastifyInstance} from 'fastify'

export const HLS_JS_PATH = '/assets/hls.min.js'
export const IMMUTABLE = 'public, max-age=31536000, immutable'

export interface Asset {
  body: Buffer
  /** A hash of the content: a new file is a new URL (?v=), so the URL may be cached for good. */
  version: string
}

/** hls.js as the page loads it. */
export async function loadHlsJs(): Promise<Asset> {
  const file = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js')
  const body = await readFile(file)
  return {body, version: createHash('sha256').update(body).digest('hex').slice(0, 12)}
}

export async function assetRoutes(app: FastifyInstance, options: {hlsJs: Asset}): Promise<void> {
  app.get(HLS_JS_PATH, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', IMMUTABLE).send(options.hlsJs.body))
}
