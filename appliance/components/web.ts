/**
 * Web: the UI and API. Each domain brings its routes as a fastify plugin; this wires them onto
 * the component's HTTP server (which already answers /healthz and /metrics).
 */
import {ChannelDirectory} from '../channels/directory.js'
import {channelRoutes} from '../channels/routes.js'
import {LiveStates} from '../channels/stream-state.js'
import {registeredRoles} from '../contract/index.js'
import {assignRoutes} from '../ingest/assign.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import type {ComponentDef} from '../platform/component.js'
import {createHttpServer, listen} from '../platform/http-server.js'
import {listNodes} from '../registry/nodes.js'
import {registryRoutes} from '../registry/routes.js'
import {vodRoutes} from '../vods/routes.js'
import {assetRoutes, loadHlsJs} from '../web/assets.js'
import {homePage, notFoundPage} from '../web/html.js'

export const web: ComponentDef<'web'> = {
  name: 'web',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey', 'streamKeySecret'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    const siteName = new URL(env.SHING_PUBLIC_URL).hostname
    for (const role of registeredRoles) {
      metrics.gauge(`shing_web_registered_${role}`, `Live ${role} processes in the registry`, async () => (await listNodes(redis, role)).length)
    }
    const liveStates = new LiveStates(redis, log.child({module: 'streams'}))
    liveStates.start()
    const channels = new ChannelDirectory(mongo.db)

    const hlsJs = await loadHlsJs()
    const app = createHttpServer({
      component: 'web',
      checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage)],
      metrics,
      log,
      // Pages get a page; the API gets JSON. Neither repeats the path it was asked for.
      notFound: (request, reply) =>
        request.url.startsWith('/api/')
          ? reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
          : reply.code(404).type('text/html; charset=utf-8').send(notFoundPage({siteName, what: 'There is nothing at this address.'})),
    })
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(homePage(siteName, liveStates.all())))
    await app.register(assetRoutes, {hlsJs})
    await app.register(registryRoutes, {redis})
    await app.register(assignRoutes, {redis, publicHost: env.SHING_PUBLIC_HOST})
    await app.register(channelRoutes, {redis, db: mongo.db, channels, liveStates, siteName, publicUrl: env.SHING_PUBLIC_URL, hlsJsVersion: hlsJs.version, log})
    await app.register(vodRoutes, {db: mongo.db, storage, channels})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})
    return {
      stop: async () => {
        liveStates.stop()
        await app.close()
      },
    }
  },
}
