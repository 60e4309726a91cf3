/**
 * `shing stream-key …`: admin operations run in a web container of the running stack, and the OBS
 * server URL from the web API's ingest assignment, asked the same way.
 */
import {
  apiErrorSchema,
  CHANNEL_PATTERN,
  INGEST_ASSIGN_PATH,
  ingestAssignmentSchema,
  type CreatedStreamKey,
  type RevokeResult,
  type StreamKeyInfo,
  whipUrl,
} from '../../appliance/contract/index.js'
import {runAdmin} from '../admin/run-admin.js'
import {fetchInWeb} from '../admin/web-exec.js'
import {loadConfig} from '../config/load.js'
import type {Engine} from '../engine/engine.js'
import {AbortError, errorMessage} from '../errors.js'
import {publicUrl, siteRtmpUrl} from '../stack/plan.js'

export interface CreateStreamKeyResult extends CreatedStreamKey {
  /** OBS "Server": the assigned ingest, or the configured public RTMP URL when none is free now. */
  server: string
  /** OBS 30+'s WHIP "Server" for the channel (the key is its Bearer Token): docs/whip.md. */
  whipUrl: string
  /** The ingest chosen, when the assignment answered. */
  ingestId?: string
  /** Why the server is the configured one. */
  note?: string
}

export interface ListStreamKeysResult {
  keys: StreamKeyInfo[]
}

export type RevokeStreamKeysResult = RevokeResult

/** Checked here too, so a typo is named before anything is asked of the stack. */
function checkChannel(channel: string): void {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new AbortError(`invalid channel name ${JSON.stringify(channel)}`, ['Use 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit'])
  }
}

export async function createStreamKey(engine: Engine, dir: string, channel: string): Promise<CreateStreamKeyResult> {
  checkChannel(channel)
  const {config} = await loadConfig(dir)
  const created = await runAdmin(engine, 'stream-key.create', {channel})
  const fallback = siteRtmpUrl(config)
  const whip = whipUrl(publicUrl(config), channel)
  try {
    const {status, body} = await fetchInWeb(engine, INGEST_ASSIGN_PATH)
    const json: unknown = JSON.parse(body)
    if (status === 200) {
      const assignment = ingestAssignmentSchema.parse(json)
      return {...created, server: assignment.rtmpUrl, whipUrl: whip, ingestId: assignment.ingestId}
    }
    const refusal = apiErrorSchema.safeParse(json).data
    const reason = refusal?.message ?? refusal?.error ?? `${INGEST_ASSIGN_PATH} answered ${status}`
    return {...created, server: fallback, whipUrl: whip, note: reason}
  } catch (error) {
    // The key exists now and is shown only once: never lose it to a failed assignment.
    return {...created, server: fallback, whipUrl: whip, note: `could not ask for an ingest: ${errorMessage(error)}`}
  }
}

export async function listStreamKeys(engine: Engine, channel?: string): Promise<ListStreamKeysResult> {
  if (channel !== undefined) checkChannel(channel)
  return {keys: await runAdmin(engine, 'stream-key.list', channel === undefined ? {} : {channel})}
}

export async function revokeStreamKeys(engine: Engine, channel: string, keyId?: string): Promise<RevokeStreamKeysResult> {
  checkChannel(channel)
  return runAdmin(engine, 'stream-key.revoke', {channel, ...(keyId === undefined ? {} : {keyId})})
}
