/**
 * Talking to the running stack from the CLI without publishing any port: run a command inside a
 * web container on this box (it has the overlay network, the environment and the secrets).
 */
import {z} from 'zod'

import {componentPorts} from '../../appliance/contract/index.js'
import type {Engine, ExecResult} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {dockerName, labels, STACK} from '../stack/names.js'

/** Runs cmd (argv, no shell) in the first running web container of the stack on this box. */
export async function execInWeb(engine: Engine, cmd: string[]): Promise<ExecResult> {
  const [first] = await engine.listContainers({labels: {[labels.component]: 'web', [labels.stack]: STACK}, running: true})
  if (first === undefined) {
    throw new AbortError(`no running ${dockerName('web')} container on this box`, ['Start the stack: shing up', 'See what runs: shing status'])
  }
  return engine.exec(first.id, cmd)
}

const webResponseSchema = z.object({status: z.number(), body: z.string()})
export type WebResponse = z.infer<typeof webResponseSchema>

/** GET a path of the web API from inside a web container (node's fetch: the image has no curl). */
export async function fetchInWeb(engine: Engine, apiPath: string): Promise<WebResponse> {
  const url = `http://127.0.0.1:${componentPorts.web.http}${apiPath}`
  const script = `fetch(${JSON.stringify(url)}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}))).catch(e=>{console.error(e.message);process.exit(1)})`
  const result = await execInWeb(engine, ['node', '-e', script])
  if (result.exitCode !== 0) throw new Error(`GET ${apiPath} in the web container failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`)
  return webResponseSchema.parse(JSON.parse(result.stdout))
}
