/**
 * `shing stream-key …`: the appliance's admin CLI (dist/appliance/admin.js) run in a web container
 * of the running stack, which has MongoDB, Redis and the stream key secret; and the OBS server URL
 * from the web API's ingest assignment, asked the same way.
 */
import type Docker from 'dockerode'

import {CHANNEL_PATTERN, INGEST_ASSIGN_PATH, type IngestAssignment} from '../../appliance/contract/index.js'
import {safeJson} from '../../appliance/registry/registry.js'
import type {CreatedStreamKey, RevokeResult, StreamKeyInfo} from '../../appliance/channels/stream-keys.js'
import {loadConfig} from '../config/load.js'
import {connectEngine} from '../engine/docker.js'
import {AbortError, BugError} from '../errors.js'
import {rtmpUrl} from './plan.js'
import {execInWeb, fetchInWeb} from './web-exec.js'

/** Where the image keeps the app (Dockerfile WORKDIR /app). */
export const ADMIN_JS = '/app/dist/appliance/admin.js'

export interface CreateStreamKeyResult extends CreatedStreamKey {
  /** OBS "Server": the assigned ingest, or the configured public RTMP URL when none is free now. */
  server: string
  /** The ingest chosen, when the assignment answered. */
  ingestId?: string
  /** Why the server is the configured one. */
  note?: string
}

export interface ListStreamKeysResult {
  keys: StreamKeyInfo[]
}

export type RevokeStreamKeysResult = RevokeResult

function checkChannel(channel: string): void {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new AbortError(`invalid channel name ${JSON.stringify(channel)}`, ['Use 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit'])
  }
}

/** Runs admin.js with --json; its error (stdout JSON or stderr) becomes an AbortError. */
export async function runAdmin<T>(docker: Docker, args: string[]): Promise<T> {
  const result = await execInWeb(docker, ['node', ADMIN_JS, ...args, '--json'])
  const parsed = safeJson(result.stdout.trim().split('\n').pop() ?? '')
  if (result.exitCode === 0 && parsed !== undefined) return parsed as T
  const error = (parsed as {error?: {kind?: string; message?: string}} | undefined)?.error
  const message = error?.message ?? (result.stderr.trim() || `exit ${result.exitCode}`)
  if (error?.kind === 'abort') throw new AbortError(message)
  throw new BugError(`admin.js ${args.join(' ')} failed (exit ${result.exitCode}): ${message}`)
}

export async function createStreamKey(dir: string, channel: string): Promise<CreateStreamKeyResult> {
  checkChannel(channel)
  const {config} = await loadConfig(dir)
  const docker = connectEngine({timeoutMs: 30_000})
  const created = await runAdmin<CreatedStreamKey>(docker, ['stream-key', 'create', channel])
  const fallback = rtmpUrl(config)
  try {
    const {status, body} = await fetchInWeb(docker, INGEST_ASSIGN_PATH)
    if (status === 200) {
      const assignment = JSON.parse(body) as IngestAssignment
      return {...created, server: assignment.rtmpUrl, ingestId: assignment.ingestId}
    }
    const reason = (safeJson(body) as {error?: string} | undefined)?.error ?? `${INGEST_ASSIGN_PATH} answered ${status}`
    return {...created, server: fallback, note: reason}
  } catch (error) {
    // The key exists now and is shown only once: never lose it to a failed assignment.
    return {...created, server: fallback, note: `could not ask for an ingest: ${(error as Error).message}`}
  }
}

export async function listStreamKeys(channel?: string): Promise<ListStreamKeysResult> {
  if (channel !== undefined) checkChannel(channel)
  const docker = connectEngine({timeoutMs: 30_000})
  const keys = await runAdmin<StreamKeyInfo[]>(docker, ['stream-key', 'list', ...(channel === undefined ? [] : [channel])])
  return {keys}
}

export async function revokeStreamKeys(channel: string, keyId?: string): Promise<RevokeStreamKeysResult> {
  checkChannel(channel)
  const docker = connectEngine({timeoutMs: 30_000})
  return runAdmin<RevokeResult>(docker, ['stream-key', 'revoke', channel, ...(keyId === undefined ? [] : ['--key-id', keyId])])
}
