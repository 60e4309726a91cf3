import type {ComponentDef} from '../component.js'
import {NODES_API_PATH, registeredRoles, type NodesView} from '../contract.js'
import {mongoCheck, redisCheck, s3Check} from '../lib/checks.js'
import {createHttpServer, listen} from '../lib/http-server.js'
import {listNodes} from '../lib/registry.js'

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

/**
 * Web: the UI and API. For now the home page, and /api/nodes (the registry, least loaded first);
 * channels, player, chat and accounts come in later issues.
 */
export const web: ComponentDef<'web'> = {
  name: 'web',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey'],
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

    const app = createHttpServer({component: 'web', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage)], metrics, log})
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(homePage(siteName, await nodes())))
    app.get(NODES_API_PATH, async () => nodes())
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

    return {stop: () => app.close()}
  },
}
