import {createServer, STATUS_CODES, type IncomingMessage, type ServerResponse} from 'node:http'

import Fastify, {LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify'
import {Gauge, Registry, collectDefaultMetrics} from 'prom-client'

import {HEALTH_PATH, METRICS_PATH} from '../contract/index.js'
import type {Logger} from './logger.js'

/** One thing a component depends on; `run` throws (or times out) when it is not usable. */
export interface HealthCheck {
  name: string
  /**
   * self: the component itself (its RTMP server, its workers); a failure means it is broken and
   * should be replaced. dependency (the default): something it uses (Redis, MongoDB, S3); a
   * failure degrades it, and replacing it would not help: a transcoder keeps serving meanwhile.
   */
  kind?: 'self' | 'dependency'
  run(): Promise<void>
}

export type CheckStatus = 'ok' | 'failing'

export interface HealthReport {
  /** ok; degraded: a dependency fails (answered 200, so swarm keeps the task); failing: 503. */
  status: 'ok' | 'degraded' | 'failing'
  checks: Record<string, CheckStatus>
  /** Why each failing check failed. */
  errors?: Record<string, string>
}

/** Each check gets this long; Docker's healthcheck gives the whole request 3 s. */
export const CHECK_TIMEOUT_MS = 1500

class CheckTimeoutError extends Error {
  override name = 'CheckTimeoutError'
}

async function withTimeout(run: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CheckTimeoutError(`no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

export async function runChecks(checks: readonly HealthCheck[], timeoutMs = CHECK_TIMEOUT_MS): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check) => {
      try {
        await withTimeout(() => check.run(), timeoutMs)
        return {check, error: undefined}
      } catch (error) {
        return {check, error: (error as Error).message || String(error)}
      }
    }),
  )
  const report: HealthReport = {status: 'ok', checks: {}}
  for (const {check, error} of results) {
    report.checks[check.name] = error === undefined ? 'ok' : 'failing'
    if (error === undefined) continue
    report.errors = {...report.errors, [check.name]: error}
    if (check.kind === 'self') report.status = 'failing'
    else if (report.status === 'ok') report.status = 'degraded'
  }
  return report
}

export interface Metrics {
  registry: Registry
  /** Adds a gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number | Promise<number>): void
}

/** Default process metrics plus shing_* gauges, all labelled with the component. */
export function createMetrics(component: string): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({component})
  collectDefaultMetrics({register: registry})
  return {
    registry,
    gauge: (name, help, read) => {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(await read())
        },
      })
    },
  }
}

export interface HttpServerOptions {
  component: string
  checks: readonly HealthCheck[]
  metrics: Metrics
  log: Logger
  /** What a path nobody serves gets (default: JSON 404 that does not echo the path). */
  notFound?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | Promise<FastifyReply>
  /** How an error is shown where JSON is not what was asked for (pages); undefined: the JSON answer. */
  errorPage?: (request: FastifyRequest, reply: FastifyReply, status: number, message: string) => FastifyReply | undefined
  /** Proxies in front whose X-Forwarded-For is believed (the web behind the edge: 1). */
  trustProxy?: number
  /** Answers a request before the app sees it (a micro-cache hit): true when it did. */
  before?: (request: IncomingMessage, response: ServerResponse) => boolean
}

/**
 * A fastify app that already answers /healthz (200 while the component itself works, degraded
 * or not; 503 naming the failing checks when it is broken) and /metrics; every 5xx is logged with
 * its cause. Components add their own routes before listen().
 */
export function createHttpServer({checks, metrics, log, notFound, errorPage, trustProxy, before}: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({module: 'http'}) as FastifyBaseLogger,
    // Docker polls /healthz every few seconds: no line per request; changes of health are logged below.
    logController: new LogController({disableRequestLogging: true}),
    forceCloseConnections: true,
    // Believe only the nearest `trustProxy` hops of X-Forwarded-For.
    ...(trustProxy === undefined ? {} : {trustProxy: (_address: string, hop: number) => hop < trustProxy}),
    ...(before === undefined ? {} : {serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) => createServer((request, response) => before(request, response) || handler(request, response))}),
  })
  const checkUp = new Gauge({
    name: 'shing_health_check_up',
    help: '1 when the dependency check passed at the last /healthz, 0 when it failed',
    labelNames: ['check'],
    registers: [metrics.registry],
  })
  let lastStatus: HealthReport['status'] | undefined
  app.get(HEALTH_PATH, async (_request, reply) => {
    const report = await runChecks(checks)
    for (const [name, status] of Object.entries(report.checks)) checkUp.set({check: name}, status === 'ok' ? 1 : 0)
    // Log changes only: Docker asks every few seconds.
    if (report.status !== lastStatus) {
      if (report.status === 'ok') log.info({checks: report.checks}, 'healthy')
      else if (report.status === 'degraded') log.warn({checks: report.checks, errors: report.errors}, 'degraded: a dependency fails; serving what can be served')
      else log.error({checks: report.checks, errors: report.errors}, 'unhealthy')
      lastStatus = report.status
    }
    return reply.code(report.status === 'failing' ? 503 : 200).send(report)
  })
  // Never fastify's default, which echoes the whole path (10 kB of it, if that is what was asked).
  app.setNotFoundHandler(notFound ?? ((_request, reply) => reply.code(404).header('cache-control', 'no-store').send(apiError(404, 'There is nothing at this address.'))))
  // An error a route did not handle: logged with its cause; the client learns only that it happened
  // (a 4xx says what to fix: a validation error names the field).
  app.setErrorHandler((error: Error & {statusCode?: number}, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) log.error({method: request.method, url: request.url.slice(0, 200), err: error}, `${request.method} ${request.url.slice(0, 200)} failed: ${error.message}`)
    const message = status >= 500 ? 'internal error: the server logged the cause' : error.message
    if (errorPage?.(request, reply.header('cache-control', 'no-store'), status, message) !== undefined) return
    void reply.code(status).header('cache-control', 'no-store').send(apiError(status, message))
  })
  app.get(METRICS_PATH, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
  return app
}

/** The JSON body of every error answer: its kind ("not found", from the status) and what to do. */
export const apiError = (status: number, message: string): {error: string; message: string} => ({error: (STATUS_CODES[status] ?? 'error').toLowerCase(), message})

export async function listen(app: FastifyInstance, {port, host, log}: {port: number; host: string; log: Logger}): Promise<void> {
  await app.listen({port, host})
  log.info({host, port}, 'http listening')
}
