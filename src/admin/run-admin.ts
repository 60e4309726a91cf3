/**
 * Admin operations (appliance/contract/admin.ts) run in a web container of the running stack,
 * which has MongoDB, Redis and the secrets. The reply and the result are parsed with the
 * contract's schemas: what comes back is checked, not cast.
 */
import {
  adminOperations,
  adminReplySchema,
  imagePaths,
  type AdminInput,
  type AdminOperationName,
  type AdminResult,
} from '../../appliance/contract/index.js'
import type {Engine} from '../engine/engine.js'
import {AbortError, BugError} from '../errors.js'
import {execInWeb} from './web-exec.js'

export async function runAdmin<K extends AdminOperationName>(engine: Engine, operation: K, input: AdminInput<K>): Promise<AdminResult<K>> {
  const result = await execInWeb(engine, ['node', imagePaths.admin, operation, JSON.stringify(input)])
  const line = result.stdout.trim().split('\n').pop() ?? ''
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    throw new BugError(`admin ${operation} answered no reply (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().slice(-2000)}`)
  }
  const reply = adminReplySchema.safeParse(json)
  if (!reply.success) throw new BugError(`admin ${operation} answered an unknown reply: ${line.slice(0, 500)}`)
  if (!reply.data.ok) {
    const {kind, message, actions} = reply.data.error
    if (kind === 'abort') throw new AbortError(message, actions)
    throw new BugError(`admin ${operation} failed in the appliance: ${message}`)
  }
  const parsed = adminOperations[operation].result.safeParse(reply.data.result)
  if (!parsed.success) throw new BugError(`admin ${operation} answered a result of the wrong shape: ${parsed.error.message}`)
  return parsed.data as AdminResult<K>
}
