import type {ComponentDef} from '../component.js'
import {redisCheck} from '../lib/checks.js'
import {createHttpServer, listen} from '../lib/http-server.js'
import {startHeartbeat} from '../lib/registry.js'

/**
 * Relay: will pull each stream once from its ingest and fan it out (issue 5). For now it serves
 * health and metrics, answers /live/… with 404, and registers so the web API can count on it.
 */
export const relay: ComponentDef<'relay'> = {
  name: 'relay',
  secrets: [],
  start: async (ctx) => {
    const {log, metrics, redis} = ctx
    const viewers = 0
    metrics.gauge('shing_relay_viewers', 'Viewers this relay is serving', () => viewers)
    metrics.gauge('shing_relay_streams', 'Streams this relay holds in its cache', () => 0)
    const app = createHttpServer({component: 'relay', checks: [redisCheck(redis)], metrics, log})
    app.get('/live/*', async (_request, reply) => reply.code(404).type('text/plain').send('no such stream\n'))
    await listen(app, {port: ctx.ports.http, host: ctx.env.SHING_BIND_HOST, log})
    const heartbeat = startHeartbeat({
      redis,
      role: 'relay',
      id: ctx.id,
      host: ctx.host,
      ports: {http: ctx.ports.http},
      load: () => ({streams: 0, viewers, egressBitsPerSecond: 0}),
      log,
    })
    return {
      stop: async () => {
        // Out of the registry first, so no new viewer is sent here while it drains.
        await heartbeat.stop()
        await app.close()
      },
    }
  },
}
