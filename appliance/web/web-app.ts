import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'

import type {Redis} from 'ioredis'

import type {ComponentDef} from '../platform/component.js'
import {
  CHANNEL_PATTERN,
  INGEST_ASSIGN_PATH,
  LIVE_PREFIX,
  NODES_API_PATH,
  RTMP_APP,
  playbackApiPath,
  registeredRoles,
  type IngestAssignment,
  type NodesView,
  type Playback,
} from '../contract/index.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import {createHttpServer, listen} from '../platform/http-server.js'
import {listNodes} from '../registry/registry.js'
import {dvrPrefix} from '../vods/dvr-archive.js'
import {StreamStates} from '../channels/stream-state.js'
import {listVods, isMissingObject, STREAM_ID_PATTERN} from '../vods/vods.js'
import {HLS_JS_PATH, notFoundPage, watchPage} from '../channels/watch-page.js'

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)

function homePage(siteName: string, nodes: NodesView): string {
  const live = nodes.ingest.reduce((sum, n) => sum + n.load.streams, 0)
  const counts = registeredRoles.map((role) => `<li>${role}: ${nodes[role].length}</li>`).join('')
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(siteName)}</title></head>
<body>
<h1>${escapeHtml(siteName)}</h1>
<p>Shing is running.</p>
<h2>Live channels</h2>
<p>${live === 0 ? 'None yet.' : `${live} live now.`}</p>
<h2>Nodes</h2>
<ul>${counts}</ul>
</body>
</html>
`
}

/** Archived objects the web serves under /vod/<channel>/<streamId>/: playlists, init and segments. */
const VOD_OBJECT = /^(?:[a-z0-9][a-z0-9_-]{0,31}\/)?(?:master\.m3u8|index\.m3u8|init\.mp4|seg\d{1,10}\.m4s)$/
const vodTypes: Record<string, string> = {m3u8: 'application/vnd.apple.mpegurl', mp4: 'video/mp4', m4s: 'video/iso.segment'}
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** hls.js as the page loads it, with a version of its content for the immutable URL. */
async function loadHlsJs(): Promise<{body: Buffer; version: string}> {
  const file = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js')
  const body = await readFile(file)
  return {body, version: createHash('sha256').update(body).digest('hex').slice(0, 12)}
}

/** An IPv6 literal needs brackets in a URL. */
const urlHost = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

/** The least-loaded ingest with a free ladder slot; its own public address when it registered one. */
async function assignIngest(redis: Redis, publicHost: string): Promise<IngestAssignment | undefined> {
  const ingests = await listNodes(redis, 'ingest')
  const free = ingests.find((n) => (n.load.slotsFree ?? 0) > 0 && n.ports.rtmp !== undefined)
  if (free === undefined) return undefined
  return {rtmpUrl: `rtmp://${urlHost(free.publicHost ?? publicHost)}:${free.ports.rtmp}/${RTMP_APP}`, ingestId: free.id}
}

/**
 * Web: the UI and API. For now the home page, /api/nodes (the registry, least loaded first), and
 * assignment: which ingest a streamer publishes to, where a viewer plays a channel. Channels,
 * player, chat and accounts come in later issues.
 */
export const web: ComponentDef<'web'> = {
  name: 'web',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey', 'streamKeySecret'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    const siteName = new URL(env.SHING_PUBLIC_URL).hostname

    const nodes = async (): Promise<NodesView> => {
      const [ingest, relay, sfu] = await Promise.all(registeredRoles.map((role) => listNodes(redis, role)))
      return {ingest: ingest ?? [], relay: relay ?? [], sfu: sfu ?? []}
    }
    for (const role of registeredRoles) {
      metrics.gauge(`shing_web_registered_${role}`, `Live ${role} processes in the registry`, async () => (await listNodes(redis, role)).length)
    }

    const hlsJs = await loadHlsJs()
    const app = createHttpServer({component: 'web', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage)], metrics, log})
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(homePage(siteName, await nodes())))
    app.get(NODES_API_PATH, async () => nodes())

    const states = new StreamStates(redis)
    const publicUrl = env.SHING_PUBLIC_URL.replace(/\/+$/, '')
    app.get(INGEST_ASSIGN_PATH, async (_request, reply) => {
      const assignment = await assignIngest(redis, env.SHING_PUBLIC_HOST)
      if (assignment === undefined) {
        return reply.code(503).send({error: 'no ingest has a free transcode slot: wait for a stream to end, or add an ingest box (shing node add ingest)'})
      }
      return assignment
    })
    app.get<{Params: {channel: string}}>(playbackApiPath(':channel'), async (request, reply) => {
      const {channel} = request.params
      if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send({error: `no such channel: ${channel}`})
      const [state, relays] = await Promise.all([states.get(channel), listNodes(redis, 'relay')])
      const playback: Playback = {
        live: state !== undefined,
        ...(state === undefined ? {} : {since: state.since, streamId: state.streamId}),
        url: `${LIVE_PREFIX}/${channel}/master.m3u8`,
        publicUrl: `${publicUrl}${LIVE_PREFIX}/${channel}/master.m3u8`,
        ...(relays[0] === undefined ? {} : {relay: relays[0].id}),
      }
      return playback
    })

    app.get<{Params: {channel: string}}>('/c/:channel', async (request, reply) => {
      const {channel} = request.params
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache')
      if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send(notFoundPage({siteName, what: 'There is no channel by that name.'}))
      return watchPage({siteName, channel, assetVersion: hlsJs.version})
    })
    // The URL carries the content's version (?v=): a new hls.js is a new URL, so this may be cached for good.
    app.get(HLS_JS_PATH, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', IMMUTABLE).send(hlsJs.body))

    app.get<{Params: {channel: string}}>('/api/streams/:channel/vods', async (request, reply) => {
      const {channel} = request.params
      if (!CHANNEL_PATTERN.test(channel)) return reply.code(404).send({error: `no such channel: ${channel}`})
      return {channel, vods: await listVods(mongo.db, channel)}
    })

    // The archive plays as a VOD from S3 through the web (the edge sends everything but /live/* here).
    app.get<{Params: {channel: string; streamId: string; '*': string}}>('/vod/:channel/:streamId/*', async (request, reply) => {
      const {channel, streamId} = request.params
      const object = request.params['*']
      if (!CHANNEL_PATTERN.test(channel) || !STREAM_ID_PATTERN.test(streamId) || !VOD_OBJECT.test(object)) {
        return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
      }
      const key = `${dvrPrefix(channel, streamId)}/${object}`
      let size: number
      try {
        size = (await storage.client.statObject(storage.bucket, key)).size
      } catch (error) {
        if (isMissingObject(error)) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
        throw error
      }
      const body = await storage.client.getObject(storage.bucket, key)
      const extension = object.slice(object.lastIndexOf('.') + 1)
      // Playlists change while the broadcast is live (EVENT); media objects never change.
      return reply
        .type(vodTypes[extension] ?? 'application/octet-stream')
        .header('content-length', size)
        .header('cache-control', extension === 'm3u8' ? 'no-cache' : IMMUTABLE)
        .header('access-control-allow-origin', '*')
        .send(body)
    })
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

    return {stop: () => app.close()}
  },
}
