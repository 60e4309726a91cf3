/**
 * Asking an SFU process (contract: SFU_RPC_PATH): the web for the browsers in calls, the ingest
 * for its WHIP sessions. The token both sides derive from the stream-key secret says the caller
 * is one of the site's components.
 */
import {SFU_RPC_PATH, type CallAck, type CallMethod, type RegistryRecord, type SfuRpc} from '../contract/index.js'

/** The SFU did not answer at all (down, or its record outlived it): another one may. */
export class SfuUnreachable extends Error {}

/** The SFU answered with something other than an ack: it refused the token (a different secret). */
export class SfuRefused extends Error {}

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host)

/** Sends one request; resolves with the SFU's ack (a refusal is an ack too), throws when there is none. */
export async function askSfu<M extends CallMethod = CallMethod>(sfu: Pick<RegistryRecord, 'id' | 'host'> & {ports: {http?: number}}, token: string, body: SfuRpc, timeoutMs = 10_000): Promise<CallAck<M>> {
  let response: Response
  try {
    response = await fetch(`http://${urlHost(sfu.host)}:${sfu.ports.http}${SFU_RPC_PATH}`, {
      method: 'POST',
      headers: {'content-type': 'application/json', authorization: `Bearer ${token}`},
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (error) {
    throw new SfuUnreachable(`${sfu.id}: ${(error as Error).message}`, {cause: error})
  }
  if (response.status === 401) throw new SfuRefused(`${sfu.id} refused the token: is the stream-key secret the same on every component?`)
  if (response.status !== 200) throw new SfuRefused(`${sfu.id} answered HTTP ${response.status}: ${(await response.text().catch(() => '')).slice(0, 200)}`)
  return (await response.json()) as CallAck<M>
}
