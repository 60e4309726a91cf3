/**
 * /admin/jobs (admins): the job queues in bull-board, BullMQ's maintained dashboard: counts, each
 * job's data, progress, error and log, retry and remove. Its API answers JSON requests from its own
 * page, which carry no CSRF token: instead a state-changing request must come from this site
 * (Sec-Fetch-Site same-origin, or an Origin of this host), which a cross-site form or script
 * cannot fake. A mail's body (log-in and reset links) is never shown.
 */
import {createBullBoard} from '@bull-board/api'
import {BullMQAdapter} from '@bull-board/api/bullMQAdapter'
import {FastifyAdapter} from '@bull-board/fastify'
import type {FastifyInstance, FastifyRequest} from 'fastify'

import {JOBS_DASHBOARD_PATH} from '../contract/jobs.js'
import {allQueues, jobCatalog, jobTypeOfQueue} from '../jobs/catalog.js'
import type {JobQueues} from '../jobs/queues.js'
import type {PageContextOf} from '../web/html.js'
import {describeJob} from './jobs.js'
import {staffOnly} from './guard.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Whether a request that changes something comes from a page of this site. */
export function fromThisSite(request: Pick<FastifyRequest, 'headers'>): boolean {
  const site = request.headers['sec-fetch-site']
  if (typeof site === 'string') return site === 'same-origin'
  const origin = request.headers.origin
  if (typeof origin !== 'string') return false
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    return false
  }
}

export async function jobsDashboard(app: FastifyInstance, options: {jobs: JobQueues; pageContext: PageContextOf}): Promise<void> {
  const serverAdapter = new FastifyAdapter()
  serverAdapter.setBasePath(JOBS_DASHBOARD_PATH)
  const queues = allQueues().map((name) => {
    const type = jobTypeOfQueue(name)
    const adapter = new BullMQAdapter(options.jobs.queue(name), {description: type === undefined ? '' : jobCatalog[type].summary})
    if (type === 'mail.send') adapter.setFormatter('data', (data: unknown) => ({mail: describeJob(name, data)}))
    return adapter
  })
  createBullBoard({
    queues,
    serverAdapter,
    options: {uiConfig: {boardTitle: 'Shing jobs', hideDocsLink: true, miscLinks: [{text: 'Back to the admin area', url: '/admin'}]}},
  })
  const adminOf = staffOnly(options.pageContext, 'admin')
  await app.register(async (scope) => {
    // Its routes check the origin instead of a token (above).
    scope.addHook('onRoute', (route) => {
      route.config = {...(route.config as object), csrf: false} as typeof route.config
    })
    scope.addHook('preHandler', async (request, reply) => {
      if (adminOf(request, reply) === undefined) return reply
      if (!SAFE_METHODS.has(request.method) && !fromThisSite(request)) {
        return reply.code(403).send({statusCode: 403, error: 'Forbidden', message: 'Changes to jobs are accepted from the jobs dashboard of this site only.'})
      }
      return undefined
    })
    await scope.register(serverAdapter.registerPlugin(), {prefix: JOBS_DASHBOARD_PATH})
  })
}
