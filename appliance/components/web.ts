/**
 * Web: the UI and API. Each domain brings its routes as a fastify plugin; this wires them onto
 * the component's HTTP server (which already answers /healthz and /metrics).
 */
import {channelRoutes} from '../channels/routes.js'
import {assignRoutes} from '../ingest/assign.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import type {ComponentDef} from '../platform/component.js'
import {createHttpServer, listen} from '../platform/http-server.js'
import {readNodes, registryRoutes} from '../registry/routes.js'
import {listNodes} from '../registry/nodes.js'
import {registeredRoles} from '../contract/index.js'
import {vodRoutes} from '../vods/routes.js'
import {assetRoutes, loadHlsJs} from '../web/assets.js'
import {homePage} from '../web/html.js'

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

    const hlsJs = await loadHlsJs()
    const app = createHttpServer({component: 'web', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage)], metrics, log})
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(homePage(siteName, await readNodes(redis))))
    await app.register(assetRoutes, {hlsJs})
    await app.register(registryRoutes, {redis})
    await app.register(assignRoutes, {redis, publicHost: env.SHING_PUBLIC_HOST})
    await app.register(channelRoutes, {redis, siteName, publicUrl: env.SHING_PUBLIC_URL, hlsJsVersion: hlsJs.version})
    await app.register(vodRoutes, {db: mongo.db, storage})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})
    return {stop: () => app.close()}
  },
}
