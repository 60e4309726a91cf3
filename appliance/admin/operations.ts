/**
 * The appliance's side of the admin operations (contract/admin.ts): one handler per operation,
 * the map exhaustive. Input is parsed with the operation's schema before anything connects, and
 * the result is checked against its schema before it is printed.
 */
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import {z} from 'zod'

import {adminOperations, type AdminInput, type AdminOperationName, type AdminReply, type AdminResult, type SecretName} from '../contract/index.js'
import {createUser, resetPassword, resetTwoFactor, UnknownUserError} from '../accounts/admin.js'
import {AccountInputError} from '../accounts/users.js'
import {InvalidChannelError, StreamKeys} from '../channels/stream-keys.js'
import {AuditLog} from './audit.js'
import {jobsSummary, JobsInputError, removeJob, retryJobs} from './jobs.js'
import type {JobQueues} from '../jobs/queues.js'
import {ConfigError} from '../platform/env.js'

export interface AdminContext {
  db: Db
  redis: Redis
  secret(name: SecretName): string
  /** The job queues (made on first use: most operations need none). */
  jobs(): JobQueues
}

/** How long `shing jobs housekeeping` waits for a worker to run it. */
const HOUSEKEEPING_WAIT_MS = 10 * 60_000

/** What is done to accounts from the terminal goes into the admin area's audit log too, by "terminal". */
const terminalAudit = (ctx: AdminContext, action: string, target: string, details: Record<string, string | number>): Promise<void> =>
  new AuditLog(ctx.db).record({actor: 'terminal', action, target, details})

type Handler<K extends AdminOperationName> = (input: AdminInput<K>, ctx: AdminContext) => Promise<AdminResult<K>>

const streamKeys = (ctx: AdminContext): StreamKeys => new StreamKeys({db: ctx.db, redis: ctx.redis, secret: ctx.secret('streamKeySecret')})

const handlers: {[K in AdminOperationName]: Handler<K>} = {
  'stream-key.create': (input, ctx) => streamKeys(ctx).create(input.channel),
  'stream-key.list': (input, ctx) => streamKeys(ctx).list(input.channel),
  'stream-key.revoke': (input, ctx) => streamKeys(ctx).revoke(input.channel, input.keyId),
  'user.create': async (input, ctx) => {
    const created = await createUser(ctx.db, input)
    await terminalAudit(ctx, 'user.create', created.username, {role: created.role})
    return created
  },
  'user.reset-password': async (input, ctx) => {
    const reset = await resetPassword(ctx.db, ctx.redis, input.username)
    await terminalAudit(ctx, 'user.reset-password', reset.username, {sessionsEnded: reset.sessionsEnded})
    return reset
  },
  'user.reset-2fa': async (input, ctx) => {
    const reset = await resetTwoFactor(ctx.db, input.username)
    if (reset.wasOn) await terminalAudit(ctx, 'user.reset-2fa', reset.username, {})
    return reset
  },
  'jobs.summary': (input, ctx) => jobsSummary(ctx.jobs(), ctx.redis, input.failedLimit),
  'jobs.retry': async (input, ctx) => {
    const result = await retryJobs(ctx.jobs(), input)
    if (result.retried.length > 0) await terminalAudit(ctx, 'jobs.retry', input.queue ?? 'all queues', {jobs: result.retried.length})
    return result
  },
  'jobs.remove': async (input, ctx) => {
    const result = await removeJob(ctx.jobs(), input.queue, input.jobId)
    await terminalAudit(ctx, 'jobs.remove', `${input.queue} ${input.jobId}`, {state: result.state})
    return result
  },
  'jobs.housekeeping': async (input, ctx) => {
    try {
      return {...(await ctx.jobs().run('housekeeping', {dryRun: input.dryRun}, HOUSEKEEPING_WAIT_MS)), dryRun: input.dryRun}
    } catch (error) {
      if (/timed out/i.test((error as Error).message)) {
        throw new AdminAbort(`no worker ran housekeeping within ${HOUSEKEEPING_WAIT_MS / 60_000} minutes`, ['Check that a worker is up: shing status; shing jobs shows the queues'])
      }
      throw error
    }
  },
}

/** Secrets the operations read (besides the Redis password). */
export const adminSecrets: readonly SecretName[] = ['mongoRootPassword', 'streamKeySecret']

/** Something the admin can fix: reported as kind 'abort', without a stack. */
export class AdminAbort extends Error {
  override name = 'AdminAbort'
  constructor(
    message: string,
    readonly actions: string[] = [],
  ) {
    super(message)
  }
}

const isOperation = (name: string): name is AdminOperationName => Object.hasOwn(adminOperations, name)

/** The operation and its parsed input, or an AdminAbort that says what is wrong with them. */
export function parseRequest(argv: readonly string[]): {name: AdminOperationName; input: unknown} {
  const [name, json = '{}', ...rest] = argv
  const known = Object.keys(adminOperations).join(', ')
  if (name === undefined || !isOperation(name) || rest.length > 0) {
    throw new AdminAbort(`usage: admin.js <operation> '<input JSON>'; operations: ${known}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (error) {
    throw new AdminAbort(`the input of ${name} is not JSON: ${(error as Error).message}`)
  }
  const parsed = (adminOperations[name].input as z.ZodType).safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')
    throw new AdminAbort(`invalid input for ${name}: ${problems}`)
  }
  return {name, input: parsed.data}
}

export async function runOperation(name: AdminOperationName, input: unknown, ctx: AdminContext): Promise<unknown> {
  const handler = handlers[name] as (input: unknown, ctx: AdminContext) => Promise<unknown>
  const result = await handler(input, ctx)
  // Our own bug if it does not match: the CLI would reject it anyway.
  return (adminOperations[name].result as z.ZodType).parse(result)
}

export function errorReply(error: unknown): AdminReply {
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof AdminAbort) return {ok: false, error: {kind: 'abort', message, actions: error.actions}}
  if (error instanceof AccountInputError) return {ok: false, error: {kind: 'abort', message: `${error.field}: ${message}`, actions: []}}
  if (error instanceof ConfigError || error instanceof InvalidChannelError || error instanceof UnknownUserError || error instanceof JobsInputError) return {ok: false, error: {kind: 'abort', message, actions: []}}
  return {ok: false, error: {kind: 'bug', message: error instanceof Error ? (error.stack ?? message) : message, actions: []}}
}
