import Fastify, {LogController, type FastifyBaseLogger, type FastifyInstance} from 'fastify'
import {Gauge, Registry, collectDefaultMetrics} from 'prom-client'

import {HEALTH_PATH, METRICS_PATH} from '../contract/index.js'
import type {Logger} from './logger.js'

/** One thing a component depends on; `run` throws (or times out) when it is not usable. */
export interface HealthCheck {
  name: string
  run(): Promise<void>
}

export type CheckStatus = 'ok' | 'failing'

export interface HealthReport {
  status: CheckStatus
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
        return {name: check.name, error: undefined}
      } catch (error) {
        return {name: check.name, error: (error as Error).message || String(error)}
      }
    }),
  )
  const report: HealthReport = {status: 'ok', checks: {}}
  for (const {name, error} of results) {
    report.checks[name] = error === undefined ? 'ok' : 'failing'
    if (error !== undefined) {
      report.status = 'failing'
      report.errors = {...report.errors, [name]: error}
    }
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
}

/**
 * A fastify app that already answers /healthz (200 or 503 naming the failing checks) and
 * /metrics; components add their own routes before listen().
 */
export function createHttpServer({checks, metrics, log}: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({module: 'http'}) as FastifyBaseLogger,
    // Docker polls /healthz every few seconds: no line per request; changes of health are logged below.
    logController: new LogController({disableRequestLogging: true}),
    forceCloseConnections: true,
  })
  const checkUp = new Gauge({
    name: 'shing_health_check_up',
    help: '1 when the dependency check passed at the last /healthz, 0 when it failed',
    labelNames: ['check'],
    registers: [metrics.registry],
  })
  let lastStatus: CheckStatus | undefined
  app.get(HEALTH_PATH, async (_request, reply) => {
    const report = await runChecks(checks)
    for (const [name, status] of Object.entries(report.checks)) checkUp.set({check: name}, status === 'ok' ? 1 : 0)
    // Log changes only: Docker asks every few seconds.
    if (report.status !== lastStatus) {
      if (report.status === 'ok') log.info({checks: report.checks}, 'healthy')
      else log.warn({checks: report.checks, errors: report.errors}, 'unhealthy')
      lastStatus = report.status
    }
    return reply.code(report.status === 'ok' ? 200 : 503).send(report)
  })
  app.get(METRICS_PATH, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
  return app
}

export async function listen(app: FastifyInstance, {port, host, log}: {port: number; host: string; log: Logger}): Promise<void> {
  await app.listen({port, host})
  log.info({host, port}, 'http listening')
}
