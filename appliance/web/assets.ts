/** Static assets the pages load, served under URLs that carry their content's version. */
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'

import type {FastifyInstance} from 'fastify'

export const HLS_JS_PATH = '/assets/hls.min.js'
/** What an audio-only broadcast shows where the picture would be. */
export const AUDIO_POSTER_PATH = '/assets/audio-poster.svg'
const AUDIO_POSTER = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1280 720">
<rect width="1280" height="720" fill="#15171c"/>
<g fill="none" stroke="#8cf" stroke-width="14" stroke-linecap="round">
<path d="M560 250v220M600 200v320M640 280v160M680 230v260M720 290v140"/>
</g>
<text x="640" y="600" fill="#aab" font-family="system-ui, sans-serif" font-size="44" text-anchor="middle">Audio only</text>
</svg>
`
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
  app.get(AUDIO_POSTER_PATH, async (_request, reply) => reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(AUDIO_POSTER))
}
